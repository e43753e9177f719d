"""From `rscd diagnose` to `--method measured` on the independent simulator
(tests/simulate_rscd.py): the reference that diagnose writes carries the measured
transient (RSCD_MEASURED) beside the skips, and an exposure corrected with it, diagnosed
again, needs no group flagged."""
import numpy as np
import pytest

import rscd
from simulate_rscd import CASES, independent_exposure


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_corrected_exposure_needs_no_skip(case, tmp_path):
    data, gdq, pdq, _ = independent_exposure(case)
    d = rscd.diagnose(data, gdq, pdq, subarray="FULL", readpatt="FAST")
    ref_path = tmp_path / "measured_rscd.fits"
    d.write_reference(ref_path)
    ref = rscd.read_reference(str(ref_path))
    model = ref.lookup("FAST", "FULL", "measured")
    assert model is not None and model.int1_odd is not None and model.int2p_even is not None
    before = data.copy()
    res = rscd.apply(data, gdq, pdq, ref, readpatt="FAST", subarray="FULL", method="measured")
    assert res.status == "COMPLETE" and res.method == "measured"
    if case.int2p is not None:
        assert not np.array_equal(before, data)
    again = rscd.diagnose(data, gdq, pdq).results[0]
    for kind in ("int1", "int2p"):
        prof = getattr(again, kind)
        assert prof.recommended_skip is not None and prof.recommended_skip <= 1, (
            kind, prof.recommended_skip, prof.total[:6])
