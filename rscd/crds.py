"""Find the RSCD reference file of an exposure in CRDS (optional: needs ``crds``).

    >>> path = rscd.crds.find_reference("jw..._linearity.fits")    # doctest: +SKIP

CRDS is configured by environment variables: ``CRDS_PATH`` (the local cache, where
files are downloaded to and looked up) and ``CRDS_SERVER_URL`` (for JWST
``https://jwst-crds.stsci.edu``). With a filled cache, ``CRDS_PATH`` alone works
offline. Without either, CRDS falls back to an STScI-internal path and gives up.
"""
import contextlib
import logging
import os
from typing import Any, Dict, Iterator, List, Optional, Tuple

__all__ = ["find_reference", "crds_parameters", "crds_fatal_errors", "unavailable_message",
           "CRDSError", "CRDSUnavailable", "CRDSLookupError"]

#: Primary-header keywords passed to CRDS, as the flattened datamodel names CRDS uses
#: for JWST. The RSCD rules select on INSTRUME, then DETECTOR and DATE-OBS/TIME-OBS;
#: the rest are there so that other rules would work too.
KEYWORDS = {
    "TELESCOP": "meta.telescope",
    "INSTRUME": "meta.instrument.name",
    "DETECTOR": "meta.instrument.detector",
    "FILTER": "meta.instrument.filter",
    "BAND": "meta.instrument.band",
    "CHANNEL": "meta.instrument.channel",
    "DATE-OBS": "meta.observation.date",
    "TIME-OBS": "meta.observation.time",
    "EXP_TYPE": "meta.exposure.type",
    "READPATT": "meta.exposure.readpatt",
    "SUBARRAY": "meta.subarray.name",
}


def _how_to(option: str = "--reference REF.fits, reference=... in Python") -> str:
    return ("set CRDS_PATH to a CRDS cache folder and CRDS_SERVER_URL to "
            "https://jwst-crds.stsci.edu (CRDS_PATH alone works offline with a filled "
            f"cache), or give the reference file yourself ({option})")


_HOW_TO = _how_to()


@contextlib.contextmanager
def crds_fatal_errors() -> Iterator[List[str]]:
    """Hold back CRDS's ERROR log lines inside the block and collect their text.

    CRDS logs a multi-line "(FATAL) CRDS server connection and cache load FAILED" and
    calls ``sys.exit`` when it has neither a server nor a cache; the caller turns that
    into one line of its own (:func:`unavailable_message`) that says what to set.
    """
    said: List[str] = []

    def hold_back(record: logging.LogRecord) -> bool:
        if record.levelno >= logging.ERROR:
            said.append(" ".join(record.getMessage().split()))
            return False
        return True

    logger = logging.getLogger("CRDS")
    logger.addFilter(hold_back)
    try:
        yield said
    finally:
        logger.removeFilter(hold_back)


def unavailable_message(crds_said: List[str], option: Optional[str] = None) -> str:
    """One line: no reference file given, CRDS could not load (what it said, the two
    variables as set now), and what to set."""
    said = crds_said[-1].split(" : ")[-1] if crds_said else "no message"
    return (f"no RSCD reference file given and CRDS cannot be reached (CRDS_PATH="
            f"{os.environ.get('CRDS_PATH', 'unset')}, CRDS_SERVER_URL="
            f"{os.environ.get('CRDS_SERVER_URL', 'unset')}; CRDS: {said}): "
            + (_how_to(option) if option else _HOW_TO))


class CRDSError(RuntimeError):
    """CRDS could not provide the RSCD reference file."""


class CRDSUnavailable(CRDSError):
    """crds is not installed, not configured, or its server and cache cannot be reached.
    The message says what to set."""


class CRDSLookupError(CRDSError):
    """CRDS works but has no RSCD reference for this exposure (e.g. a DATE-OBS before
    every USEAFTER)."""


def _header(path_or_header: Any) -> Tuple[Any, str]:
    if isinstance(path_or_header, (str, os.PathLike)):
        from astropy.io import fits
        return fits.getheader(os.fspath(path_or_header), 0), os.fspath(path_or_header)
    return path_or_header, "header"


def crds_parameters(path_or_header: Any) -> Dict[str, Any]:
    """The CRDS matching parameters of an exposure, from its primary header.

    Parameters
    ----------
    path_or_header : str, os.PathLike, astropy.io.fits.Header or mapping
        A FITS file (its primary header is read) or the header itself.

    Returns
    -------
    dict
        ``{"meta.instrument.name": "MIRI", "meta.instrument.detector": ...}`` for
        the keywords present.
    """
    header, _ = _header(path_or_header)
    params = {}
    for key, name in KEYWORDS.items():
        value = header.get(key)
        if value is not None:
            params[name] = str(value).strip() if isinstance(value, str) else value
    return params


def find_reference(path_or_header: Any, *, context: Optional[str] = None) -> Optional[str]:
    """Ask CRDS for the RSCD reference file of an exposure.

    Parameters
    ----------
    path_or_header : str, os.PathLike, astropy.io.fits.Header or mapping
        The exposure (FITS file) or its primary header. INSTRUME, DETECTOR,
        DATE-OBS and TIME-OBS are needed.
    context : str, optional
        A CRDS context such as "jwst_1234.pmap"; default: ``CRDS_CONTEXT`` or the
        operational context.

    Returns
    -------
    str or None
        Local path of the reference file (downloaded into ``CRDS_PATH`` when needed),
        or None when the exposure needs none: not MIRI data, or CRDS says "N/A" for
        it. The caller then skips, as the pipeline does.

    Raises
    ------
    ValueError
        INSTRUME, DETECTOR or DATE-OBS missing from the header.
    CRDSUnavailable
        crds is not installed or not configured, or its server/cache failed; the
        message says what to set. (CRDS exits the process on a failed cache load;
        that ``SystemExit`` is caught and turned into this error.)
    CRDSLookupError
        CRDS has no RSCD rule matching the exposure.
    """
    header, where = _header(path_or_header)
    params = crds_parameters(header)
    instrument = str(params.get("meta.instrument.name", "")).upper()
    if not instrument:
        raise ValueError(f"{where}: no INSTRUME keyword in the primary header; CRDS "
                         "needs it to choose a reference file")
    if instrument != "MIRI":
        return None
    missing = [k for k in ("DETECTOR", "DATE-OBS") if KEYWORDS[k] not in params]
    if missing:
        raise ValueError(f"{where}: no {' or '.join(missing)} keyword in the primary header; "
                         "CRDS needs DETECTOR, DATE-OBS and TIME-OBS to choose the RSCD file")
    params.setdefault("meta.observation.time", "00:00:00")

    try:
        import crds
        from crds.core.exceptions import CrdsError, CrdsLookupError
    except ImportError as exc:
        raise CRDSUnavailable(f"CRDS is not installed ({exc}): pip install crds and "
                              f"{_HOW_TO}") from None

    if not os.environ.get("CRDS_PATH") and not os.environ.get("CRDS_SERVER_URL"):
        raise CRDSUnavailable(f"CRDS is not configured (neither CRDS_PATH nor "
                              f"CRDS_SERVER_URL is set): {_HOW_TO}")

    try:
        with crds_fatal_errors() as crds_said:
            found = crds.getreferences(params, reftypes=["rscd"], context=context,
                                       observatory="jwst")
    except CrdsLookupError as exc:
        raise CRDSLookupError(f"{where}: CRDS has no RSCD reference for DETECTOR="
                              f"{params.get('meta.instrument.detector')}, DATE-OBS="
                              f"{params.get('meta.observation.date')} ({exc}); "
                              "give the reference file yourself") from None
    except SystemExit:
        # CRDS calls sys.exit when it can reach neither its server nor its cache.
        raise CRDSUnavailable(f"{where}: {unavailable_message(crds_said)}") from None
    except (CrdsError, OSError) as exc:
        raise CRDSUnavailable(f"CRDS failed: {exc}; {_HOW_TO}") from None

    path = found.get("rscd") if isinstance(found, dict) else None
    if path is None:
        raise CRDSLookupError(f"{where}: CRDS returned no RSCD entry ({found!r})")
    if "NOT FOUND" in str(path).upper():
        if "N/A" in str(path).upper():
            return None
        raise CRDSLookupError(f"{where}: CRDS: {path}")
    return str(path)
