"""pytest plugin: jwst 3.0.0's own rscd tests, run against rscd.

Loaded with ``-p jwst_routing`` (this folder on PYTHONPATH) while running the tests that
ship inside the installed jwst (``--pyargs jwst.rscd.tests.test_rscd
jwst.rscd.tests.test_rscd_step``); nothing of them is copied here. For every test:

* ``correction_skip_groups``, jwst's flagging routine, is replaced by :func:`flag_model`
  (rscd.apply_model) both in ``jwst.rscd.rscd_sub`` and under the name
  ``test_rscd.py`` imported it by;
* ``RscdStep`` in ``test_rscd_step.py`` is our ``rscd.step.RscdFastStep``.

At the end a line ``rscd routing: flag_model=N RscdFastStep=M`` says how often each ran,
so a caller can check the routing took place.
"""
import sys

import pytest

CALLS = {"flag_model": 0, "RscdFastStep": 0}


def flag_model(output, group_skip_int1, group_skip_int2p):
    """What ``correction_skip_groups(output, skip1, skip2p)`` does, done by rscd: the model's
    arrays and meta.cal_step / meta.rscd as the pipeline leaves them; returns the model."""
    import rscd
    from rscd.reference import canonical_subarray

    CALLS["flag_model"] += 1
    meta = output.meta
    # The one-row table the pipeline would have found for this exposure.
    row = rscd.SkipRow(canonical_subarray(meta.subarray.name), str(meta.exposure.readpatt),
                       group_skip_int1, group_skip_int2p)
    ref_name = meta.ref_file.rscd.name            # the routine itself never sets it
    rscd.apply_model(output, rscd.Reference(name="routed", skip_rows=(row,)), method="flag")
    meta.ref_file.rscd.name = ref_name
    return output


def _counting_step():
    from rscd.step import RscdFastStep

    class CountingRscdFastStep(RscdFastStep):
        """RscdFastStep, counted each time it processes a model."""

        def process(self, step_input):
            CALLS["RscdFastStep"] += 1
            return super().process(step_input)

    return CountingRscdFastStep


@pytest.fixture(autouse=True)
def _route_jwst_rscd_to_rscd(monkeypatch):
    import jwst.rscd.rscd_sub

    monkeypatch.setattr(jwst.rscd.rscd_sub, "correction_skip_groups", flag_model)
    module = sys.modules.get("jwst.rscd.tests.test_rscd")
    if module is not None:
        monkeypatch.setattr(module, "correction_skip_groups", flag_model)
    module = sys.modules.get("jwst.rscd.tests.test_rscd_step")
    if module is not None:
        monkeypatch.setattr(module, "RscdStep", _counting_step())


def pytest_terminal_summary(terminalreporter):
    terminalreporter.write_line("rscd routing: " + " ".join(f"{k}={v}" for k, v in CALLS.items()))
