"""The numpy-free Python statement of the FITS header walk that the C core's
``rscd_fits_walk`` makes (csrc/fitsscan.c): rscd's own walker until it moved to C,
kept here as the oracle of tests/test_fitsscan.py.

astropy (8.0) loops for ever on a header whose data size is negative: a negative NAXISn,
PCOUNT or GCOUNT makes the next HDU "start" before this one, and reading the HDU list
never ends. This walk reads only the cards that size the data, and refuses what would
make astropy loop: every HDU it accepts starts at least one 2880-byte block after the one
before, so the walk always ends.
"""
import bz2
import gzip
import io

BLOCK = 2880
MAX_HDUS = 1000
_SIZING = ("BITPIX", "NAXIS", "PCOUNT", "GCOUNT")


def _header_cards(f, start, size, where):
    """The sizing cards of the header at byte ``start``: (cards, data start), or None
    when no END card comes before the end of the file."""
    cards = {}
    pos = start
    while True:
        if pos + BLOCK > size:
            return None
        f.seek(pos)
        block = f.read(BLOCK)
        pos += BLOCK
        for i in range(0, BLOCK, 80):
            key = block[i:i + 8].decode("ascii", "replace").rstrip()
            if key == "END":
                return cards, pos
            if block[i + 8:i + 10] == b"= " and (key in _SIZING or key.startswith("NAXIS")):
                text = block[i + 10:i + 80].split(b"/")[0].strip()
                try:
                    cards[key] = int(text)
                except ValueError:
                    raise ValueError(f"{where}: header card {key} = {text[:20]!r} is not "
                                     "an integer") from None


def _open(path):
    """The file, or for gzip/bzip2 (which astropy reads too) its decompressed bytes."""
    f = open(path, "rb")
    magic = f.read(3)
    f.seek(0)
    for prefix, module in ((b"\x1f\x8b", gzip), (b"BZh", bz2)):
        if magic.startswith(prefix):
            with f:
                return io.BytesIO(module.decompress(f.read()))
    return f


def check_structure(path):
    """Raise ValueError (naming the HDU and card; the caller adds the file name) when a
    header would send astropy into an endless loop or past the end of the file; return
    the number of HDUs walked."""
    with _open(path) as f:
        f.seek(0, 2)
        size = f.tell()
        pos, count = 0, 0
        while pos < size:
            where = f"HDU {count}"
            if count == MAX_HDUS:
                raise ValueError(f"more than {MAX_HDUS} HDUs")
            found = _header_cards(f, pos, size, where)
            if found is None:
                if count == 0:
                    raise ValueError(f"{where}: no END card before byte {size}")
                break   # no complete header left: nothing astropy could loop on
            cards, data_at = found
            naxis = cards.get("NAXIS", 0)
            # NAXISk has 3 digits at most (8-byte keywords): NAXIS > 999 is refused below.
            # (rscd's walker went up to NAXIS here, and hung on NAXIS = 10**30.)
            dims = ([cards.get(f"NAXIS{k}", 0) for k in range(1, min(naxis, 999) + 1)]
                    if naxis > 0 else [])
            for key in ("NAXIS", "PCOUNT", "GCOUNT") + tuple(f"NAXIS{k}" for k in
                                                             range(1, len(dims) + 1)):
                if cards.get(key, 0) < 0:
                    raise ValueError(f"{where}: {key} = {cards[key]} is negative")
            if naxis > 999:
                raise ValueError(f"{where}: NAXIS = {naxis} is larger than 999")
            count_values = 1
            for n in dims:
                count_values *= n
            if not dims:
                count_values = 0
            nbytes = abs(cards.get("BITPIX", 8)) // 8 * cards.get("GCOUNT", 1) * (
                cards.get("PCOUNT", 0) + count_values)
            pos = data_at + -(-nbytes // BLOCK) * BLOCK
            count += 1
        return count
