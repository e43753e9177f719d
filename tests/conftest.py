"""Fixtures shared by the test modules."""
import pytest


@pytest.fixture(params=["vector", "portable"])
def code_path(request, monkeypatch):
    """Run a test through the core's AVX2 code (where this CPU has it) and through its
    portable C: rscd._core.use_vector (rscd_params.use_vector of every call; RSCD_NO_VECTOR
    sets it at import) turns the AVX2 code off. The two must give identical results."""
    if request.param == "portable":
        from rscd import _core
        monkeypatch.setattr(_core, "use_vector", False)
    return request.param
