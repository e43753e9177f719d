"""The C core's FITS header walk (rscd_fits_walk, csrc/fitsscan.c, through
rscd._fitsscan.check_structure) against its Python statement (tests/oracle_fitsscan.py,
rscd's walker before it moved to C): the same count of HDUs, or the same refusal
message, on real files, hand-made hostile headers and thousands of mutated ones."""
import bz2
import gzip
import io
import os

import numpy as np
import pytest
from astropy.io import fits

from fitsfiles import ramp_arrays, write_astropy
from oracle_fitsscan import check_structure as oracle
from rscd import _core
from rscd._fitsscan import check_structure

BLOCK = 2880


def outcome(walk, path):
    try:
        return ("count", walk(path))
    except ValueError as exc:
        return ("refused", str(exc))


def assert_same(path):
    want = outcome(oracle, path)
    assert outcome(check_structure, path) == want, path
    return want


def card(key, value):
    return f"{key:<8}= {value:>20}".ljust(80).encode("latin-1")


def header(*cards):
    text = b"".join(cards) + b"END".ljust(80)
    return text + b" " * (-len(text) % BLOCK)


def image_header(naxes, bitpix=8, extra=()):
    cards = [card("XTENSION", "'IMAGE   '"), card("BITPIX", bitpix),
             card("NAXIS", len(naxes))]
    cards += [card(f"NAXIS{k}", n) for k, n in enumerate(naxes, 1)]
    return header(*cards, card("PCOUNT", 0), card("GCOUNT", 1), *extra)


def image(naxes, bitpix=8, extra=()):
    size = abs(bitpix) // 8 * int(np.prod(naxes)) if naxes else 0
    return image_header(naxes, bitpix, extra) + b"\0" * (size + (-size % BLOCK))


PRIMARY = header(card("SIMPLE", "T"), card("BITPIX", 8), card("NAXIS", 0))


@pytest.fixture
def ramp_file(tmp_path):
    data, groupdq, pixeldq = ramp_arrays()
    path = str(tmp_path / "ramp.fits")
    write_astropy(path, data, groupdq, pixeldq)
    return path


def test_a_ramp_file_written_by_astropy(ramp_file):
    with fits.open(ramp_file) as hdul:
        assert assert_same(ramp_file) == ("count", len(hdul))


@pytest.mark.parametrize("module", [gzip, bz2])
def test_compressed_files_are_walked_decompressed(ramp_file, tmp_path, module):
    path = str(tmp_path / "ramp.fits.z")
    with open(ramp_file, "rb") as f, open(path, "wb") as out:
        out.write(module.compress(f.read()))
    with fits.open(ramp_file) as hdul:
        assert assert_same(path) == ("count", len(hdul))


HOSTILE = {
    "empty": b"",
    "no_end": (card("SIMPLE", "T") + card("NAXIS", 0)).ljust(2 * BLOCK),
    "partial_block": PRIMARY[:1000],
    "negative_naxis2": PRIMARY + image([4, 5]).replace(card("NAXIS2", 5), card("NAXIS2", -5)),
    "negative_naxis": PRIMARY + image([]).replace(card("NAXIS", 0), card("NAXIS", "-001")),
    "minus_zero": PRIMARY + image([]).replace(card("NAXIS", 0), card("NAXIS", "-000")),
    "negative_gcount": PRIMARY + image([3]).replace(card("GCOUNT", 1), card("GCOUNT", -7)),
    "negative_pcount": PRIMARY + image([3]).replace(card("PCOUNT", 0), card("PCOUNT", -1)),
    "naxis_too_large": PRIMARY + image([]).replace(card("NAXIS", 0), card("NAXIS", 1000)),
    "naxis_huge": PRIMARY + image([]).replace(card("NAXIS", 0),
                                              card("NAXIS", "-" + "9" * 40)),
    "not_an_integer": PRIMARY + image([2]).replace(card("NAXIS1", 2), card("NAXIS1", "'2'")),
    "quote_repr": PRIMARY + image([2]).replace(card("NAXIS1", 2), card("NAXIS1", "\"it's\"")),
    "escapes_repr": PRIMARY + image([2]).replace(card("NAXIS1", 2),
                                                 card("NAXIS1", "a\\b\x01\xe9\x7fc")),
    "naxisx_not_integer": PRIMARY + image([2], extra=[card("NAXISX", "T")]),
    "non_ascii_keyword": PRIMARY + image([2], extra=[card("NAXIS\xe9", "T")]),
    "underscores": PRIMARY + image([2]).replace(card("NAXIS1", 2), card("NAXIS1", "1_000")),
    "double_underscore": PRIMARY + image([2]).replace(card("NAXIS1", 2),
                                                      card("NAXIS1", "1__0")),
    "signs_and_comment": PRIMARY + image([2]).replace(card("NAXIS1", 2),
                                                      card("NAXIS1", "+2 / two")),
    "leading_zeros_negative": PRIMARY + image([2]).replace(card("GCOUNT", 1),
                                                           card("GCOUNT", "-0012")),
    "later_card_wins": PRIMARY + image([2], extra=[card("NAXIS1", -3)]),
    "huge_size": PRIMARY + image([]).replace(card("NAXIS", 0), card("NAXIS", 2))
    .replace(card("PCOUNT", 0), card("NAXIS1", 10**30) + card("NAXIS2", 10**30)),
    "zero_times_huge": PRIMARY + image([0, 1]).replace(card("NAXIS2", 1),
                                                       card("NAXIS2", 10**30)) + PRIMARY,
    "bitpix_huge": PRIMARY + image_header([1], bitpix=-(2**70)) + image([1]),
    "too_many_hdus": PRIMARY + image([]) * 1000,
    "truncated_data": PRIMARY + image([100, 100])[:2 * BLOCK],
    "exact_end": PRIMARY + image([BLOCK]),
    "end_with_tab": PRIMARY.replace(b"END".ljust(80), b"END\t".ljust(80)),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_headers(tmp_path, name):
    path = str(tmp_path / f"{name}.fits")
    with open(path, "wb") as f:
        f.write(HOSTILE[name])
    kind, text = assert_same(path)
    expected_refusal = name not in ("empty", "underscores", "minus_zero",
                                    "signs_and_comment", "huge_size", "zero_times_huge",
                                    "bitpix_huge", "truncated_data", "exact_end",
                                    "end_with_tab")
    assert (kind == "refused") == expected_refusal, text


def test_mutated_headers_agree(tmp_path):
    """Random bytes of the sizing cards' keywords and values replaced, cards swapped or
    blanked, blocks cut: each mutant refused with the same line, or walked alike."""
    rng = np.random.default_rng(24)
    base = PRIMARY + image([7, 3], bitpix=16) + image([5], bitpix=-32) + image([])
    alphabet = np.frombuffer(b"0123456789+-_ /'\"END=NAXISGPCOUTBX\t\xe9", np.uint8)
    path = str(tmp_path / "mutant.fits")
    outcomes = set()
    for _ in range(3000):
        raw = np.frombuffer(base, np.uint8).copy()
        for _ in range(rng.integers(1, 6)):
            at = rng.integers(0, 4) * BLOCK + rng.integers(0, 10) * 80
            if rng.random() < 0.5:      # a byte of a keyword or a value
                raw[at + rng.integers(0, 32)] = rng.choice(alphabet)
            else:                       # a value: an integer of any size or sign
                value = rng.choice(["-", "", "+"]) + str(int(rng.integers(0, 10**6))
                                                           ** int(rng.integers(1, 6)))
                raw[at + 10:at + 80] = np.frombuffer(f"{value:>20}".ljust(70).encode(),
                                                     np.uint8)
        data = raw.tobytes()
        if rng.random() < 0.2:
            data = data[:rng.integers(0, len(data))]
        with open(path, "wb") as f:
            f.write(data)
        outcomes.add(assert_same(path)[0])
    assert outcomes == {"count", "refused"}


def test_a_huge_naxis_is_refused_at_once():
    """The Python walker listed NAXIS1 .. NAXISn before refusing NAXIS > 999: NAXIS =
    10**30 hung it (found by the mutations above); the core refuses at once."""
    data = PRIMARY + image([]).replace(card("NAXIS", 0), card("NAXIS", 10**30))
    with pytest.raises(ValueError, match=r"^HDU 1: NAXIS = 10{30} is larger than 999$"):
        _core.fits_walk(data)


def test_the_core_reads_any_buffer_and_none_outside_it():
    assert _core.fits_walk(b"") == 0
    assert _core.fits_walk(bytearray(PRIMARY)) == 1
    assert _core.fits_walk(memoryview(PRIMARY + image([2]))) == 2
    with pytest.raises(ValueError, match=r"^HDU 0: no END card before byte 2800$"):
        _core.fits_walk(PRIMARY[:2800])


def test_a_big_file_has_only_its_headers_read(tmp_path):
    """A 3 GB sparse file with two headers: walked at once, reading two blocks."""
    path = str(tmp_path / "big.fits")
    with open(path, "wb") as f:
        f.write(PRIMARY + image_header([3 * 2**30]))
        f.truncate(len(PRIMARY) + BLOCK + 3 * 2**30)
    reads = []

    class Counted(io.FileIO):
        def read(self, n=-1):
            reads.append(n)
            return super().read(n)

    with Counted(path) as f:
        assert _core.fits_walk_file(f, os.fstat(f.fileno()).st_size) == 2
    assert reads == [BLOCK, BLOCK]
    assert check_structure(path) == 2


def test_a_file_that_shrinks_is_walked_as_far_as_it_goes(tmp_path):
    """The size given is larger than the file (another program shortened it after the
    size was taken): the walk reads what is there, as a file ending there (a map of
    the file would have died of SIGBUS)."""
    path = str(tmp_path / "short.fits")
    with open(path, "wb") as f:
        f.write(PRIMARY + image([2]))
    with open(path, "rb") as f:
        assert _core.fits_walk_file(f, 10 * BLOCK) == 2
        assert _core.fits_walk_file(f, 10 * BLOCK) == _core.fits_walk(PRIMARY + image([2]))


def test_a_read_error_is_raised():
    class Failing(io.BytesIO):
        def read(self, n=-1):
            raise OSError(5, "Input/output error")

    with pytest.raises(OSError, match="Input/output error"):
        _core.fits_walk_file(Failing(PRIMARY), len(PRIMARY))
