"""``flag`` on a file whose S_RSCD is already COMPLETE (docs/inplace.rst, "Running flag
twice").

jwst's rscd step flags such a file again, so rscd does too: DO_NOT_USE adds to the
earlier run's flags, and with another reference file GROUPDQ then holds the larger of
the two runs' group counts. So that the header never claims fewer flagged groups than
GROUPDQ holds, INT1SKIP and INT2SKIP keep the larger of the earlier and the new count;
R_RSCD and the other statistics describe the new run, and each run adds its own
HISTORY card (its time, method and reference file). The log says all this in one line.
"""
import logging
from typing import Any, Dict, Optional

from astropy.io import fits

__all__ = ["flag_rerun", "keep_larger_counts"]

log = logging.getLogger("rscd")

_COUNTS = ("INT1SKIP", "INT2SKIP")


def flag_rerun(path: Any, header: Any, status: Optional[str], method: str
               ) -> Optional[Dict[str, int]]:
    """The earlier run's INT1SKIP and INT2SKIP when ``method`` is "flag" and S_RSCD
    (``status``) is already COMPLETE, after one log line saying what happens; None
    otherwise."""
    if method != "flag" or status != "COMPLETE":
        return None
    earlier = {key: header[key] for key in _COUNTS
               if isinstance(header.get(key), int) and not isinstance(header[key], bool)}
    shown = ", ".join(f"{key} = {value}" for key, value in earlier.items()) or "no counts"
    log.warning("%s: S_RSCD is already COMPLETE (R_RSCD = %s, %s): flagged again, as "
                "jwst's rscd step does; its DO_NOT_USE flags add to the earlier ones, so "
                "INT1SKIP and INT2SKIP will give the larger of both runs' counts, R_RSCD "
                "and the other statistics this run's, and HISTORY one card per run",
                path, header.get("R_RSCD", "unknown"), shown)
    return earlier


def keep_larger_counts(target: Any, earlier: Optional[Dict[str, int]], result: Any) -> None:
    """After the run: set INT1SKIP/INT2SKIP of the file ``target`` to the earlier run's
    count where that is larger (the cards exist, so only they change, in place)."""
    if not earlier or result.status != "COMPLETE":
        return
    new = result.header_keywords()
    larger = {key: value for key, value in earlier.items()
              if isinstance(new.get(key), int) and value > new[key]}
    if larger:
        with fits.open(target, mode="update") as hdul:
            for key, value in larger.items():
                hdul[0].header[key] = value
