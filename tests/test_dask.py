"""rscd.dask: the blockwise correction equals rscd.apply on the whole arrays, for any
chunking, including flag's global back-off stop; file round trip; dask.distributed."""
import os
import warnings

import numpy as np
import pytest

da = pytest.importorskip("dask.array", reason="dask is not installed (pip install "
                                               "\"rscd[dask]\" to run the dask tests)")
import dask  # noqa: E402

import rscd  # noqa: E402
import rscd.dask as rdask  # noqa: E402
from rscd.correct import DeprecatedReferenceWarning  # noqa: E402
from rscd.reference import MeasuredRow  # noqa: E402
from fitsfiles import (SATURATED, decay_reference, flag_reference, ramp_arrays,  # noqa: E402
                       write_astropy)

CHUNKINGS = [
    (7, 5),                 # blocks starting on rows 0, 7 (even offset)
    (4, -1),                # whole rows
    (1, 2),                 # one row per block
    ((3, 4, 5), (10,)),     # irregular: first rows 0, 3, 7
]


@pytest.fixture(scope="module")
def refs(tmp_path_factory):
    d = tmp_path_factory.mktemp("refs")
    j = np.arange(4)
    measured = tuple(MeasuredRow("FULL", "FAST", kind, parity, 3,
                                 a=(0.3 + 0.2 * p) * np.exp(-(j + 1) / 2.0),
                                 b=(20.0 - 35.0 * p) * np.exp(-(j + 1) / 1.5))
                     for kind in ("1", "2+") for p, parity in enumerate(("EVEN", "ODD")))
    return {"flag": rscd.read_reference(flag_reference(str(d / "f.fits"))),
            "decay": rscd.read_reference(decay_reference(str(d / "d.fits"))),
            "measured": rscd.Reference("m", measured_rows=measured)}


def _dask(data, gdq, pdq, chunks):
    rows, cols = chunks
    return (da.from_array(data, chunks=(-1, -1, rows, cols)),
            da.from_array(gdq, chunks=(-1, -1, rows, cols)),
            da.from_array(pdq, chunks=(rows, cols)))


def _both(arrays, ref, chunks, **kw):
    data, gdq, pdq = (a.copy() for a in arrays)
    want = rscd.apply(data, gdq, pdq, ref, readpatt="FAST", subarray="FULL", **kw)
    out = rdask.apply(*_dask(*arrays, chunks), ref, readpatt="FAST", subarray="FULL", **kw)
    got = rdask.compute(out, scheduler="threads")
    return (data, gdq, pdq, want), got


def _assert_same(want, got):
    for w, g in zip(want[:3], got[:3]):
        assert g.dtype.newbyteorder("=") == w.dtype.newbyteorder("=")
        np.testing.assert_array_equal(g, w)
    assert got[3] == want[3]


@pytest.mark.parametrize("chunks", CHUNKINGS)
@pytest.mark.parametrize("method", ["flag", "decay", "measured"])
@pytest.mark.parametrize("ystart", [1, 2])
def test_equals_apply(refs, chunks, method, ystart):
    arrays = ramp_arrays(nints=4, ngroups=8, nrows=12, ncols=10, seed=7)
    arrays = (arrays[0].astype(">f4"),) + arrays[1:]          # as memory-mapped from FITS
    want, got = _both(arrays, refs[method], chunks, ystart=ystart)
    _assert_same(want, got)
    if method != "flag":
        assert got[0].dtype == np.float32                     # new blocks: native order
        assert want[3].npix_corrected > 0
        assert want[3].method == method
    else:
        assert want[3].keep_groups_saturation_int2p > 0


def _nonmonotone(nrows=12, ncols=10):
    """GROUPDQ where block-local back-off stops differ from the global stop.

    skip2p = 3: levels 4, 3, 2, 1. Pixel (0, 0) (top block) has SATURATED in groups
    4 and 3 only; pixel (11, 9) (bottom block) in group 2 only. Globally levels 4 and 3
    have problems and the back-off reaches level 2 (pixel (11, 9) backed off), stopping
    at level 1. The bottom block alone has no problem at level 4 and stops at once.
    """
    data, gdq, pdq = ramp_arrays(nints=3, ngroups=9, nrows=nrows, ncols=ncols, seed=2)
    gdq &= ~np.uint8(SATURATED)
    gdq[1:, 4, 0, 0] |= SATURATED
    gdq[1:, 3, 0, 0] |= SATURATED
    gdq[2, 2, nrows - 1, ncols - 1] |= SATURATED
    return data, gdq, pdq


def test_flag_global_backoff_stop(refs):
    arrays = _nonmonotone()
    chunks = (6, 5)
    want, got = _both(arrays, refs["flag"], chunks)
    _assert_same(want, got)
    assert want[3].keep_groups_saturation_int2p == 2
    # a naive per-block run (each block its own rscd.apply) is not the same
    _, gdq, pdq = (a.copy() for a in arrays)
    for y in (slice(0, 6), slice(6, 12)):
        for x in (slice(0, 5), slice(5, 10)):
            g, p = np.ascontiguousarray(gdq[:, :, y, x]), np.ascontiguousarray(pdq[y, x])
            rscd.apply(np.zeros(g.shape, np.float32), g, p, refs["flag"], readpatt="FAST",
                       subarray="FULL")
            gdq[:, :, y, x], pdq[y, x] = g, p
    assert not np.array_equal(gdq, want[1])


SKIP_ROWS = [(None, 3), (-1, 3), (-7, 2), (0, 0), (2**70, 2**64), (5, 1),
             (np.int32(2), np.int64(3))]


@pytest.mark.parametrize("skips", SKIP_ROWS, ids=str)
@pytest.mark.parametrize("nints_file, ngroups", [(3, 9), (2, 5), (1, 4)])
def test_reference_rows_give_apply_s_result(skips, nints_file, ngroups):
    """Regression (issue 15.9): rscd.dask had its own copy of the skip rules; with a
    SkipRow whose skip_int1 is None, rscd.apply corrected and rscd.dask.apply raised
    TypeError. Both now follow rscd.correct.flag_plan."""
    assert rdask.flag_plan is rscd.correct.flag_plan
    ref = rscd.Reference(name="r", skip_rows=(rscd.SkipRow("FULL", "FAST", *skips),))
    arrays = ramp_arrays(nints=nints_file, ngroups=ngroups, nrows=9, ncols=7, seed=ngroups)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.simplefilter("ignore", DeprecatedReferenceWarning)  # skip_int1 < 0: asserted below
        want, got = _both(arrays, ref, (4, 3))
    _assert_same(want, got)
    assert want[3].status == "COMPLETE"
    if skips[0] is None or skips[0] < 0:
        assert want[3].ngroups_skip_int1 == min(1, ngroups - 3)
        with pytest.warns(DeprecatedReferenceWarning, match="deprecated form"):
            rdask.apply(*_dask(*arrays, (4, 3)), ref, readpatt="FAST", subarray="FULL")


@pytest.mark.parametrize("nints, start", [(1, 1), (2, 1), (0, 1), (1, 3), (26, 25)])
def test_nints_smaller_than_the_arrays_gives_apply_s_result(refs, nints, start):
    """Regression (issue 14.1): NINTS below INTSTART - 1 + the integrations held was a
    ValueError in both; jwst uses it as given (only NINTS > 1 matters)."""
    arrays = _nonmonotone()
    want, got = _both(arrays, refs["flag"], (5, 4), nints=nints, integration_start=start)
    _assert_same(want, got)
    assert (want[3].ngroups_skip_int2p is None) == (nints <= 1)
    assert (want[3].ngroups_skip_int1 is None) == (start > 1)


def test_flag_kernel_runs_once_per_block(refs, monkeypatch):
    calls = []
    original = rdask._flag_block

    def counting(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(rdask, "_flag_block", counting)
    arrays = ramp_arrays(nints=3, ngroups=8, nrows=12, ncols=10, seed=1)
    out = rdask.apply(*_dask(*arrays, (6, 5)), refs["flag"], readpatt="FAST",
                      subarray="FULL")
    rdask.compute(out, scheduler="threads")
    assert len(calls) == 4


def test_segment_previous(refs):
    data, gdq, pdq = ramp_arrays(nints=5, ngroups=7, nrows=10, ncols=8, seed=4)
    whole = data.copy()
    rscd.apply(whole, gdq.copy(), pdq.copy(), refs["decay"], readpatt="FAST",
               subarray="FULL")
    seg = (data[2:].copy(), gdq[2:].copy(), pdq)
    out = rdask.apply(*_dask(*seg, (3, 4)), refs["decay"], readpatt="FAST", subarray="FULL",
                      integration_start=3, nints=5, previous=(data[1], gdq[1]))
    sci, _, _, res = rdask.compute(out, scheduler="threads")
    np.testing.assert_array_equal(sci, whole[2:])
    assert res.first_int_left is False and res.nints_corrected == 3


def test_chunked_along_integrations(refs):
    arrays = ramp_arrays(nints=4, ngroups=8, nrows=8, ncols=8)
    sci = da.from_array(arrays[0], chunks=(2, -1, 4, 4))
    gdq = da.from_array(arrays[1], chunks=(-1, 4, 4, 4))
    with pytest.raises(ValueError, match=r"chunked along nints or ngroups.*rechunk"):
        rdask.apply(sci, gdq, arrays[2], refs["decay"], readpatt="FAST", subarray="FULL")
    out = rdask.apply(sci, gdq, arrays[2], refs["decay"], readpatt="FAST", subarray="FULL",
                      rechunk=True)
    want = arrays[0].copy()
    rscd.apply(want, arrays[1].copy(), arrays[2].copy(), refs["decay"], readpatt="FAST",
               subarray="FULL")
    np.testing.assert_array_equal(rdask.compute(out)[0], want)


def test_guards_and_skips(refs):
    data, gdq, pdq = _dask(*ramp_arrays(nints=2, ngroups=6, nrows=6, ncols=6), (3, 3))
    with pytest.raises(TypeError, match="uint8"):
        rdask.apply(data, data, pdq, refs["flag"], readpatt="FAST", subarray="FULL")
    with pytest.raises(ValueError, match="pixeldq has shape"):
        rdask.apply(data, gdq, pdq[:3], refs["flag"], readpatt="FAST", subarray="FULL")
    with pytest.warns(rscd.RSCDWarning, match="READPATT=SLOW"):
        out = rdask.apply(data, gdq, pdq, refs["flag"], readpatt="SLOW", subarray="FULL")
    assert out.sci is data and out.groupdq is gdq and out.stats is None
    assert rdask.compute(out)[3].status == "SKIPPED"
    out = rdask.apply(data, gdq, pdq, refs["flag"], readpatt="FAST", subarray="FULL",
                      detector="NRCA1")
    assert rdask.compute(out)[3].reason.startswith("only for MIRI")


def test_store_into_memmaps(refs, tmp_path):
    arrays = ramp_arrays(nints=3, ngroups=8, nrows=12, ncols=10, seed=5)
    data, gdq, pdq = (a.copy() for a in arrays)
    want = rscd.apply(data, gdq, pdq, refs["flag"], readpatt="FAST", subarray="FULL")
    g_mm = np.memmap(tmp_path / "g.bin", dtype=np.uint8, mode="w+", shape=gdq.shape)
    p_mm = np.memmap(tmp_path / "p.bin", dtype=np.uint32, mode="w+", shape=pdq.shape)
    out = rdask.apply(*_dask(*arrays, (5, 5)), refs["flag"], readpatt="FAST",
                      subarray="FULL")
    res = rdask.store(out, groupdq=g_mm, pixeldq=p_mm, scheduler="threads")
    assert res == want
    np.testing.assert_array_equal(g_mm, gdq)
    np.testing.assert_array_equal(p_mm, pdq)


def _file_case(tmp_path, name, method, refs):
    arrays = ramp_arrays(nints=3, ngroups=8, nrows=14, ncols=12, seed=6)
    a = write_astropy(str(tmp_path / f"a_{name}.fits"), *arrays)
    b = write_astropy(str(tmp_path / f"b_{name}.fits"), *arrays)
    want = rscd.apply_file(a, refs[method], inplace=True)
    return a, b, want


@pytest.mark.parametrize("method", ["flag", "decay"])
def test_apply_file_is_deprecated_and_corrects_as_rscd_apply_file(refs, tmp_path, method):
    """rscd.dask.apply_file (issue 16): a deprecated wrapper of rscd.apply_file(...,
    inplace=True); old arguments (chunks, scheduler) are still accepted."""
    a, b, want = _file_case(tmp_path, method, method, refs)
    with pytest.warns(DeprecationWarning, match=r"rscd.apply_file\(path, reference, "
                      r"inplace=True\)"):
        got = rdask.apply_file(b, refs[method], chunks=(5, 7), scheduler="threads")
    assert got == want
    _same_hdus(a, b)
    if method == "decay":
        with pytest.warns(DeprecationWarning), \
                pytest.raises(rscd.RampFileError, match="COMPLETE"):
            rdask.apply_file(b, refs[method])


@pytest.mark.parametrize("method", ["flag", "decay"])
def test_open_file_is_deprecated_and_still_reads_and_writes_the_file(refs, tmp_path, method):
    """rscd.dask.open_file (issue 16): deprecated; its arrays, keywords and targets still
    give the corrected data (the keywords are rscd.apply_file's job)."""
    a, b, want = _file_case(tmp_path, method, method, refs)
    with pytest.warns(DeprecationWarning, match="rscd.dask.open_file is deprecated"):
        sci, gdq, pdq, meta, targets = rdask.open_file(b, chunks=(5, 7))
    assert meta["readpatt"] == "FAST" and sci.chunksize[2:] == (5, 7)
    out = rdask.apply(sci, gdq, pdq, refs[method], **meta)
    kept = {"decay": dict(sci=targets[0]),
            "flag": dict(groupdq=targets[1], pixeldq=targets[2])}[method]
    assert rdask.store(out, **kept, scheduler="threads") == want
    del sci, gdq, pdq, targets, out
    from astropy.io import fits
    with fits.open(a) as ha, fits.open(b) as hb:
        for ext in ("SCI", "GROUPDQ", "PIXELDQ"):
            np.testing.assert_array_equal(ha[ext].data, hb[ext].data, err_msg=ext)


def _same_hdus(a, b):
    from astropy.io import fits
    with fits.open(a) as ha, fits.open(b) as hb:
        for x, y in zip(ha, hb):
            if x.data is not None:
                np.testing.assert_array_equal(x.data, y.data)
        ka = {k: v for k, v in ha[0].header.items() if k != "HISTORY"}
        kb = {k: v for k, v in hb[0].header.items() if k != "HISTORY"}
        assert ka == kb


@pytest.fixture(scope="module")
def client():
    distributed = pytest.importorskip("distributed", reason="dask.distributed is not "
                                      "installed (pip install distributed)")
    with dask.config.set({"distributed.worker.daemon": False}):
        cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1,
                                           processes=True, dashboard_address=":0",
                                           silence_logs=50)
    with cluster, distributed.Client(cluster) as c:
        yield c


@pytest.mark.slow  # a local cluster of worker processes
@pytest.mark.parametrize("method", ["flag", "decay"])
def test_distributed_two_process_workers(refs, client, tmp_path, method):
    """Unchanged on a LocalCluster of 2 process workers: arrays; and the deprecated
    rscd.dask.apply_file, which corrects the file with rscd.apply_file."""
    arrays = ramp_arrays(nints=3, ngroups=8, nrows=16, ncols=12, seed=8)
    data, gdq, pdq = (a.copy() for a in arrays)
    want = rscd.apply(data, gdq, pdq, refs[method], readpatt="FAST", subarray="FULL")
    out = rdask.apply(*_dask(*arrays, (5, 6)), refs[method], readpatt="FAST",
                      subarray="FULL")
    got = rdask.compute(out)              # the client is the default scheduler
    _assert_same((data, gdq, pdq, want), got)
    # two worker processes, neither this one. client.run asks each worker and raises
    # when it cannot; scheduler_info() returned its cached, empty worker list when the
    # scheduler was slow to answer on a loaded machine (a CI run failed so)
    pids = client.run(os.getpid)
    assert len(pids) == 2 and os.getpid() not in pids.values()

    a, b, want = _file_case(tmp_path, "dist", method, refs)
    with pytest.warns(DeprecationWarning):
        assert rdask.apply_file(b, refs[method], chunks=(4, 12)) == want
    _same_hdus(a, b)
