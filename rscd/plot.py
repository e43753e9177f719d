"""See the correction: the ramp of one pixel before and after RSCD, as in the figure of the
JWST pipeline's 2019 RSCD notebook (the document rscd started from).

Two panels share the group axis (groups 1 ... ngroups): the ramp of one pixel in one
integration, in DN, before (red triangles) and after (blue circles) the correction, and
below it the ratio before / after. ``flag`` leaves SCI alone and sets DO_NOT_USE on the
first groups, so its figure draws the ramp once, shades the groups the step flagged, draws
DO_NOT_USE groups open and fits a dashed line to the groups still used. SATURATED groups
are crossed.

``before`` and ``after`` are each a ramp file path (read through memory maps,
:func:`rscd.fits.open_ramp`), a tuple ``(data,)``, ``(data, groupdq)`` or
``(data, groupdq, pixeldq)`` of arrays in the ``RampModel`` layout (a bare array is
``(data,)``), or an object with ``data`` and ``groupdq`` (a jwst ``RampModel``).

Pixels are ``(y, x)`` array indices from 0, numpy order (DS9 shows x + 1, y + 1).
Integrations are counted from 1 in the file, as ``rscd plot --integration`` and the titles
count them: ``integration_number=1`` is the first, -1 (default) the last; the older
``integration=`` (an index from 0) still works and warns. matplotlib is optional
(``pip install matplotlib``) and imported only to draw; :func:`pick_pixel` needs only
numpy. The ``rscd plot`` command is defined in :mod:`rscd.cli`.
"""
import argparse
import os
import sys
import warnings
from dataclasses import dataclass
from typing import Any, Dict, Optional, Sequence, Tuple, Union

import numpy as np

from .correct import METHOD_KEYWORD
from .errors import error_text
from .fits import open_ramp
from .safe_files import file_key
from ._ramp_figure import draw
from .dq import DO_NOT_USE, REFERENCE_PIXEL, SATURATED

__all__ = ["ramp", "save_figure", "pick_pixel", "demo_figures", "main", "INSTALL_HINT",
           "require_matplotlib"]

Path = Union[str, "os.PathLike[str]"]
Source = Any        # a path, a tuple of arrays, an array or a RampModel (module docs)
Pixel = Tuple[int, int]             # (y, x), array row and column from 0

#: MIRI reference pixels when no PIXELDQ is available: detector columns 1-4 and 1029-1032.
_REFERENCE_COLUMNS = (1, 4, 1029, 1032)

INSTALL_HINT = ("rscd figures need matplotlib: pip install matplotlib (into the Python "
                "environment that has rscd)")

_FIGSIZE = (9.0, 7.0)                                   # inches
_PANELS: Dict[str, Any] = dict(height_ratios=(2.3, 1), hspace=0.06)


def require_matplotlib() -> Any:
    """Import matplotlib (lazily: only figures need it) and return it.

    Raises
    ------
    ImportError
        matplotlib is not installed; the message (:data:`INSTALL_HINT`) says how to
        install it.
    """
    try:
        import matplotlib
        import matplotlib.figure  # noqa: F401
        import matplotlib.ticker  # noqa: F401
    except ImportError as exc:
        raise ImportError(INSTALL_HINT) from exc
    return matplotlib


# --------------------------------------------------------------------------- inputs


@dataclass
class _Ramps:
    """One ramp source as 4-d arrays (memory maps for a file), read a plane or a pixel at a
    time so that a full-frame exposure is never read whole."""
    data: Any
    groupdq: Any
    pixeldq: Any = None             # (nrows, ncols) uint32, or None
    name: Optional[str] = None
    substrt1: int = 1
    integration_start: int = 1
    method: Optional[str] = None    # the method the file's header names (RSCDMETH), if any

    @property
    def shape(self):
        return self.data.shape

    def read(self, *index):
        """SCI (float64) and GROUPDQ (uint8) at ``index``."""
        return (np.asarray(self.data[index], np.float64),
                np.asarray(self.groupdq[index], np.uint8))

    def reference_mask(self):
        """PIXELDQ REFERENCE_PIXEL, or without PIXELDQ, MIRI's reference columns."""
        if self.pixeldq is not None:
            return (np.asarray(self.pixeldq).astype(np.uint32) & REFERENCE_PIXEL) != 0
        col = self.substrt1 + np.arange(self.shape[3])
        lo1, hi1, lo2, hi2 = _REFERENCE_COLUMNS
        refcol = ((col >= lo1) & (col <= hi1)) | ((col >= lo2) & (col <= hi2))
        return np.broadcast_to(refcol, self.shape[2:])


def _positive(value):
    """A keyword such as SUBSTRT1 or INTSTART, 1 when missing or not a positive integer."""
    ok = isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value >= 1
    return int(value) if ok else 1


def _load(source, what):
    if isinstance(source, (str, os.PathLike)):
        sci, groupdq, pixeldq, header = open_ramp(source)
        return _Ramps(sci, groupdq, pixeldq, os.path.basename(os.fspath(source)),
                      _positive(header.get("SUBSTRT1")), _positive(header.get("INTSTART")),
                      header.get(METHOD_KEYWORD))
    if isinstance(source, np.ndarray):
        source = (source,)
    if isinstance(source, (tuple, list)):
        if not 1 <= len(source) <= 3:
            raise TypeError(f"{what}: a tuple must be (data,), (data, groupdq) or "
                            f"(data, groupdq, pixeldq), not {len(source)} items")
        ramps = _Ramps(*source, *(None,) * (3 - len(source)))
    elif hasattr(source, "data") and hasattr(source, "groupdq"):
        meta = getattr(source, "meta", None)
        ramps = _Ramps(source.data, source.groupdq, getattr(source, "pixeldq", None),
                       getattr(meta, "filename", None),
                       _positive(getattr(getattr(meta, "subarray", None), "xstart", None)),
                       _positive(getattr(getattr(meta, "exposure", None), "integration_start",
                                         None)))
    else:
        raise TypeError(f"{what} must be a FITS file path, a (data, groupdq[, pixeldq]) "
                        f"tuple of arrays or a RampModel, not {type(source).__name__}")
    if ramps.data is None:
        raise ValueError(f"{what}: no SCI data")
    data, groupdq = (None if v is None else np.asarray(v) for v in (ramps.data, ramps.groupdq))
    ramps.data = data[None] if data.ndim == 3 else data     # a cube: one integration
    if ramps.data.ndim != 4:
        raise ValueError(f"{what}: SCI must have shape (nints, ngroups, nrows, ncols), "
                         f"not {data.shape}")
    groupdq = np.broadcast_to(np.uint8(0), ramps.shape) if groupdq is None else groupdq
    ramps.groupdq = groupdq[None] if groupdq.ndim == 3 else groupdq
    if ramps.groupdq.shape != ramps.shape:
        raise ValueError(f"{what}: GROUPDQ has shape {groupdq.shape}, SCI {ramps.shape}")
    if ramps.pixeldq is not None:
        ramps.pixeldq = np.asarray(ramps.pixeldq)
        if ramps.pixeldq.shape != ramps.shape[2:]:
            raise ValueError(f"{what}: PIXELDQ has shape {ramps.pixeldq.shape}; expected "
                             f"(nrows, ncols) = {ramps.shape[2:]}")
    return ramps


def _pair(before, after):
    b, a = _load(before, "before"), _load(after, "after")
    if a.shape != b.shape:
        raise ValueError(f"before and after differ in shape: {b.shape} and {a.shape} "
                         "(nints, ngroups, nrows, ncols)")
    return b, a


def _index(number, integration, nints, stacklevel=3):
    """The 0-based index of integration ``number`` (from 1; negative from the end), or of
    the deprecated ``integration`` (an index from 0) when one is given."""
    name, value, first, last = "integration_number", number, 1, nints
    if integration is not None:
        warnings.warn("integration= (an index from 0) is deprecated: pass "
                      "integration_number=, counted from 1 as rscd plot --integration and the "
                      "figure titles count (integration=i is integration_number=i + 1; -1 is "
                      "the last in both)", DeprecationWarning, stacklevel=stacklevel)
        name, value, first, last = "integration", integration, 0, nints - 1
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer, not {type(value).__name__}")
    number = value + 1 - first if value >= 0 else value
    if number == 0 or not -nints <= number <= nints:
        raise ValueError(f"{name} {value} is out of range: the data hold {nints} "
                         f"integration(s) ({first} ... {last}, or -1 for the last)")
    return int(number) - 1 if number > 0 else int(number) + nints


def _check_pixel(pixel, shape):
    try:
        y, x = (int(v) for v in pixel)
    except (TypeError, ValueError):
        raise TypeError(f"pixel must be a pair (y, x) of integers, not {pixel!r}") from None
    nrows, ncols = shape[2:]
    if not (0 <= y < nrows and 0 <= x < ncols):
        raise ValueError(f"pixel (y, x) = ({y}, {x}) is outside the {nrows} x {ncols} "
                         f"(rows x columns) array; y is 0 ... {nrows - 1}, x 0 ... {ncols - 1}")
    return y, x


# --------------------------------------------------------------------------- pixel choice


def _pick(b, a, i):
    """See :func:`pick_pixel`; one group plane of each integration read at a time."""
    shape = b.shape[2:]
    changed = np.zeros(shape, bool)
    newly = np.zeros(shape, np.int64)
    saturated = np.zeros(shape, bool)        # in this integration or the previous one
    top = np.full(shape, -np.inf)
    with np.errstate(invalid="ignore"):
        for g in range(b.shape[1]):
            (sci_b, dq_b), (sci_a, dq_a) = b.read(i, g), a.read(i, g)
            diff = np.abs(sci_a - sci_b)
            changed |= np.isfinite(diff) & (diff > 0)
            np.fmax(top, sci_b, out=top)
            newly += ((dq_a & DO_NOT_USE) != 0) & ((dq_b & DO_NOT_USE) == 0)
            saturated |= (dq_b & SATURATED) != 0
            if i:
                saturated |= (b.read(i - 1, g)[1] & SATURATED) != 0
        # What sets the size of the RSCD: the previous integration's last frame; in the
        # first integration, with none before it, the rise of the ramp.
        bright = b.read(i - 1, -1)[0] if i else top - b.read(i, 0)[0]
    bright = np.where(np.isfinite(bright), bright, -np.inf)
    usable = ~b.reference_mask() & ~a.reference_mask()
    if not usable.any():                # only reference pixels: better some pixel than none
        usable = np.ones(shape, bool)
    if (usable & changed).any():                                        # decay
        usable &= changed
    elif (usable & (newly > 0)).any():                                  # flag: the full skip
        usable &= newly == newly[usable].max()
    clean = usable & ~saturated
    pool = clean if clean.any() else usable
    flat = np.argmax(np.where(pool, bright, -np.inf))
    return tuple(int(v) for v in np.unravel_index(flat, shape))


def pick_pixel(before: Source, after: Source, integration: Optional[int] = None, *,
               integration_number: int = -1) -> Pixel:
    """The pixel (y, x), array indices from 0, that shows the correction best in one
    integration (``integration_number`` from 1, -1 the last; ``integration``: deprecated
    index from 0). The same pixel for either method's output, so that a ``flag`` and a
    ``decay`` figure of one exposure can be compared:

    * among the science pixels the correction changed in this integration: SCI
      (``decay``), or for ``flag`` the most newly DO_NOT_USE groups (the full skip, not
      backed off); all of them when nothing changed. Reference pixels (PIXELDQ
      REFERENCE_PIXEL, or MIRI's reference columns) only when there is nothing else;
    * preferring pixels that saturate neither in this integration nor the previous one;
    * the brightest: the largest last frame of the previous integration, which sets the
      size of the RSCD (in the first integration: the largest rise of the ramp).

    >>> import numpy as np, rscd.plot
    >>> before = np.zeros((2, 5, 3, 10), np.float32)   # (nints, ngroups, nrows, ncols)
    >>> after = before.copy()
    >>> after[1, :, 2, 6] += 7.0            # SCI changed at (y, x) = (2, 6)
    >>> rscd.plot.pick_pixel((before,), (after,))
    (2, 6)
    """
    b, a = _pair(before, after)
    return _pick(b, a, _index(integration_number, integration, b.shape[0]))


# --------------------------------------------------------------------------- figures


def _prepare(before, after, pixel, integration_number, integration):
    b, a = _pair(before, after)
    i = _index(integration_number, integration, b.shape[0], stacklevel=4)  # the caller's line
    return b, a, i, (_pick(b, a, i) if pixel is None else _check_pixel(pixel, b.shape))


def ramp(before: Source, after: Source, pixel: Optional[Pixel] = None,
         integration: Optional[int] = None, *, integration_number: int = -1,
         axes: Optional[Sequence[Any]] = None, method: Optional[str] = None,
         title: Optional[str] = None, before_label: str = "input ramp",
         after_label: str = "RSCD corrected ramp") -> Any:
    """Draw the two-panel figure of the JWST pipeline's 2019 RSCD notebook for one pixel and
    return the matplotlib Figure.

    ``before`` and ``after`` are paths, tuples of arrays or RampModels (see the module
    documentation); ``pixel`` (y, x) counts from 0 (default: :func:`pick_pixel`'s);
    ``integration_number`` from 1, -1 (default) the last, as in that notebook; ``integration``
    is the deprecated index from 0. The figure is drawn into ``axes`` (top, bottom; the
    bottom sharing x with the top), or a new ``pyplot`` figure ready for ``plt.show()``.
    ``method`` (for the title) is found when left out: the one an ``after`` file's header
    names (a ``measured`` run writes RSCDMETH), else "decay" when SCI changed, "flag" when
    only DO_NOT_USE did. ``title``, ``before_label`` and
    ``after_label`` replace the title and the legend's labels.

    Raises ImportError, saying ``pip install matplotlib``, without matplotlib.
    """
    require_matplotlib()
    b, a, i, (y, x) = _prepare(before, after, pixel, integration_number, integration)
    own = axes is None
    if axes is None:
        import matplotlib.pyplot as plt
        axes = plt.subplots(2, 1, sharex=True, figsize=_FIGSIZE, gridspec_kw=_PANELS,
                            layout="constrained")[1]
    axes = tuple(axes)
    if len(axes) != 2:
        raise ValueError(f"axes must be two Axes (top, bottom), not {len(axes)}")
    draw(axes, b, a, y, x, i, own, method, title, before_label, after_label)
    return axes[0].figure


def save_figure(before: Source, after: Source, path: Path, pixel: Optional[Pixel] = None,
                integration: Optional[int] = None, *, integration_number: int = -1,
                dpi: int = 150, overwrite: bool = False, method: Optional[str] = None,
                title: Optional[str] = None, before_label: str = "input ramp",
                after_label: str = "RSCD corrected ramp") -> Pixel:
    """Draw :func:`ramp` (same arguments) on a figure of its own, without pyplot or a
    display, save it to ``path`` (format from the extension: .png, .pdf, .svg ...; ``dpi``
    for raster formats) and return the pixel (y, x) drawn.

    An existing ``path`` is refused (FileExistsError, nothing drawn) unless
    ``overwrite=True`` (``rscd plot --overwrite``), as everywhere in rscd. A ``path``
    that is one of the ramp files drawn is always refused. ImportError (with the install hint) without matplotlib;
    ValueError or TypeError for shapes that differ, a pixel or integration out of range.

    >>> import rscd.plot
    >>> _ = rscd.apply_file(ramp_path, "rscd_demo/example_rscd_decay.fits",
    ...                     output="decay_rscd.fits", overwrite=True)
    >>> rscd.plot.save_figure(ramp_path, "decay_rscd.fits", "ramp.png")
    (25, 41)
    """
    require_matplotlib()
    from matplotlib.figure import Figure

    for source in (before, after):
        if isinstance(source, (str, os.PathLike)) and file_key(source) == file_key(path):
            raise FileExistsError(f"{os.fspath(path)} is a ramp file being drawn; give the "
                                  "figure another name")
    if not overwrite and os.path.exists(path):
        raise FileExistsError(f"{os.fspath(path)} exists; use --overwrite (overwrite=True) "
                              "to replace it")
    b, a, i, (y, x) = _prepare(before, after, pixel, integration_number, integration)
    fig = Figure(figsize=_FIGSIZE, layout="constrained")
    axes = fig.subplots(2, 1, sharex=True, gridspec_kw=_PANELS)
    draw(axes, b, a, y, x, i, True, method, title, before_label, after_label)
    fig.savefig(os.fspath(path), dpi=dpi)
    return (y, x)


def demo_figures(directory: Path, exposure: Path, flag_output: Path, decay_output: Path, *,
                 pixel: Optional[Pixel] = None, integration: Optional[int] = None,
                 integration_number: int = -1, overwrite: bool = False) -> Dict[str, Any]:
    """Write the demo's ramp figures into ``directory``: the input ``exposure`` against the
    ``flag`` and the ``decay`` output (ramp file paths), named after the outputs with
    ``_ramp.png``. Both show one pixel, ``pixel`` or :func:`pick_pixel`'s (the same for
    either output, the one ``rscd plot`` draws). Returns ``{"flag": png_path, "decay":
    png_path, "pixel": (y, x)}``; other arguments and errors as :func:`save_figure`.
    """
    require_matplotlib()
    b, a, i, pixel = _prepare(exposure, decay_output, pixel, integration_number, integration)
    out: Dict[str, Any] = {"pixel": pixel}
    for method, output in (("flag", flag_output), ("decay", decay_output)):
        stem = os.path.splitext(os.path.basename(os.fspath(output)))[0]
        out[method] = os.path.join(os.fspath(directory), f"{stem}_ramp.png")
        save_figure(exposure, output, out[method], pixel, integration_number=i + 1,
                    method=method, overwrite=overwrite)
    return out


def _parser():
    parser = argparse.ArgumentParser(
        prog="rscd plot",
        description="Draw the ramp of one pixel before and after the RSCD correction (top) "
                    "and their ratio (bottom), as in the JWST pipeline's RSCD walkthrough. "
                    "For the flag method, whose SCI is unchanged, the groups set to "
                    "DO_NOT_USE are shaded and drawn with open markers. Needs matplotlib "
                    '(pip install matplotlib).',
        epilog="example: rscd plot jw01_mirimage_linearity.fits jw01_mirimage_rscd.fits "
               "--pixel 600 500 -o ramp.png")
    parser.add_argument("input", metavar="INPUT.fits", help="ramp file before the correction")
    parser.add_argument("output", metavar="OUTPUT.fits", help="ramp file after the correction")
    parser.add_argument("-p", "--pixel", nargs=2, type=int, metavar=("Y", "X"),
                        help="row and column, numpy order, from 0 (DS9 shows x+1, y+1); "
                             "default: the pixel rscd.plot.pick_pixel chooses, the one the "
                             "demo's figures show")
    parser.add_argument("-i", "--integration", type=int, default=-1, metavar="N",
                        help="integration in the file, from 1; negative counts from the "
                             "end (default: -1, the last)")
    parser.add_argument("-o", "--figure", metavar="FIGURE.png",
                        help="where to write the figure (.png, .pdf, .svg ...; default: "
                             "OUTPUT name with _ramp.png, next to it)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace an existing figure file")
    parser.add_argument("--dpi", type=int, default=150, help="resolution (default: %(default)s)")
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    """The ``rscd plot`` command (``python -m rscd.plot`` too); returns the exit status
    (0, or 1 with one line on stderr)."""
    args = _parser().parse_args(sys.argv[1:] if argv is None else argv)

    def fail(text):
        print(f"rscd plot: error: {' '.join(str(text).split())}", file=sys.stderr)
        return 1

    if args.dpi < 1:
        return fail(f"--dpi must be >= 1, not {args.dpi}")
    figure = args.figure or os.path.splitext(args.output)[0] + "_ramp.png"
    try:
        for path in (args.input, args.output):
            if not os.path.isfile(path):
                return fail(f"{path}: no such file")
        nints = open_ramp(args.input).sci.shape[0]
        n = args.integration
        if n == 0 or not -nints <= n <= nints:
            return fail(f"--integration {n}: {args.input} holds {nints} integration(s); "
                        f"give 1 ... {nints}, or -1 for the last")
        y, x = save_figure(args.input, args.output, figure, pixel=args.pixel,
                           integration_number=n, dpi=args.dpi, overwrite=args.overwrite)
    except KeyboardInterrupt:
        return fail("interrupted")
    except (ImportError, OSError, ValueError, TypeError) as exc:
        return fail(error_text(exc))
    print(f"wrote {figure}: pixel (y, x) = ({y}, {x}), integration "
          f"{n if n > 0 else n + nints + 1} of {nints}")
    return 0


if __name__ == "__main__":          # python -m rscd.plot
    raise SystemExit(main())
