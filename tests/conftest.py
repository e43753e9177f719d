"""Fixtures shared by the test modules."""
import pytest


@pytest.fixture(params=["vector", "portable"])
def code_path(request, monkeypatch):
    """Run a test through the core's AVX2 code (where this CPU has it) and through its
    portable C: RSCD_NO_VECTOR, read by the C core at each call, turns the AVX2 code off.
    The two must give identical results."""
    if request.param == "portable":
        monkeypatch.setenv("RSCD_NO_VECTOR", "1")
    return request.param
