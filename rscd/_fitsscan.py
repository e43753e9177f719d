"""A first walk over the HDU headers of a FITS file, before astropy reads it.

astropy (8.0) loops for ever on a header whose data size is negative: a negative NAXISn,
PCOUNT or GCOUNT makes the next HDU "start" before this one, and reading the HDU list
never ends. The C core's ``rscd_fits_walk`` (csrc/fitsscan.c) reads only the cards that
size the data, and refuses what would make astropy loop; this module hands it the file,
read block by block (only the headers' blocks: a file that another program shortens
meanwhile is walked as far as it goes), or for gzip and bzip2, which astropy reads too,
its decompressed bytes.
"""
import bz2
import gzip
import os

from ._core import fits_walk, fits_walk_file


def check_structure(path):
    """Raise ValueError (naming the HDU and card; the caller adds the file name) when a
    header would send astropy into an endless loop or past the end of the file; return
    the number of HDUs walked."""
    with open(path, "rb") as f:
        magic = f.read(3)
        for prefix, module in ((b"\x1f\x8b", gzip), (b"BZh", bz2)):
            if magic.startswith(prefix):
                f.seek(0)
                return fits_walk(module.decompress(f.read()))
        return fits_walk_file(f, os.fstat(f.fileno()).st_size)
