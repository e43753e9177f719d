"""Raw ramp files, read as jwst's ``RampModel`` reads them (docs/inplace.rst, "Raw files").

An uncal file as MAST delivers it stores SCI as 16-bit integers with BZERO = 32768 (the raw
counts) and has no GROUPDQ or PIXELDQ: the pipeline's dq_init step adds those. jwst 3.0.0's
rscd step corrects such a file all the same, because its ``RampModel`` reads SCI into
float32 (astropy's scaled values, converted) and makes GROUPDQ and PIXELDQ of zeros. rscd
reads it the same way: :func:`ramp_arrays` (whole, in memory) for the diagnosis and the
readers, :func:`write_ramp_layout` (a plane at a time) for a new file in the ramp layout,
which :mod:`rscd.fits` then corrects as it corrects a copy. A raw file is never corrected
in place (its SCI changes type and two extensions are added).
"""
import contextlib
import io
import os
import warnings
from typing import TYPE_CHECKING, BinaryIO, Iterator, Tuple

import numpy as np
from astropy.io import fits

if TYPE_CHECKING:       # for the annotations only: rscd.fits imports this module
    from .fits import Layout

__all__ = ["RawFileError", "ramp_arrays", "write_ramp_layout"]

#: SCI header keywords that describe the stored integers, not the float32 written.
_STORAGE_KEYWORDS = ("BZERO", "BSCALE", "BLANK")


class RawFileError(ValueError):
    """A raw file that astropy cannot read, or write in the ramp layout (a damaged card,
    a BITPIX it has no type for); the caller adds the file's name."""


@contextlib.contextmanager
def _open(fd: int, **kwargs) -> Iterator["fits.HDUList"]:
    """The file open as ``fd``, read by astropy through a file object of its own (closed
    after, ``fd`` left open). Every header is read at once: the object shares its file
    position with ``fd`` and the other objects open on it, and astropy reads headers
    from the current position (data it reads from their known offsets). What astropy
    raises on a damaged file in the block (it parses cards and data lazily, as
    rscd.fits.read_layout says) becomes one RawFileError."""
    with os.fdopen(os.dup(fd), "rb") as f:
        f.seek(0)
        try:
            with fits.open(f, memmap=False, **kwargs) as hdul:
                hdul.readall()
                yield hdul
        except RawFileError:        # from an _open inside this one: said once
            raise
        except (fits.VerifyError, ValueError, TypeError, KeyError, IndexError,
                AttributeError) as exc:     # AttributeError: an HDU of no known kind
            raise RawFileError(f"damaged FITS file; astropy cannot read it or write it in "
                               f"the ramp layout ({type(exc).__name__}: "
                               f"{' '.join(str(exc).split())})") from None


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
        return sci, groupdq, _pixeldq(hdul, layout)


def _pixeldq(hdul: "fits.HDUList", layout: "Layout") -> np.ndarray:
    """PIXELDQ's flags (astropy's scaled values of ``hdul``), or zeros where missing."""
    if layout.pixeldq is None:
        return np.zeros(layout.shape[2:], np.uint32)
    return np.array(hdul[layout.pixeldq].data, dtype=np.uint32)


def write_ramp_layout(fd: int, fout: BinaryIO, layout: "Layout", primary: bytes) -> None:
    """Write the raw ramp file open as ``fd`` into the open, empty file ``fout`` in the
    ramp layout: the primary header ``primary`` (the file's own, with room for the RSCD
    keywords: rscd.fits makes it) and any primary data as stored, SCI as float32, PIXELDQ
    and GROUPDQ (as :func:`ramp_arrays` reads them), then every other extension byte for
    byte as stored (REFOUT, ASDF, ...), so that what rscd does not read is not rewritten
    either (astropy would refuse a card it cannot parse). SCI and GROUPDQ go a plane at a
    time, never whole in memory; astropy makes their headers and PIXELDQ. Raises
    RawFileError for what astropy cannot read or write."""
    shape = layout.shape
    ours = {layout.sci, layout.groupdq, layout.pixeldq}
    with _open(fd) as scaled, _open(fd, do_not_scale_image_data=True) as stored:
        fout.write(primary)
        (_, data_end), = _spans(stored, [0])
        _copy_bytes(fd, fout, layout.header_size, data_end)      # primary data, if any
        sci_header = stored[layout.sci].header.copy()
        for key in _STORAGE_KEYWORDS:
            sci_header.remove(key, ignore_missing=True)
        # SCI: astropy's scaled values of each plane, as RampModel reads them
        fout.write(_image_header(sci_header, shape, ">f4", "SCI"))
        section = scaled[layout.sci].section
        for i, g in np.ndindex(*shape[:2]):
            fout.write(np.asarray(section[i, g], dtype=np.float32).astype(">f4").tobytes())
        _pad(fout)
        fout.write(_extension_bytes(fits.ImageHDU(_pixeldq(scaled, layout), name="PIXELDQ")))
        # GROUPDQ: uint8 as stored (no scaling), or zeros
        fout.write(_image_header(fits.Header(), shape, np.uint8, "GROUPDQ"))
        spans = _spans(stored, [i for i in range(1, len(stored)) if i not in ours])
        if layout.groupdq is None:
            zeros = bytes(shape[2] * shape[3])
            for _ in range(shape[0] * shape[1]):
                fout.write(zeros)
        else:
            start = layout.offsets[1]        # GROUPDQ's data, where read_layout found it
            _copy_bytes(fd, fout, start, start + int(np.prod(shape)))
        _pad(fout)
    for start, end in spans:
        _copy_bytes(fd, fout, start, end)
    fout.flush()


def _image_header(header: "fits.Header", shape: Tuple[int, ...], dtype, name: str) -> bytes:
    """The header astropy writes for an image extension of ``shape`` and ``dtype`` with
    the cards of ``header`` (made on a one-element image; the data go separately)."""
    hdu = fits.ImageHDU(np.zeros((1,) * len(shape), dtype), header, name=name)
    for axis, n in enumerate(reversed(shape), 1):
        hdu.header[f"NAXIS{axis}"] = n
    return hdu.header.tostring().encode("ascii")


def _extension_bytes(hdu) -> bytes:
    """An image extension (a small one) as astropy writes it, header and data."""
    buffer = io.BytesIO()
    fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(buffer)
    return buffer.getvalue()[len(fits.PrimaryHDU().header.tostring()):]


def _pad(fout: BinaryIO) -> None:
    """Zeros after the data of an extension up to the end of its 2880-byte block."""
    fout.write(bytes(-fout.tell() % 2880))


def _spans(hdul: "fits.HDUList", indices) -> list:
    """(first byte of the header, end of the data and padding) of HDUs ``indices``."""
    with warnings.catch_warnings():     # fileinfo prints a card it cannot parse
        warnings.simplefilter("ignore", fits.verify.VerifyWarning)
        infos = [hdul.fileinfo(i) for i in indices]
    return [(info["hdrLoc"], info["datLoc"] + info["datSpan"]) for info in infos]


def _copy_bytes(fd: int, fout: BinaryIO, start: int, end: int) -> None:
    """Append bytes [start, end) of the file open as ``fd`` to ``fout``."""
    while start < end:
        chunk = os.pread(fd, min(end - start, 1 << 23), start)
        if not chunk:
            raise OSError(f"short read at byte {start}: the file changed while it was read")
        fout.write(chunk)
        start += len(chunk)
