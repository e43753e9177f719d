"""Reading and writing RSCD reference files (docs/reference_files.rst).

Two forms exist:

* the current CRDS form, a BINTABLE ``RSCD_GROUP_SKIP`` with columns ``subarray``,
  ``readpatt``, ``group_skip1`` (absent in older files) and ``group_skip``, used by the
  ``flag`` method;
* the seed-era form, a BINTABLE ``RSCD`` with ``SUBARRAY``, ``READPATT``, ``ROWS``
  (EVEN/ODD) and the 14 decay parameters, used by the ``decay`` method;
* rscd's own ``RSCD_MEASURED`` table, the transient ``rscd diagnose`` measured (per
  SUBARRAY/READPATT, integration kind and row parity, per group ``a_j`` and ``b_j``),
  used by the ``measured`` method.

A file may hold several. Everything is read once into a frozen :class:`Reference`.
"""
import dataclasses
import math
import os
import warnings
from dataclasses import dataclass
from typing import Any, Dict, Iterable, Optional, Sequence, Tuple, Union

import numpy as np
from astropy.io import fits

from ._fitsscan import check_structure
from .safe_files import atomic_write

__all__ = ["ReferenceFileError", "Reference", "SkipRow", "DecayRow", "DecayCoeffs",
           "DECAY_PARAMETERS", "read_reference", "as_reference", "write_flag_reference",
           "write_decay_reference", "MeasuredRow", "MeasuredModel",
           "write_measured_reference"]

SKIP_EXTNAME = "RSCD_GROUP_SKIP"
DECAY_EXTNAME = "RSCD"
MEASURED_EXTNAME = "RSCD_MEASURED"

#: The 14 decay parameters of one row parity, in the order of the seed-era table.
DECAY_PARAMETERS = ("tau", "ascale", "pow", "illum_zp", "illum_slope", "illum2", "param3",
                    "crossopt", "sat_zp", "sat_slope", "sat_2", "sat_mzp", "sat_rowterm",
                    "sat_scale")


class ReferenceFileError(ValueError):
    """A reference file is malformed; the message names the file and the problem."""


def canonical_subarray(name: Any) -> str:
    """The exposure's SUBARRAY as matched against a reference table: trailing blanks
    dropped, the old name SUBPRISM read as SLITLESSPRISM. Only for the science side: the
    pipeline never renames a table row, so a row spelled SUBPRISM matches nothing."""
    name = str(name).rstrip()
    return "SLITLESSPRISM" if name.upper() == "SUBPRISM" else name


def _row_count(value, field, allow_none):
    """A SkipRow count as a Python int (numpy integers accepted, bool refused)."""
    if value is None and allow_none:
        return -1
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"SkipRow.{field} must be an integer"
                        f"{' or None' if allow_none else ''}, not {type(value).__name__}")
    return int(value)


@dataclass(frozen=True)
class SkipRow:
    """One row of ``RSCD_GROUP_SKIP``: groups to flag in integration 1 and in
    integrations 2 and later, for one SUBARRAY/READPATT pair, as the table spells them.

    ``skip_int1`` None or negative means the file has no ``group_skip1`` column (the
    deprecated form): None is stored as -1, what :func:`read_reference` gives for
    such a file, and the ``flag`` method then flags 1 group. ``skip_int2p`` is an
    integer >= 0. Counts are stored as Python ints.

    Raises
    ------
    TypeError
        A name that is not a string, a count that is not an integer (bool included).
    ValueError
        ``skip_int2p`` < 0.
    """
    subarray: str
    readpatt: str
    skip_int1: int
    skip_int2p: int

    def __post_init__(self) -> None:
        for field in ("subarray", "readpatt"):
            value = getattr(self, field)
            if not isinstance(value, str):
                raise TypeError(f"SkipRow.{field} must be a str, not {type(value).__name__}")
            object.__setattr__(self, field, str(value))
        skip1 = _row_count(self.skip_int1, "skip_int1", allow_none=True)
        skip2p = _row_count(self.skip_int2p, "skip_int2p", allow_none=False)
        if skip2p < 0:
            raise ValueError(f"SkipRow.skip_int2p must be >= 0 (groups to flag in "
                             f"integrations 2+), not {skip2p}")
        object.__setattr__(self, "skip_int1", skip1)
        object.__setattr__(self, "skip_int2p", skip2p)


@dataclass(frozen=True)
class DecayCoeffs:
    """The 14 decay parameters of one row parity (docs/overview.rst, "Method decay")."""
    tau: float
    ascale: float
    pow: float
    illum_zp: float
    illum_slope: float
    illum2: float
    param3: float
    crossopt: float
    sat_zp: float
    sat_slope: float
    sat_2: float
    sat_mzp: float
    sat_rowterm: float
    sat_scale: float

    def as_dict(self) -> Dict[str, float]:
        """The parameters by name, as the C core's adapter takes them."""
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class DecayRow:
    """The EVEN and ODD parameter rows of one READPATT/SUBARRAY pair."""
    subarray: str
    readpatt: str
    even: DecayCoeffs
    odd: DecayCoeffs


def _floats(values, field, allow_none=False):
    if values is None and allow_none:
        return None
    arr = np.asarray(values, dtype=float)
    if arr.ndim != 1:
        raise ValueError(f"MeasuredRow.{field} must be a sequence of numbers, not an array "
                         f"of shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"MeasuredRow.{field} holds a value that is not finite")
    return tuple(float(v) for v in arr)


@dataclass(frozen=True)
class MeasuredRow:
    """One row of ``RSCD_MEASURED``: the transient of one integration kind and row parity
    for one SUBARRAY/READPATT pair (docs/reference_files.rst).

    Group ``j`` (counted from 0) of a ramp whose signal grows by ``s`` DN per group sits
    ``a[j] * s + b[j]`` DN above the ramp's straight line; groups past the end of ``a``
    have no transient. ``integration`` is "1" (integration 1 of an exposure) or "2+",
    ``rows`` "EVEN" or "ODD" (detector rows counted from 1). ``window_start`` is the first
    group (counted from 0; the table stores it counted from 1) of the late window the
    pixel's slope is taken from, up to the last group but one. ``a_err`` and ``b_err``
    are the measurement's uncertainties (optional, informative).

    Raises
    ------
    TypeError, ValueError
        A field of the wrong type or value (names the field).
    """
    subarray: str
    readpatt: str
    integration: str
    rows: str
    window_start: int
    a: Tuple[float, ...]
    b: Tuple[float, ...]
    a_err: Optional[Tuple[float, ...]] = None
    b_err: Optional[Tuple[float, ...]] = None

    def __post_init__(self) -> None:
        for field in ("subarray", "readpatt", "integration", "rows"):
            value = getattr(self, field)
            if not isinstance(value, str):
                raise TypeError(f"MeasuredRow.{field} must be a str, not "
                                f"{type(value).__name__}")
        integration = self.integration.strip()
        rows = self.rows.strip().upper()
        if integration not in ("1", "2+"):
            raise ValueError(f"MeasuredRow.integration must be '1' or '2+', not "
                             f"{self.integration!r}")
        if rows not in ("EVEN", "ODD"):
            raise ValueError(f"MeasuredRow.rows must be 'EVEN' or 'ODD', not {self.rows!r}")
        window = _row_count(self.window_start, "window_start", allow_none=False)
        if window < 0:
            raise ValueError(f"MeasuredRow.window_start must be >= 0 (a group counted from "
                             f"0), not {window}")
        values = {f: _floats(getattr(self, f), f, allow_none=f.endswith("_err"))
                  for f in ("a", "b", "a_err", "b_err")}
        for f, v in values.items():
            if v is not None and len(v) != len(values["a"]):
                raise ValueError(f"MeasuredRow.{f} has {len(v)} values and a "
                                 f"{len(values['a'])}; expected one per group")
        object.__setattr__(self, "integration", integration)
        object.__setattr__(self, "rows", rows)
        object.__setattr__(self, "window_start", window)
        for f, v in values.items():
            object.__setattr__(self, f, v)


@dataclass(frozen=True)
class MeasuredModel:
    """What the ``measured`` method uses for one exposure: the EVEN and ODD rows of
    integration 1 and of integrations 2+ (None where the table has no such kind: those
    integrations are left as they are)."""
    subarray: str
    readpatt: str
    int1_even: Optional[MeasuredRow]
    int1_odd: Optional[MeasuredRow]
    int2p_even: Optional[MeasuredRow]
    int2p_odd: Optional[MeasuredRow]


def _check_pair(parities, name, extname, what):
    """An EVEN row without its ODD row (or the reverse) in table ``extname`` of the file
    ``name`` is a ReferenceFileError; ``what`` names the rows' pair."""
    for parity, other in (("EVEN", "ODD"), ("ODD", "EVEN")):
        if other in parities and parity not in parities:
            raise ReferenceFileError(
                f"{name}: {extname} has an {other} row for {what} but no {parity} row")


def _measured_model(rows: Iterable[MeasuredRow], readpatt: str, subarray: str,
                    name: str) -> Optional[MeasuredModel]:
    """The first row of each kind and parity for the pair; None when it has no row. An
    EVEN row without its ODD row (or the reverse) is a ReferenceFileError."""
    found: Dict[Tuple[str, str], MeasuredRow] = {}
    for row in rows:
        if row.readpatt == readpatt and row.subarray == subarray:
            found.setdefault((row.integration, row.rows), row)
    if not found:
        return None
    for kind in ("1", "2+"):
        _check_pair({p for k, p in found if k == kind}, name, MEASURED_EXTNAME,
                    f"READPATT={readpatt}, SUBARRAY={subarray}, INTEGRATION={kind}")
    return MeasuredModel(subarray, readpatt, found.get(("1", "EVEN")), found.get(("1", "ODD")),
                         found.get(("2+", "EVEN")), found.get(("2+", "ODD")))


@dataclass(frozen=True)
class Reference:
    """A parsed RSCD reference file.

    ``skip_rows`` is None when the file has no ``RSCD_GROUP_SKIP`` table,
    ``decay_rows`` is None when it has no ``RSCD`` table and ``measured_rows`` is None
    when it has no ``RSCD_MEASURED`` table.
    """
    name: str
    path: Optional[str] = None
    detector: Optional[str] = None
    skip_rows: Optional[Tuple[SkipRow, ...]] = None
    decay_rows: Optional[Tuple[DecayRow, ...]] = None
    measured_rows: Optional[Tuple[MeasuredRow, ...]] = None

    def __post_init__(self) -> None:
        # Rows are checked here, so a hand-made Reference fails when it is built, with a
        # message naming the field, rather than inside a correction.
        for field, kind in (("skip_rows", SkipRow), ("decay_rows", DecayRow),
                            ("measured_rows", MeasuredRow)):
            rows = getattr(self, field)
            if rows is None:
                continue
            if isinstance(rows, (str, bytes)) or not hasattr(rows, "__iter__"):
                raise TypeError(f"Reference.{field} must be a sequence of {kind.__name__} "
                                f"or None, not {type(rows).__name__}")
            rows = tuple(rows)
            for n, row in enumerate(rows):
                if not isinstance(row, kind):
                    raise TypeError(f"Reference.{field}[{n}] must be a {kind.__name__}, "
                                    f"not {type(row).__name__}")
            object.__setattr__(self, field, rows)

    def default_method(self) -> str:
        """The method ``method="auto"`` picks: flag when RSCD_GROUP_SKIP is present, else
        decay when RSCD is, else measured when RSCD_MEASURED is (a file with both
        RSCD_GROUP_SKIP and RSCD_MEASURED is corrected with flag unless measured is
        asked for)."""
        if self.skip_rows is not None:
            return "flag"
        if self.decay_rows is None and self.measured_rows is not None:
            return "measured"
        return "decay"

    def lookup(self, readpatt: str, subarray: str, method: Optional[str] = None
               ) -> Union[SkipRow, DecayRow, MeasuredModel, None]:
        """The first row matching READPATT and SUBARRAY for ``method``, or None.

        Strings are compared after dropping trailing blanks; the exposure's old
        subarray name SUBPRISM is read as SLITLESSPRISM, while the table's rows are
        taken as spelled (as the pipeline does: a row named SUBPRISM matches no
        exposure). Raises ReferenceFileError when the file has no table for the method.
        ``method="measured"`` gives a :class:`MeasuredModel` (all rows of the pair).
        """
        method = method or self.default_method()
        tables = {"flag": (self.skip_rows, SKIP_EXTNAME),
                  "measured": (self.measured_rows, MEASURED_EXTNAME)}
        rows, extname = tables.get(method, (self.decay_rows, DECAY_EXTNAME))
        if rows is None:
            raise ReferenceFileError(
                f"{self.name}: no {extname} table, which the {method!r} method needs")
        readpatt = str(readpatt).rstrip()
        subarray = canonical_subarray(subarray)
        if method == "measured":
            return _measured_model(self.measured_rows or (), readpatt, subarray, self.name)
        for row in rows:
            if row.readpatt == readpatt and row.subarray == subarray:
                assert not isinstance(row, MeasuredRow)
                return row
        return None


def _table_hdu(hdul, extname, path):
    matches = [h for h in hdul if h.name.upper() == extname]
    if not matches:
        return None
    if len(matches) > 1:   # which one would CRDS users mean? refuse rather than guess
        raise ReferenceFileError(f"{path}: {len(matches)} {extname} extensions; expected one")
    hdu = matches[0]
    if not isinstance(hdu, fits.BinTableHDU):
        raise ReferenceFileError(f"{path}: extension {extname} is not a binary table")
    return hdu


def _columns(hdu, path, required, optional=()):
    """Map lower-case column names to numpy arrays; complain about missing ones."""
    names = {c.name.lower(): c.name for c in hdu.columns}
    if len(names) != len(hdu.columns):   # "subarray" and "SUBARRAY": which one?
        seen = [c.name.lower() for c in hdu.columns]
        twice = sorted({n for n in seen if seen.count(n) > 1})
        raise ReferenceFileError(f"{path}: table {hdu.name} has column(s) {', '.join(twice)} "
                                 "more than once (names are case-insensitive)")
    missing = [c for c in required if c not in names]
    if missing:
        raise ReferenceFileError(
            f"{path}: table {hdu.name} lacks column(s) {', '.join(missing)} "
            f"(has {', '.join(c.name for c in hdu.columns) or 'none'})")
    data = hdu.data
    nrows = 0 if data is None else len(data)
    return {c: (np.asarray(data[names[c]]) if nrows else np.array([]))
            for c in list(required) + [c for c in optional if c in names]}, nrows


def _strings(values, column, path, extname):
    if values.size and values.dtype.kind not in "SU":
        raise ReferenceFileError(
            f"{path}: column {column} of {extname} must hold strings, not {values.dtype}")
    return [v.decode("ascii", "replace") if isinstance(v, bytes) else str(v) for v in values]


def _integers(values, column, path, extname):
    if values.size and values.dtype.kind not in "iu":
        raise ReferenceFileError(
            f"{path}: column {column} of {extname} must hold integers, not {values.dtype}")
    if values.ndim != 1:
        raise ReferenceFileError(f"{path}: column {column} of {extname} must be scalar")
    return [int(v) for v in values]


def _read_skip_table(hdu, path):
    cols, nrows = _columns(hdu, path, ("subarray", "readpatt", "group_skip"), ("group_skip1",))
    subarrays = _strings(cols["subarray"], "subarray", path, SKIP_EXTNAME)
    readpatts = _strings(cols["readpatt"], "readpatt", path, SKIP_EXTNAME)
    skip2p = _integers(cols["group_skip"], "group_skip", path, SKIP_EXTNAME)
    skip1 = (_integers(cols["group_skip1"], "group_skip1", path, SKIP_EXTNAME)
             if "group_skip1" in cols else [-1] * nrows)
    rows = []
    for i in range(nrows):
        if skip2p[i] < 0:
            raise ReferenceFileError(
                f"{path}: {SKIP_EXTNAME} row {i + 1} has group_skip = {skip2p[i]}; "
                "expected a number of groups >= 0")
        # Table rows keep their spelling (no SUBPRISM renaming): see Reference.lookup.
        rows.append(SkipRow(subarrays[i].rstrip(), readpatts[i].rstrip(),
                            skip1[i], skip2p[i]))
    return tuple(rows)


def _read_decay_table(hdu, path):
    cols, nrows = _columns(hdu, path, ("subarray", "readpatt", "rows") + DECAY_PARAMETERS)
    subarrays = _strings(cols["subarray"], "SUBARRAY", path, DECAY_EXTNAME)
    readpatts = _strings(cols["readpatt"], "READPATT", path, DECAY_EXTNAME)
    parities = _strings(cols["rows"], "ROWS", path, DECAY_EXTNAME)
    for name in DECAY_PARAMETERS:
        values = cols[name]
        if values.size and (values.dtype.kind not in "iuf" or values.ndim != 1):
            raise ReferenceFileError(
                f"{path}: column {name.upper()} of {DECAY_EXTNAME} must hold real numbers, "
                f"not {values.dtype}{' arrays' if values.ndim != 1 else ''}")
    # Pair the EVEN and ODD rows of each READPATT/SUBARRAY (first of each wins).
    pairs = {}
    order = []
    for i in range(nrows):
        key = (readpatts[i].rstrip(), subarrays[i].rstrip())
        parity = parities[i].strip().upper()
        if parity not in ("EVEN", "ODD"):
            raise ReferenceFileError(
                f"{path}: {DECAY_EXTNAME} row {i + 1} has ROWS = {parities[i]!r}; "
                "expected EVEN or ODD")
        coeffs = DecayCoeffs(**{n: float(cols[n][i]) for n in DECAY_PARAMETERS})
        for n in ("tau", "param3"):
            value = getattr(coeffs, n)
            if not (math.isfinite(value) and value > 0):
                raise ReferenceFileError(
                    f"{path}: {DECAY_EXTNAME} row {i + 1} ({key[0]}/{key[1]} {parity}) has "
                    f"{n.upper()} = {value}; expected a finite value > 0")
        if key not in pairs:
            pairs[key] = {}
            order.append(key)
        pairs[key].setdefault(parity, coeffs)
    rows = []
    for key in order:
        found = pairs[key]
        _check_pair(found, path, DECAY_EXTNAME, f"READPATT={key[0]}, SUBARRAY={key[1]}")
        rows.append(DecayRow(key[1], key[0], found["EVEN"], found["ODD"]))
    return tuple(rows)


def _per_group(values, i, column, path, length):
    """Row i of an array column (fixed-length or variable-length) as floats; the first
    ``length`` of them when NGROUPS is given."""
    try:
        arr = np.asarray(values[i], dtype=float).ravel()
    except (TypeError, ValueError):
        raise ReferenceFileError(f"{path}: column {column} of {MEASURED_EXTNAME} must hold "
                                 f"arrays of real numbers, not {values.dtype}") from None
    if length is not None:
        if not 0 <= length <= arr.size:
            raise ReferenceFileError(
                f"{path}: {MEASURED_EXTNAME} row {i + 1} has NGROUPS = {length} but its "
                f"{column} holds {arr.size} values")
        arr = arr[:length]
    if column.endswith("_ERR") and arr.size and np.all(np.isnan(arr)):
        return None     # the padding of a row written without uncertainties
    if not np.all(np.isfinite(arr)):
        raise ReferenceFileError(f"{path}: {MEASURED_EXTNAME} row {i + 1} has a value of "
                                 f"{column} that is not finite")
    return arr


def _read_measured_table(hdu, path):
    cols, nrows = _columns(hdu, path, ("subarray", "readpatt", "integration", "rows",
                                       "window_start", "a", "b"),
                           ("ngroups", "a_err", "b_err"))
    subarrays = _strings(cols["subarray"], "SUBARRAY", path, MEASURED_EXTNAME)
    readpatts = _strings(cols["readpatt"], "READPATT", path, MEASURED_EXTNAME)
    kinds = _strings(cols["integration"], "INTEGRATION", path, MEASURED_EXTNAME)
    parities = _strings(cols["rows"], "ROWS", path, MEASURED_EXTNAME)
    windows = _integers(cols["window_start"], "WINDOW_START", path, MEASURED_EXTNAME)
    lengths = (_integers(cols["ngroups"], "NGROUPS", path, MEASURED_EXTNAME)
               if "ngroups" in cols else [None] * nrows)
    rows = []
    for i in range(nrows):
        groups = {c: _per_group(cols[c], i, c.upper(), path, lengths[i])
                  for c in ("a", "b", "a_err", "b_err") if c in cols}
        if windows[i] < 1:
            raise ReferenceFileError(
                f"{path}: {MEASURED_EXTNAME} row {i + 1} has WINDOW_START = {windows[i]}; "
                "expected a group number >= 1 (groups are counted from 1 in the table)")
        try:
            rows.append(MeasuredRow(subarrays[i].rstrip(), readpatts[i].rstrip(), kinds[i],
                                    parities[i], windows[i] - 1, **groups))
        except (TypeError, ValueError) as exc:
            raise ReferenceFileError(f"{path}: {MEASURED_EXTNAME} row {i + 1}: {exc}") from None
    for row in rows:     # every pair complete: an EVEN row has its ODD row
        _measured_model(rows, row.readpatt, row.subarray, path)
    return tuple(rows)


def read_reference(path: "Union[str, os.PathLike[str]]") -> "Reference":
    """Read an RSCD reference file of either form.

    Parameters
    ----------
    path : str or os.PathLike
        A FITS file with an ``RSCD_GROUP_SKIP`` table, an ``RSCD`` table, or both.

    Returns
    -------
    Reference
        Frozen; reusable for any number of exposures.

    Raises
    ------
    ReferenceFileError
        The file cannot be read as FITS, has neither table, lacks columns, has
        columns of the wrong type, an EVEN row without its ODD row (or the
        reverse), a negative ``group_skip``, or a non-finite or non-positive
        ``TAU``/``PARAM3``.

    Examples
    --------
    >>> ref = rscd.read_reference(flag_reference_path)
    >>> ref.lookup("FAST", "FULL")
    SkipRow(subarray='FULL', readpatt='FAST', skip_int1=1, skip_int2p=2)
    """
    path = os.fspath(path)
    # astropy only warns about a truncated file (and reads what is there); a truncated
    # reference file is malformed, whatever the caller's warning filters (issue 9).
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            ref = _read_reference(path)
            error = None
        except ReferenceFileError as exc:
            ref, error = None, exc
    truncated = [" ".join(str(w.message).split()) for w in caught
                 if "truncated" in str(w.message)]
    if truncated:
        raise ReferenceFileError(f"{path}: truncated FITS file ({truncated[0]})") from error
    if error is not None:
        raise error
    for w in caught:
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return ref


def as_reference(reference: "str | os.PathLike[str] | Reference") -> "Reference":
    """``reference`` as a :class:`Reference`: one already read is returned as it is, a
    path is read with :func:`read_reference`.

    Raises
    ------
    TypeError
        Neither a path nor a Reference.
    ReferenceFileError
        As :func:`read_reference`.
    """
    if isinstance(reference, Reference):
        return reference
    if isinstance(reference, (str, os.PathLike)):
        return read_reference(reference)
    raise TypeError("reference must be a path or an rscd.Reference, "
                    f"not {type(reference).__name__}")


def _read_reference(path):
    try:
        check_structure(path)   # astropy would loop for ever on some damaged headers
        with fits.open(path, memmap=False) as hdul:
            hdul.verify("exception")
            detector = hdul[0].header.get("DETECTOR")
            skip_hdu = _table_hdu(hdul, SKIP_EXTNAME, path)
            decay_hdu = _table_hdu(hdul, DECAY_EXTNAME, path)
            measured_hdu = _table_hdu(hdul, MEASURED_EXTNAME, path)
            if skip_hdu is None and decay_hdu is None and measured_hdu is None:
                raise ReferenceFileError(
                    f"{path}: no {SKIP_EXTNAME} or {DECAY_EXTNAME} table extension (nor "
                    f"{MEASURED_EXTNAME}); extensions present: "
                    f"{', '.join(h.name for h in hdul[1:]) or 'none'}")
            skip_rows = _read_skip_table(skip_hdu, path) if skip_hdu is not None else None
            decay_rows = _read_decay_table(decay_hdu, path) if decay_hdu is not None else None
            measured_rows = (_read_measured_table(measured_hdu, path)
                             if measured_hdu is not None else None)
    except (ReferenceFileError, FileNotFoundError):
        raise
    except Exception as exc:  # astropy raises OSError, ValueError, TypeError... on garbage
        raise ReferenceFileError(f"{path}: not a readable FITS reference file ({exc})") from exc
    return Reference(name=os.path.basename(path), path=path,
                     detector=str(detector).strip() if detector is not None else None,
                     skip_rows=skip_rows, decay_rows=decay_rows,
                     measured_rows=measured_rows)


def _primary(detector, descrip, pedigree, author):
    hdr = fits.Header()
    hdr["TELESCOP"] = "JWST"
    hdr["INSTRUME"] = "MIRI"
    hdr["DETECTOR"] = detector
    hdr["REFTYPE"] = "RSCD"
    hdr["DESCRIP"] = descrip
    hdr["PEDIGREE"] = pedigree
    hdr["AUTHOR"] = author
    hdr["USEAFTER"] = "2000-01-01T00:00:00"
    hdr["DATAMODL"] = "RSCDModel"
    return fits.PrimaryHDU(header=hdr)


def _write(hdul, path, overwrite):
    # Written whole to a temporary name, then renamed: never a half-written file.
    path = os.fspath(path)
    if os.path.exists(path) and not overwrite:
        raise FileExistsError(f"{path} exists; pass overwrite=True to replace it")
    with atomic_write(path) as fh:     # a locked temporary file per writer (issue 15.8)
        hdul.writeto(fh)


def _skip_hdu(rows):
    skip_rows = [r if isinstance(r, SkipRow) else SkipRow(*r) for r in rows]
    with_skip1 = any(r.skip_int1 is not None and r.skip_int1 >= 0 for r in skip_rows)
    cols = [fits.Column("subarray", "17A", array=[r.subarray for r in skip_rows]),
            fits.Column("readpatt", "12A", array=[r.readpatt for r in skip_rows])]
    if with_skip1:
        cols.append(fits.Column("group_skip1", "J", array=[
            -1 if r.skip_int1 is None else r.skip_int1 for r in skip_rows]))
    cols.append(fits.Column("group_skip", "J", array=[r.skip_int2p for r in skip_rows]))
    return fits.BinTableHDU.from_columns(cols, name=SKIP_EXTNAME)


def _measured_hdu(rows):
    """The RSCD_MEASURED table: fixed-length array columns as long as the longest row,
    padded with 0 (NaN for the uncertainties); NGROUPS gives each row's length."""
    rows = list(rows)
    for n, row in enumerate(rows):
        if not isinstance(row, MeasuredRow):
            raise TypeError(f"measured rows[{n}] must be a MeasuredRow, not "
                            f"{type(row).__name__}")
    width = max([len(r.a) for r in rows] + [1])

    def padded(field, fill):
        out = np.full((len(rows), width), fill)
        for i, r in enumerate(rows):
            values = getattr(r, field)
            if values is not None:
                out[i, :len(values)] = values
        return out

    cols = [fits.Column("SUBARRAY", "20A", array=[r.subarray for r in rows]),
            fits.Column("READPATT", "12A", array=[r.readpatt for r in rows]),
            fits.Column("INTEGRATION", "2A", array=[r.integration for r in rows]),
            fits.Column("ROWS", "4A", array=[r.rows for r in rows]),
            fits.Column("WINDOW_START", "J", array=[r.window_start + 1 for r in rows]),
            fits.Column("NGROUPS", "J", array=[len(r.a) for r in rows]),
            fits.Column("A", f"{width}D", array=padded("a", 0.0)),
            fits.Column("B", f"{width}D", unit="DN", array=padded("b", 0.0))]
    if any(r.a_err is not None for r in rows):
        cols.append(fits.Column("A_ERR", f"{width}D", array=padded("a_err", np.nan)))
    if any(r.b_err is not None for r in rows):
        cols.append(fits.Column("B_ERR", f"{width}D", unit="DN", array=padded("b_err", np.nan)))
    hdu = fits.BinTableHDU.from_columns(cols, name=MEASURED_EXTNAME)
    hdu.header["COMMENT"] = ("group j (A/B element j, counted from 1) is A*s + B DN above "
                             "the ramp line; s: DN per group")
    hdu.header["COMMENT"] = ("WINDOW_START: first group (from 1) of the window the slope "
                             "s is taken from")
    return hdu


def write_measured_reference(path: "Union[str, os.PathLike[str]]",
                             rows: Iterable[MeasuredRow], *,
                             skip_rows: Optional[Iterable[Union[SkipRow, Sequence[Any]]]] = None,
                             detector: str = "MIRIMAGE",
                             descrip: str = "RSCD transient measured by rscd diagnose",
                             pedigree: str = "DUMMY", author: str = "rscd",
                             overwrite: bool = False) -> None:
    """Write an ``RSCD_MEASURED`` reference file (the ``measured`` method), with an
    ``RSCD_GROUP_SKIP`` table beside it when ``skip_rows`` is given (one file for both
    ``flag`` and ``measured``; ``method="auto"`` then picks ``flag``).

    Parameters
    ----------
    path : str or os.PathLike
        The FITS file to write (written to a temporary name, then renamed).
    rows : iterable of MeasuredRow
        One per SUBARRAY/READPATT, integration kind ("1", "2+") and row parity; each
        kind written needs both parities.
    skip_rows : iterable of SkipRow or tuples, optional
        As the rows of :func:`write_flag_reference`.
    detector, descrip, pedigree, author : str
        Primary header keywords DETECTOR, DESCRIP, PEDIGREE and AUTHOR.
    overwrite : bool
        Replace an existing file.

    Raises
    ------
    FileExistsError
        ``path`` exists and ``overwrite`` is false.
    ReferenceFileError
        A kind with an EVEN row and no ODD row, or the reverse.

    Examples
    --------
    >>> rows = [rscd.MeasuredRow("FULL", "FAST", "2+", parity, 4, a=[0.5, 0.2, 0.05],
    ...                          b=[30.0, 10.0, 2.0]) for parity in ("EVEN", "ODD")]
    >>> rscd.write_measured_reference("my_measured.fits", rows, overwrite=True)
    >>> rscd.read_reference("my_measured.fits").default_method()
    'measured'
    """
    rows = list(rows)
    for row in rows:
        _measured_model(rows, row.readpatt, row.subarray, os.fspath(path))
    hdus = [_primary(detector, descrip, pedigree, author)]
    if skip_rows is not None:
        hdus.append(_skip_hdu(skip_rows))
    hdus.append(_measured_hdu(rows))
    _write(fits.HDUList(hdus), path, overwrite)


def write_flag_reference(path: "Union[str, os.PathLike[str]]",
                         rows: Iterable[Union[SkipRow, Sequence[Any]]],
                         *, detector: str = "MIRIMAGE",
                         descrip: str = "RSCD group skip table", pedigree: str = "DUMMY",
                         author: str = "rscd", overwrite: bool = False,
                         measured: Optional[Iterable[MeasuredRow]] = None) -> None:
    """Write an ``RSCD_GROUP_SKIP`` reference file (the form jwst 3.0.0 reads).

    Parameters
    ----------
    path : str or os.PathLike
        The FITS file to write (written to a temporary name, then renamed).
    rows : iterable of SkipRow or (subarray, readpatt, skip_int1, skip_int2p)
        Groups to flag in integration 1 and in integrations 2+ (integers >= 0) for each
        SUBARRAY/READPATT pair. When every ``skip_int1`` is negative or None, the
        ``group_skip1`` column is left out (the deprecated form).
    detector, descrip, pedigree, author : str
        Primary header keywords DETECTOR, DESCRIP, PEDIGREE and AUTHOR.
    overwrite : bool
        Replace an existing file.
    measured : iterable of MeasuredRow, optional
        Also write an ``RSCD_MEASURED`` table (:func:`write_measured_reference`).

    Raises
    ------
    FileExistsError
        ``path`` exists and ``overwrite`` is false.

    Examples
    --------
    >>> rscd.write_flag_reference("my_rscd.fits", [("FULL", "FAST", 1, 3)], overwrite=True)
    >>> rscd.read_reference("my_rscd.fits").lookup("FAST", "FULL")
    SkipRow(subarray='FULL', readpatt='FAST', skip_int1=1, skip_int2p=3)
    """
    if measured is not None:
        write_measured_reference(path, measured, skip_rows=rows, detector=detector,
                                 descrip=descrip, pedigree=pedigree, author=author,
                                 overwrite=overwrite)
        return
    _write(fits.HDUList([_primary(detector, descrip, pedigree, author), _skip_hdu(rows)]),
           path, overwrite)


def write_decay_reference(path: "Union[str, os.PathLike[str]]", rows: Iterable[DecayRow], *,
                          detector: str = "MIRIMAGE",
                          descrip: str = "RSCD decay parameters", pedigree: str = "DUMMY",
                          author: str = "rscd", overwrite: bool = False) -> None:
    """Write a seed-era ``RSCD`` reference file: an EVEN and an ODD row per DecayRow.

    Parameters
    ----------
    path : str or os.PathLike
        The FITS file to write (written to a temporary name, then renamed).
    rows : iterable of DecayRow
        SUBARRAY, READPATT and the 14 parameters (:class:`DecayCoeffs`) of the even and
        the odd detector rows.
    detector, descrip, pedigree, author : str
        Primary header keywords DETECTOR, DESCRIP, PEDIGREE and AUTHOR.
    overwrite : bool
        Replace an existing file.

    Raises
    ------
    FileExistsError
        ``path`` exists and ``overwrite`` is false.

    Examples
    --------
    >>> c = dict(tau=1.5, ascale=3e-7, pow=1.0, illum_zp=1.0, illum_slope=0.0, illum2=0.0,
    ...          param3=1e7, crossopt=0.0, sat_zp=1.0, sat_slope=0.0, sat_2=0.0,
    ...          sat_mzp=3.0, sat_rowterm=0.0, sat_scale=0.0)
    >>> row = rscd.DecayRow("FULL", "FAST", rscd.DecayCoeffs(**c), rscd.DecayCoeffs(**c))
    >>> rscd.write_decay_reference("my_decay.fits", [row], overwrite=True)
    >>> rscd.read_reference("my_decay.fits").default_method()
    'decay'
    """
    flat = [(r, parity, coeffs) for r in rows
            for parity, coeffs in (("EVEN", r.even), ("ODD", r.odd))]
    cols = [fits.Column("SUBARRAY", "20A", array=[r.subarray for r, _, _ in flat]),
            fits.Column("READPATT", "12A", array=[r.readpatt for r, _, _ in flat]),
            fits.Column("ROWS", "4A", array=[p for _, p, _ in flat])]
    for name in DECAY_PARAMETERS:
        cols.append(fits.Column(name.upper(), "D", array=[getattr(c, name) for _, _, c in flat]))
    table = fits.BinTableHDU.from_columns(cols, name=DECAY_EXTNAME)
    _write(fits.HDUList([_primary(detector, descrip, pedigree, author), table]), path, overwrite)
