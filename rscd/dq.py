"""Data-quality bits that rscd reads or sets, and PIXELDQ's stored form in a FITS file.

The values are the JWST pipeline's (``stdatamodels.jwst.datamodels.dqflags``), written out
here so that the package needs neither jwst nor stdatamodels. GROUPDQ is uint8, so only the
bits below 256 occur there; PIXELDQ is uint32.

A FITS file has no unsigned 32-bit type: PIXELDQ is stored as int32 with BZERO = 2**31,
which makes the stored word the flag word with its top bit flipped.
:func:`flip_bzero` turns one into the other (the operation is its own inverse).
"""
import numpy as np
import numpy.typing as npt

__all__ = ["DO_NOT_USE", "SATURATED", "JUMP_DET", "AD_FLOOR", "FLUX_ESTIMATED",
           "REFERENCE_PIXEL", "PIXELDQ_BZERO", "flip_bzero"]

DO_NOT_USE = 1              #: GROUPDQ and PIXELDQ: the group or pixel is not used
SATURATED = 2               #: GROUPDQ: the group is saturated
JUMP_DET = 4                #: GROUPDQ: a jump (cosmic ray) was detected in the group
AD_FLOOR = 64               #: GROUPDQ: at the A/D converter's floor (set with DO_NOT_USE)
FLUX_ESTIMATED = 1 << 28    #: PIXELDQ: set by ``flag`` on pixels it backed off for
REFERENCE_PIXEL = 1 << 31   #: PIXELDQ: a reference pixel (no light)

#: BZERO of a PIXELDQ extension that holds uint32 (the JWST pipeline's files).
PIXELDQ_BZERO = 1 << 31

_TOP_BIT = np.uint32(1 << 31)


def flip_bzero(words: npt.ArrayLike) -> npt.NDArray[np.uint32]:
    """The other form of PIXELDQ words: stored int32 (BZERO = 2**31) <-> uint32 flags.

    ``words`` may be stored words (int32 or uint32 of any byte order, e.g. a big-endian
    memory map of the file) or flag words; the result is a new native uint32 array with
    the top bit flipped: the flags of stored words, or the words to store for flags.

    >>> import numpy as np
    >>> from rscd.dq import REFERENCE_PIXEL, flip_bzero
    >>> flip_bzero(np.array([-2**31, 0], ">i4")).tolist()    # stored -> flags
    [0, 2147483648]
    >>> flip_bzero(np.array([0, REFERENCE_PIXEL], np.uint32)).view(np.int32).tolist()
    [-2147483648, 0]
    """
    arr = np.asarray(words)
    if arr.dtype.kind not in "iu" or arr.dtype.itemsize != 4:
        raise TypeError(f"PIXELDQ words must be 32-bit integers, not {arr.dtype}")
    native = arr.astype(arr.dtype.newbyteorder("="), copy=False)
    return np.bitwise_xor(native.view(np.uint32), _TOP_BIT)
