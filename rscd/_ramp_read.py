"""Open a ramp file for reading: SCI, GROUPDQ and PIXELDQ memory-mapped, nothing loaded.

To be merged into :mod:`rscd.fits` by the lead: the ramp file on disk has one owner, and
this reader lives apart only while ``fits.py`` is being rewritten. Its public names
(:func:`open_ramp`, :class:`Ramp`) are meant to move there unchanged.

The arrays are numpy memory maps at the data offsets astropy reports, opened read-only,
so a full-frame exposure of many groups costs no memory until a piece is indexed. SCI is
big-endian, as FITS stores it (index it and convert the small piece). PIXELDQ, one frame,
is returned as native uint32 flags, its BZERO = 2**31 already taken off
(:func:`rscd.dq.flip_bzero`). The file is never opened for writing.
"""
import os
import warnings
from typing import Dict, NamedTuple, Optional

import numpy as np
from astropy.io import fits  # type: ignore[import-untyped]

from .dq import PIXELDQ_BZERO, flip_bzero

__all__ = ["Ramp", "open_ramp"]

#: BITPIX -> stored dtype (FITS data are big-endian).
_STORED = {8: "u1", 16: ">i2", 32: ">i4", 64: ">i8", -32: ">f4", -64: ">f8"}


class Ramp(NamedTuple):
    """A ramp file opened by :func:`open_ramp`; unpacks as ``sci, groupdq, pixeldq, header``."""
    sci: np.ndarray                 #: (nints, ngroups, nrows, ncols), float, big-endian map
    groupdq: np.ndarray             #: (nints, ngroups, nrows, ncols) uint8 map
    pixeldq: Optional[np.ndarray]   #: (nrows, ncols) native uint32 flags; None if absent
    header: fits.Header             #: a copy of the primary header


def open_ramp(path: "str | os.PathLike[str]") -> Ramp:
    """Open the ramp file ``path`` read-only, its arrays memory-mapped.

    SCI (float32 or float64, 4-d) and GROUPDQ (uint8, SCI's shape) are required; PIXELDQ
    (int32 with BZERO = 2**31, or without BZERO; shape (nrows, ncols)) is used when present.

    Raises
    ------
    OSError
        The file cannot be read, or is not FITS.
    ValueError
        A missing, scaled, compressed or misshapen extension; the message names the file
        and the extension, and says what was expected.

    >>> from rscd.dq import REFERENCE_PIXEL
    >>> sci, groupdq, pixeldq, header = open_ramp("rscd_demo/demo_mirimage_linearity.fits")
    >>> sci.shape, sci.dtype.str, int(pixeldq[0, 0]) == REFERENCE_PIXEL
    ((3, 10, 64, 72), '>f4', True)
    """
    path = os.fspath(path)
    try:
        with warnings.catch_warnings():
            # astropy warns about truncation and odd cards; the checks below say it in one line
            warnings.simplefilter("ignore")
            hdul = fits.open(path, memmap=False, do_not_scale_image_data=True,
                             lazy_load_hdus=False)
    except OSError as exc:
        raise OSError(f"{path}: cannot read as FITS: {exc.strerror or exc}") from None
    with hdul:
        size = os.path.getsize(path)
        index: Dict[str, int] = {}
        for i, hdu in enumerate(hdul):
            if i and hdu.name.upper() in ("SCI", "GROUPDQ", "PIXELDQ"):
                index.setdefault(hdu.name.upper(), i)
        for ext in ("SCI", "GROUPDQ"):
            if ext not in index:
                raise ValueError(f"{path}: no {ext} extension (a ramp file has SCI, PIXELDQ "
                                 "and GROUPDQ)")
        sci = _map(path, hdul, index["SCI"], (-32, -64), 4, size)
        groupdq = _map(path, hdul, index["GROUPDQ"], (8,), 4, size)
        if groupdq.shape != sci.shape:
            raise ValueError(f"{path}: extension GROUPDQ has shape {groupdq.shape}, SCI "
                             f"{sci.shape}; both are (nints, ngroups, nrows, ncols)")
        pixeldq = None
        if "PIXELDQ" in index:
            words = _map(path, hdul, index["PIXELDQ"], (32,), 2, size, PIXELDQ_BZERO)
            if words.shape != sci.shape[2:]:
                raise ValueError(f"{path}: extension PIXELDQ has shape {words.shape}; "
                                 f"expected (nrows, ncols) = {sci.shape[2:]}")
            scaled = hdul[index["PIXELDQ"]].header.get("BZERO", 0) == PIXELDQ_BZERO
            pixeldq = flip_bzero(words) if scaled else np.array(words, np.uint32)
        return Ramp(sci, groupdq, pixeldq, hdul[0].header.copy())


def _map(path, hdul, i, bitpix, naxis, size, bzero=0):
    """The data of HDU ``i`` as a read-only memory map, after checking its header."""
    hdu = hdul[i]
    header = hdu.header
    name = hdu.name.upper()
    expected = " or ".join(str(b) for b in bitpix)
    if isinstance(hdu, fits.CompImageHDU) or not isinstance(hdu, fits.ImageHDU):
        raise ValueError(f"{path}: extension {name} is a {type(hdu).__name__}, expected an "
                         "uncompressed image extension")
    if header.get("BITPIX") not in bitpix or header.get("NAXIS") != naxis:
        raise ValueError(f"{path}: extension {name} has BITPIX = {header.get('BITPIX')}, "
                         f"NAXIS = {header.get('NAXIS')}; expected BITPIX {expected}, "
                         f"NAXIS {naxis}")
    if header.get("BSCALE", 1) != 1 or header.get("BZERO", 0) not in (0, bzero):
        raise ValueError(f"{path}: extension {name} has BSCALE = {header.get('BSCALE', 1)}, "
                         f"BZERO = {header.get('BZERO', 0)}; scaled data are not supported")
    shape = tuple(int(header[f"NAXIS{k}"]) for k in range(naxis, 0, -1))
    dtype = np.dtype(_STORED[header["BITPIX"]])
    offset = hdul.fileinfo(i)["datLoc"]
    if offset + dtype.itemsize * int(np.prod(shape)) > size:
        raise ValueError(f"{path}: truncated: extension {name} needs "
                         f"{offset + dtype.itemsize * int(np.prod(shape))} bytes, the file "
                         f"has {size}")
    if 0 in shape:
        return np.zeros(shape, dtype)
    return np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=shape)
