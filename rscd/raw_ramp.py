"""Raw ramp files, read as jwst's ``RampModel`` reads them (docs/inplace.rst, "Raw files").

An uncal file as MAST delivers it stores SCI as 16-bit integers with BZERO = 32768 (the raw
counts) and has no GROUPDQ or PIXELDQ: the pipeline's dq_init step adds those. jwst 3.0.0's
rscd step corrects such a file all the same, because its ``RampModel`` reads SCI into
float32 (astropy's scaled values, converted) and makes GROUPDQ and PIXELDQ of zeros. rscd
reads it the same way: :func:`ramp_arrays` for the diagnosis, :func:`write_ramp_layout` for
a new file in the ramp layout, which :mod:`rscd.fits` then corrects as it corrects a copy.
A raw file is read whole into memory, as jwst reads it; it is never corrected in place
(its SCI changes type and two extensions are added).
"""
import contextlib
import os
import warnings
from typing import TYPE_CHECKING, BinaryIO, Iterator, Tuple

import numpy as np
from astropy.io import fits

if TYPE_CHECKING:       # for the annotations only: rscd.fits imports this module
    from .fits import Layout

__all__ = ["ramp_arrays", "write_ramp_layout"]

#: SCI header keywords that describe the stored integers, not the float32 written.
_STORAGE_KEYWORDS = ("BZERO", "BSCALE", "BLANK")


@contextlib.contextmanager
def _open(fd: int, **kwargs) -> Iterator["fits.HDUList"]:
    """The file open as ``fd``, read by astropy through a file object of its own (closed
    after, ``fd`` left open), from its start."""
    with os.fdopen(os.dup(fd), "rb") as f, fits.open(f, memmap=False, **kwargs) as hdul:
        yield hdul


def ramp_arrays(fd: int, layout: "Layout") -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """SCI (native float32), GROUPDQ (uint8) and PIXELDQ (uint32 flags) of the ramp file
    open as ``fd`` (``layout`` from ``read_layout(..., raw=True)``), as jwst's RampModel
    reads them: SCI's scaled values converted to float32, zeros for a missing GROUPDQ or
    PIXELDQ. New arrays, in memory."""
    shape = layout.shape
    with _open(fd) as hdul:       # layout.sci ... are HDU indices
        sci = np.array(hdul[layout.sci].data, dtype=np.float32)
        groupdq = (np.zeros(shape, np.uint8) if layout.groupdq is None
                   else np.array(hdul[layout.groupdq].data, dtype=np.uint8))
        pixeldq = (np.zeros(shape[2:], np.uint32) if layout.pixeldq is None
                   else np.array(hdul[layout.pixeldq].data, dtype=np.uint32))
    return sci, groupdq, pixeldq


def write_ramp_layout(fd: int, fout: BinaryIO, layout: "Layout", blank_cards: int) -> None:
    """Write the raw ramp file open as ``fd`` into the open, empty file ``fout`` in the
    ramp layout: its primary header with ``blank_cards`` blank cards more (room for the
    RSCD keywords), SCI as float32, PIXELDQ and GROUPDQ (:func:`ramp_arrays`), then
    every other extension byte for byte as stored (REFOUT, ASDF, ...), so that what
    rscd does not read is not rewritten either (astropy would refuse a card it cannot
    parse). Raises astropy's VerifyError for a primary or SCI header astropy cannot
    write."""
    sci, groupdq, pixeldq = ramp_arrays(fd, layout)
    ours = {layout.sci, layout.groupdq, layout.pixeldq}
    with _open(fd, do_not_scale_image_data=True) as hdul:
        primary = hdul[0].header.copy()
        for _ in range(blank_cards):
            primary.append()
        sci_header = hdul[layout.sci].header.copy()
        for key in _STORAGE_KEYWORDS:
            sci_header.remove(key, ignore_missing=True)
        fits.HDUList([fits.PrimaryHDU(hdul[0].data, primary),
                      fits.ImageHDU(sci, sci_header, name="SCI"),
                      fits.ImageHDU(pixeldq, name="PIXELDQ"),
                      fits.ImageHDU(groupdq, name="GROUPDQ")]).writeto(fout)
        with warnings.catch_warnings():     # fileinfo prints a card it cannot parse
            warnings.simplefilter("ignore", fits.verify.VerifyWarning)
            spans = [(info["hdrLoc"], info["datLoc"] + info["datSpan"]) for info in
                     (hdul.fileinfo(i) for i in range(1, len(hdul)) if i not in ours)]
    for start, end in spans:
        _copy_bytes(fd, fout, start, end)
    fout.flush()


def _copy_bytes(fd: int, fout: BinaryIO, start: int, end: int) -> None:
    """Append bytes [start, end) of the file open as ``fd`` to ``fout``."""
    while start < end:
        chunk = os.pread(fd, min(end - start, 1 << 23), start)
        if not chunk:
            raise OSError(f"short read at byte {start}: the file changed while it was read")
        fout.write(chunk)
        start += len(chunk)
