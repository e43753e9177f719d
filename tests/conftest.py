"""Fixtures shared by the test modules."""
import signal

import pytest

# Tests send Ctrl-C (SIGINT) to this process and to the processes they start. A pytest
# started where SIGINT is ignored (a background job of a script, some CI runners) would
# hand "ignored" on to every child, and no Ctrl-C test could see an interrupt: give this
# process Python's own handler, which the children then start from as usual.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(params=["vector", "portable"])
def code_path(request, monkeypatch):
    """Run a test through the core's AVX2 code (where this CPU has it) and through its
    portable C: rscd._core.use_vector (rscd_params.use_vector of every call; RSCD_NO_VECTOR
    sets it at import) turns the AVX2 code off. The two must give identical results."""
    if request.param == "portable":
        from rscd import _core
        monkeypatch.setattr(_core, "use_vector", False)
    return request.param


@pytest.fixture
def both_code_paths(monkeypatch):
    """The code_path fixture's two settings inside one test, for tests whose expected
    result is costly (jwst's): iterate it and run the body once per path."""
    def paths():
        yield "vector"
        from rscd import _core
        monkeypatch.setattr(_core, "use_vector", False)
        yield "portable"
    return paths()


@pytest.fixture
def shared_dir():
    """A folder that an unprivileged child (children.run_unprivileged) can use: tmp_path
    is root's own (mode 0700) when the tests run as root."""
    import os
    import shutil
    import tempfile
    folder = tempfile.mkdtemp(prefix="rscd-shared-")
    os.chmod(folder, 0o777)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)
