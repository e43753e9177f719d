"""Reading and writing both reference-file forms; malformed files are errors."""
import numpy as np
import pytest
from astropy.io import fits

import rscd
from rscd.reference import DECAY_PARAMETERS, DecayCoeffs, DecayRow, SkipRow


def coeffs(**over):
    values = dict(tau=3.0, ascale=0.1, pow=1.0, illum_zp=1.0, illum_slope=0.01, illum2=0.0,
                  param3=2e4, crossopt=100.0, sat_zp=0.5, sat_slope=0.0, sat_2=0.0,
                  sat_mzp=0.0, sat_rowterm=0.0, sat_scale=1e-4)
    values.update(over)
    return DecayCoeffs(**values)


def test_flag_form_round_trip_first_match_and_aliases(tmp_path):
    path = tmp_path / "ref.fits"
    rscd.write_flag_reference(path, [("FULL", "FAST", 1, 2), ("FULL", "FAST", 5, 5),
                                     ("SLITLESSPRISM", "SLOW", 0, 3)])
    ref = rscd.read_reference(path)
    assert ref.default_method() == "flag" and ref.detector == "MIRIMAGE"
    assert ref.lookup("FAST", "FULL") == SkipRow("FULL", "FAST", 1, 2)   # first match wins
    assert ref.lookup("SLOW", "subprism").skip_int2p == 3                # alias, data side
    assert ref.lookup("SLOW", "SUBPRISM").skip_int2p == 3
    assert ref.lookup("FAST  ", "FULL ").skip_int1 == 1                  # trailing blanks
    assert ref.lookup("FASTR1", "FULL") is None
    with pytest.raises(rscd.ReferenceFileError, match="no RSCD table"):
        ref.lookup("FAST", "FULL", "decay")


def test_flag_form_without_group_skip1(tmp_path):
    path = tmp_path / "old.fits"
    rscd.write_flag_reference(path, [("FULL", "FAST", -1, 2)])
    with fits.open(path) as hdul:
        assert "group_skip1" not in [c.name for c in hdul["RSCD_GROUP_SKIP"].columns]
    assert rscd.read_reference(path).lookup("FAST", "FULL").skip_int1 == -1


def test_upper_case_columns_and_padded_strings(tmp_path):
    path = tmp_path / "upper.fits"
    cols = [fits.Column("SUBARRAY", "20A", array=["FULL    "]),
            fits.Column("READPATT", "10A", array=["FAST  "]),
            fits.Column("GROUP_SKIP1", "I", array=[2]), fits.Column("GROUP_SKIP", "K", array=[4])]
    fits.HDUList([fits.PrimaryHDU(), fits.BinTableHDU.from_columns(
        cols, name="RSCD_GROUP_SKIP")]).writeto(path)
    assert rscd.read_reference(path).lookup("FAST", "FULL") == SkipRow("FULL", "FAST", 2, 4)


def test_decay_form_round_trip(tmp_path):
    path = tmp_path / "decay.fits"
    row = DecayRow("FULL", "FAST", coeffs(tau=2.0), coeffs(tau=5.0))
    rscd.write_decay_reference(path, [row])
    ref = rscd.read_reference(path)
    assert ref.default_method() == "decay"
    assert ref.lookup("FAST", "FULL") == row


def write_table(path, extname, columns):
    fits.HDUList([fits.PrimaryHDU(), fits.BinTableHDU.from_columns(
        columns, name=extname)]).writeto(path, overwrite=True)


def decay_columns(rows=("EVEN", "ODD"), **over):
    n = len(rows)
    cols = [fits.Column("SUBARRAY", "8A", array=["FULL"] * n),
            fits.Column("READPATT", "8A", array=["FAST"] * n),
            fits.Column("ROWS", "4A", array=list(rows))]
    for name, value in coeffs(**over).as_dict().items():
        cols.append(fits.Column(name.upper(), "D", array=[value] * n))
    return cols


@pytest.mark.parametrize("make, message", [
    (lambda p: p.write_bytes(b"this is not a FITS file" * 200), "not a readable FITS"),
    (lambda p: p.write_bytes(b""), "not a readable FITS"),
    (lambda p: fits.PrimaryHDU().writeto(p), "no RSCD_GROUP_SKIP or RSCD table"),
    (lambda p: fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(np.zeros(3), name="RSCD")]
                            ).writeto(p), "not a binary table"),
    (lambda p: write_table(p, "RSCD_GROUP_SKIP", [fits.Column("subarray", "8A", array=["FULL"]),
                                                  fits.Column("readpatt", "8A", array=["FAST"])]),
     "lacks column.*group_skip"),
    (lambda p: write_table(p, "RSCD_GROUP_SKIP", [fits.Column("subarray", "8A", array=["FULL"]),
                                                  fits.Column("readpatt", "8A", array=["FAST"]),
                                                  fits.Column("group_skip", "E", array=[1.5])]),
     "group_skip of RSCD_GROUP_SKIP must hold integers"),
    (lambda p: write_table(p, "RSCD_GROUP_SKIP", [fits.Column("subarray", "J", array=[1]),
                                                  fits.Column("readpatt", "8A", array=["FAST"]),
                                                  fits.Column("group_skip", "J", array=[1])]),
     "subarray of RSCD_GROUP_SKIP must hold strings"),
    (lambda p: write_table(p, "RSCD_GROUP_SKIP", [fits.Column("subarray", "8A", array=["FULL"]),
                                                  fits.Column("readpatt", "8A", array=["FAST"]),
                                                  fits.Column("group_skip", "J", array=[-2])]),
     "group_skip = -2"),
    (lambda p: write_table(p, "RSCD", decay_columns(rows=("EVEN",))), "EVEN row .* no ODD row"),
    (lambda p: write_table(p, "RSCD", decay_columns(rows=("ODD", "ODD"))), "no EVEN row"),
    (lambda p: write_table(p, "RSCD", decay_columns(rows=("EVEN", "BOTH"))), "expected EVEN or ODD"),
    (lambda p: write_table(p, "RSCD", decay_columns(tau=0.0)), "TAU = 0.0"),
    (lambda p: write_table(p, "RSCD", decay_columns(tau=-3.0)), "TAU = -3.0"),
    (lambda p: write_table(p, "RSCD", decay_columns(param3=np.nan)), "PARAM3 = nan"),
    (lambda p: write_table(p, "RSCD", decay_columns()[:-1]), "lacks column.*sat_scale"),
])
def test_malformed_reference_files_raise(tmp_path, make, message):
    path = tmp_path / "bad.fits"
    make(path)
    with pytest.raises(rscd.ReferenceFileError, match=message) as info:
        rscd.read_reference(path)
    assert str(path) in str(info.value)


def test_truncated_reference_file(tmp_path):
    good = tmp_path / "good.fits"
    rscd.write_flag_reference(good, [("FULL", "FAST", 1, 2)])
    bad = tmp_path / "truncated.fits"
    bad.write_bytes(good.read_bytes()[:4000])
    with pytest.raises(rscd.ReferenceFileError, match="truncated.fits"):
        rscd.read_reference(bad)


def test_missing_file_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        rscd.read_reference(tmp_path / "nope.fits")


def test_writer_refuses_to_overwrite(tmp_path):
    path = tmp_path / "ref.fits"
    rscd.write_flag_reference(path, [("FULL", "FAST", 1, 2)])
    with pytest.raises(FileExistsError):
        rscd.write_flag_reference(path, [("FULL", "FAST", 1, 3)])
    rscd.write_flag_reference(path, [("FULL", "FAST", 1, 3)], overwrite=True)
    assert rscd.read_reference(path).lookup("FAST", "FULL").skip_int2p == 3


def test_every_decay_parameter_is_read(tmp_path):
    path = tmp_path / "decay.fits"
    even = DecayCoeffs(**{n: float(i + 1) for i, n in enumerate(DECAY_PARAMETERS)})
    odd = DecayCoeffs(**{n: float(i + 100) for i, n in enumerate(DECAY_PARAMETERS)})
    rscd.write_decay_reference(path, [DecayRow("FULL", "SLOW", even, odd)])
    row = rscd.read_reference(path).lookup("SLOW", "FULL")
    assert row.even == even and row.odd == odd


@pytest.mark.parametrize("position", [0, 1, 2])
def test_subprism_table_rows_are_kept_as_spelled(tmp_path, position):
    """Regression (issue 14.2): a table row spelled SUBPRISM was renamed SLITLESSPRISM and
    matched; jwst 3.0.0 renames only the exposure's name, so such a row matches nothing,
    wherever it stands, and a later SLITLESSPRISM row is the one used."""
    rows = [("FULL", "FAST", 1, 2), ("SLITLESSPRISM", "FAST", 3, 4)]
    rows.insert(position, ("SUBPRISM", "FAST", 7, 8))
    path = tmp_path / "ref.fits"
    rscd.write_flag_reference(path, rows)
    ref = rscd.read_reference(path)
    assert [r.subarray for r in ref.skip_rows] == [r[0] for r in rows]
    for name in ("SLITLESSPRISM", "SUBPRISM", "subprism"):
        assert ref.lookup("FAST", name) == SkipRow("SLITLESSPRISM", "FAST", 3, 4)
    only_old = rscd.Reference(name="r", skip_rows=(SkipRow("SUBPRISM", "FAST", 7, 8),))
    assert only_old.lookup("FAST", "SUBPRISM") is None
    assert only_old.lookup("FAST", "SLITLESSPRISM") is None


def test_decay_table_subprism_rows_are_kept_as_spelled(tmp_path):
    path = tmp_path / "decay.fits"
    rscd.write_decay_reference(path, [DecayRow("SUBPRISM", "FAST", coeffs(), coeffs())])
    ref = rscd.read_reference(path)
    assert ref.decay_rows[0].subarray == "SUBPRISM"
    assert ref.lookup("FAST", "SUBPRISM", "decay") is None


@pytest.mark.parametrize("args, error, message", [
    (("FULL", "FAST", 1, None), TypeError, "SkipRow.skip_int2p must be an integer, not NoneType"),
    (("FULL", "FAST", 1, "2"), TypeError, "SkipRow.skip_int2p must be an integer, not str"),
    (("FULL", "FAST", 1.0, 2), TypeError, "SkipRow.skip_int1 must be an integer or None"),
    (("FULL", "FAST", True, 2), TypeError, "SkipRow.skip_int1 must be an integer or None"),
    (("FULL", "FAST", 1, np.float32(2)), TypeError, "skip_int2p must be an integer"),
    (("FULL", "FAST", 1, -1), ValueError, r"SkipRow.skip_int2p must be >= 0 \(.*\), not -1"),
    ((b"FULL", "FAST", 1, 2), TypeError, "SkipRow.subarray must be a str, not bytes"),
    (("FULL", None, 1, 2), TypeError, "SkipRow.readpatt must be a str"),
])
def test_skip_row_validates_what_it_is_given(args, error, message):
    """Regression (issue 15.9): SkipRow took anything, and each consumer judged it its own
    way (rscd.apply corrected a row with skip_int1=None, rscd.dask.apply raised TypeError)."""
    with pytest.raises(error, match=message):
        SkipRow(*args)


def test_skip_row_normalises_counts():
    row = SkipRow("FULL", "FAST", None, np.int16(3))
    assert row == SkipRow("FULL", "FAST", -1, 3)          # None: no group_skip1 column
    assert type(row.skip_int1) is int and type(row.skip_int2p) is int
    assert SkipRow("FULL", "FAST", np.int64(-5), 2**70).skip_int2p == 2**70


def test_reference_rows_are_checked_and_kept_as_a_tuple():
    row = SkipRow("FULL", "FAST", 1, 2)
    assert rscd.Reference(name="r", skip_rows=[row]).skip_rows == (row,)
    with pytest.raises(TypeError, match=r"Reference.skip_rows\[0\] must be a SkipRow, not tuple"):
        rscd.Reference(name="r", skip_rows=[("FULL", "FAST", 1, 2)])
    with pytest.raises(TypeError, match="Reference.decay_rows must be a sequence"):
        rscd.Reference(name="r", decay_rows=3)


def test_file_without_group_skip1_reads_like_skip_int1_none(tmp_path):
    """The reader's -1 for a missing column and a hand-made None are one value."""
    path = tmp_path / "old.fits"
    rscd.write_flag_reference(path, [SkipRow("FULL", "FAST", None, 2)])
    with fits.open(path) as hdul:
        assert "group_skip1" not in [c.name for c in hdul["RSCD_GROUP_SKIP"].columns]
    assert rscd.read_reference(path).lookup("FAST", "FULL") == SkipRow("FULL", "FAST", None, 2)
