"""See the correction: the ramp of one pixel before and after RSCD, as in the seed's figure.

The figure has two panels sharing the group axis (groups numbered 1 ... ngroups):

* top: the ramp of one pixel for one integration, in DN, before (red triangles) and after
  (blue circles) the correction, with a legend and a title naming the pixel and integration;
* bottom: the ratio before / after.

The ``flag`` method leaves SCI as it is and sets DO_NOT_USE on the first groups instead, so
the figure shows what changed: the ramp is drawn once ("SCI unchanged"), the groups that
carry DO_NOT_USE after the step have open markers, the groups the step flagged are shaded
in both panels, and a dashed line fitted to the groups still used shows how far the flagged
groups sit off the ramp. SATURATED groups are crossed.

``before`` and ``after`` are each one of

* a path to a FITS ramp file (extensions SCI and GROUPDQ, PIXELDQ if present), read through
  a memory map, one group plane at a time;
* a tuple ``(data,)``, ``(data, groupdq)`` or ``(data, groupdq, pixeldq)`` of arrays in the
  ``RampModel`` layout: data and groupdq ``(nints, ngroups, nrows, ncols)``, pixeldq
  ``(nrows, ncols)``; a bare data array is ``(data,)``;
* an object with ``data`` and ``groupdq`` attributes (a jwst ``RampModel``; ``pixeldq`` is
  used when present).

Pixels are ``(y, x)`` = (row, column) array indices from 0, numpy order (DS9 shows them as
x + 1, y + 1). ``integration`` is a Python index into the integrations held by the arrays or
file: 0 is the first, -1 (default, as in the seed) the last. Titles count integrations from 1.

matplotlib is optional (``pip install "rscd[plot]"``) and imported only when a figure is
drawn; :func:`pick_pixel` needs only numpy.
"""
import argparse
import os
import sys

import numpy as np

__all__ = ["ramp", "save_figure", "pick_pixel", "demo_figures", "main", "INSTALL_HINT"]

DO_NOT_USE = 1
SATURATED = 2
REFERENCE_PIXEL = 1 << 31
FLUX_ESTIMATED = 1 << 28

#: MIRI reference pixels when no PIXELDQ is available: detector columns 1-4 and 1029-1032.
_REFERENCE_COLUMNS = (1, 4, 1029, 1032)

INSTALL_HINT = ('rscd figures need matplotlib: pip install "rscd[plot]" '
                '(or pip install matplotlib)')

_BEFORE_STYLE = dict(color="#c0392b", marker="^", markersize=6, linestyle="-", linewidth=1.6)
_AFTER_STYLE = dict(color="#1f4e99", marker="o", markersize=6, linestyle="-", linewidth=1.6)
_RATIO_STYLE = dict(color="#1e8449", marker="s", markersize=5, linestyle="-", linewidth=1.6)
_BAND_STYLE = dict(color="#f5b041", alpha=0.28, linewidth=0)


def _matplotlib():
    """Import matplotlib lazily, with a message that says how to get it."""
    try:
        import matplotlib
        import matplotlib.figure  # noqa: F401
        import matplotlib.ticker  # noqa: F401
    except ImportError as exc:
        raise ImportError(INSTALL_HINT) from exc
    return matplotlib


# --------------------------------------------------------------------------- inputs


class _Scaled:
    """An image HDU read without astropy's scaling: indexing returns the memory-mapped
    piece with BSCALE/BZERO applied (uint32 for PIXELDQ's BZERO = 2**31)."""

    def __init__(self, hdu):
        self.raw = hdu.data
        if self.raw is None:
            raise ValueError(f"extension {hdu.name} holds no data")
        self.shape = self.raw.shape
        self.ndim = self.raw.ndim
        self.bscale = hdu.header.get("BSCALE", 1)
        self.bzero = hdu.header.get("BZERO", 0)

    def __getitem__(self, key):
        piece = np.asarray(self.raw[key])
        if self.bscale == 1 and self.bzero == 0:
            return piece
        if self.bscale == 1 and self.bzero == 2**31 and piece.dtype.kind == "i" \
                and piece.dtype.itemsize == 4:
            return piece.astype(np.int32).view(np.uint32) ^ np.uint32(2**31)
        if self.bscale == 1 and self.bzero == -128 and piece.dtype.kind == "u" \
                and piece.dtype.itemsize == 1:
            return piece.astype(np.uint8).view(np.int8) ^ np.int8(-128)
        return piece * self.bscale + self.bzero


class _Ramps:
    """One ramp source (arrays or a FITS file), read one group plane or one pixel at a time.

    Files are memory-mapped, so even a full-frame exposure with many groups is never read
    into memory as a whole; SCI may be big-endian.
    """

    def __init__(self, source, what):
        self.what = what
        self.hdul = None
        self.name = None
        self.substrt1 = 1
        self.integration_start = 1
        if isinstance(source, (str, os.PathLike)):
            self._open(os.fspath(source))
        elif isinstance(source, np.ndarray):
            self._arrays(source, None, None)
        elif isinstance(source, (tuple, list)):
            if not 1 <= len(source) <= 3:
                raise TypeError(f"{what}: a tuple must be (data,), (data, groupdq) or "
                                f"(data, groupdq, pixeldq), not {len(source)} items")
            self._arrays(*source, *(None,) * (3 - len(source)))
        elif hasattr(source, "data") and hasattr(source, "groupdq"):
            pixeldq = getattr(source, "pixeldq", None)
            meta = getattr(source, "meta", None)
            self.name = getattr(meta, "filename", None)
            self._arrays(source.data, source.groupdq, pixeldq)
            try:
                self.substrt1 = int(source.meta.subarray.xstart or 1)
                self.integration_start = int(source.meta.exposure.integration_start or 1)
            except (AttributeError, TypeError, ValueError):
                pass
        else:
            raise TypeError(f"{what} must be a FITS file path, a (data, groupdq[, pixeldq]) "
                            f"tuple of arrays or a RampModel, not {type(source).__name__}")

    def _open(self, path):
        from astropy.io import fits

        self.name = os.path.basename(path)
        try:
            # Scaling off so that nothing needs a full copy; BZERO/BSCALE (PIXELDQ's
            # BZERO = 2**31) are applied to the small pieces read (_scaled).
            self.hdul = fits.open(path, memmap=True, do_not_scale_image_data=True)
        except OSError as exc:
            raise OSError(f"{path}: cannot read as FITS: {exc.strerror or exc}") from None
        names = {hdu.name.upper(): i for i, hdu in enumerate(self.hdul) if i}
        try:
            for ext in ("SCI", "GROUPDQ"):
                if ext not in names:
                    raise ValueError(f"{path}: no {ext} extension (a ramp file has SCI, "
                                     "PIXELDQ and GROUPDQ)")
            data, groupdq = (_Scaled(self.hdul[names[ext]]) for ext in ("SCI", "GROUPDQ"))
            pixeldq = (_Scaled(self.hdul[names["PIXELDQ"]])[...] if "PIXELDQ" in names
                       else None)
            header = self.hdul[0].header
            for key in ("SUBSTRT1", "INTSTART"):
                value = header.get(key, 1)
                if isinstance(value, (int, np.integer)) and not isinstance(value, bool) \
                        and value >= 1:
                    setattr(self, "substrt1" if key == "SUBSTRT1" else "integration_start",
                            int(value))
            self._arrays(data, groupdq, pixeldq, where=path)
        except Exception:
            self.close()
            raise

    def _arrays(self, data, groupdq, pixeldq, where=None):
        where = where or self.what
        if data is None:
            raise ValueError(f"{where}: no SCI data")
        if not isinstance(data, _Scaled):
            data = np.asarray(data)
        if data.ndim == 3 and isinstance(data, np.ndarray):
            data = data[None]
        if data.ndim != 4:
            raise ValueError(f"{where}: SCI must have shape (nints, ngroups, nrows, ncols), "
                             f"not {data.shape}")
        if groupdq is not None and not isinstance(groupdq, _Scaled):
            groupdq = np.asarray(groupdq)
            if groupdq.ndim == 3 and isinstance(groupdq, np.ndarray):
                groupdq = groupdq[None]
            if groupdq.shape != data.shape:
                raise ValueError(f"{where}: GROUPDQ has shape {groupdq.shape}, SCI {data.shape}")
        if pixeldq is not None:
            pixeldq = np.asarray(pixeldq)
            if pixeldq.shape != data.shape[2:]:
                raise ValueError(f"{where}: PIXELDQ has shape {pixeldq.shape}; expected "
                                 f"(nrows, ncols) = {data.shape[2:]}")
        self.data, self.groupdq, self.pixeldq = data, groupdq, pixeldq
        self.shape = data.shape

    def close(self):
        if self.hdul is not None:
            self.hdul.close()
            self.hdul = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def sci_plane(self, i, g):
        return np.asarray(self.data[i, g], dtype=np.float64)

    def dq_plane(self, i, g):
        if self.groupdq is None:
            return np.zeros(self.shape[2:], np.uint8)
        return np.asarray(self.groupdq[i, g], dtype=np.uint8)

    def pixel(self, i, y, x):
        sci = np.asarray(self.data[i, :, y, x], dtype=np.float64)
        dq = (np.zeros(sci.shape, np.uint8) if self.groupdq is None
              else np.asarray(self.groupdq[i, :, y, x], dtype=np.uint8))
        return sci, dq

    def reference_mask(self):
        """True where a pixel is a reference pixel: PIXELDQ REFERENCE_PIXEL, or, without
        PIXELDQ, MIRI's reference columns (detector columns 1-4 and 1029-1032)."""
        if self.pixeldq is not None:
            return (np.asarray(self.pixeldq).astype(np.uint32) & REFERENCE_PIXEL) != 0
        nrows, ncols = self.shape[2:]
        col = self.substrt1 + np.arange(ncols)
        lo1, hi1, lo2, hi2 = _REFERENCE_COLUMNS
        refcol = ((col >= lo1) & (col <= hi1)) | ((col >= lo2) & (col <= hi2))
        return np.broadcast_to(refcol, (nrows, ncols))


def _pair(before, after):
    b = _Ramps(before, "before")
    try:
        a = _Ramps(after, "after")
    except Exception:
        b.close()
        raise
    if a.shape != b.shape:
        b.close()
        a.close()
        raise ValueError(f"before and after differ in shape: {b.shape} and {a.shape} "
                         "(nints, ngroups, nrows, ncols)")
    return b, a


def _integration_index(integration, nints):
    if isinstance(integration, (bool, np.bool_)) or not isinstance(integration,
                                                                  (int, np.integer)):
        raise TypeError(f"integration must be an integer index, not {type(integration).__name__}")
    if not -nints <= integration < nints:
        raise ValueError(f"integration index {integration} is out of range: the data hold "
                         f"{nints} integration(s) (0 ... {nints - 1}, or -1 for the last)")
    return int(integration) % nints


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


def _scores(b, a, i):
    """Per pixel: largest |after - before| in SCI, groups newly DO_NOT_USE, saturated in
    this integration (before), and brightness (largest finite SCI value reached minus
    the first group), computed one group plane at a time."""
    ngroups = b.shape[1]
    change = np.zeros(b.shape[2:])
    newly = np.zeros(b.shape[2:], np.int64)
    saturated = np.zeros(b.shape[2:], bool)
    first = b.sci_plane(i, 0)
    top = np.full(b.shape[2:], -np.inf)
    with np.errstate(invalid="ignore"):
        for g in range(ngroups):
            before, after = b.sci_plane(i, g), a.sci_plane(i, g)
            diff = np.abs(after - before)
            np.fmax(change, np.where(np.isfinite(diff), diff, 0.0), out=change)
            dq_b, dq_a = b.dq_plane(i, g), a.dq_plane(i, g)
            newly += ((dq_a & DO_NOT_USE) != 0) & ((dq_b & DO_NOT_USE) == 0)
            saturated |= (dq_b & SATURATED) != 0
            np.fmax(top, before, out=top)
    bright = np.where(np.isfinite(top - first), top - first, -np.inf)
    return change, newly, saturated, bright


def _pick(b, a, i):
    change, newly, saturated, bright = _scores(b, a, i)
    usable = ~b.reference_mask() & ~a.reference_mask()
    if not usable.any():                # only reference pixels: better some pixel than none
        usable = np.ones(usable.shape, bool)

    def best(candidates, score):
        # prefer pixels that do not saturate in this integration: their ramp shows the
        # correction without clipping
        clean = candidates & ~saturated
        pool = clean if clean.any() else candidates
        flat = np.argmax(np.where(pool, score, -np.inf))
        return tuple(int(v) for v in np.unravel_index(flat, score.shape))

    if (usable & (change > 0)).any():                                   # decay
        return best(usable & (change > 0), change)
    if (usable & (newly > 0)).any():                                    # flag
        most = newly[usable].max()
        return best(usable & (newly == most), bright)
    return best(usable, bright)                                          # nothing changed


def pick_pixel(before, after, integration=-1):
    """Choose the pixel (y, x) that shows the correction best in one integration.

    Reference pixels (PIXELDQ REFERENCE_PIXEL; without PIXELDQ, MIRI's reference columns)
    are never chosen unless the array holds nothing else; among the candidates, pixels
    that do not saturate in this integration are preferred, so the ramp is not clipped.

    * SCI changed (``decay``): the pixel whose SCI changed most, largest
      ``|after - before|`` over the groups.
    * Otherwise, DO_NOT_USE newly set (``flag``): among the pixels with the most newly
      flagged groups (the step's full skip, not backed off for saturation), the brightest,
      largest rise of the ramp in the integration: there the RSCD offset of the first
      groups is largest, which is why they are flagged.
    * Nothing changed in this integration: the brightest pixel.

    Parameters
    ----------
    before, after : path, tuple of arrays or RampModel
        File paths, ``(data, groupdq[, pixeldq])`` tuples or RampModels (see the module
        documentation).
    integration : int
        Python index of the integration, -1 for the last.

    Returns
    -------
    (int, int)
        The pixel (y, x), array indices from 0.

    Examples
    --------
    >>> import numpy as np, rscd.plot
    >>> before = np.zeros((2, 5, 3, 10), np.float32)   # (nints, ngroups, nrows, ncols)
    >>> after = before.copy()
    >>> after[1, :, 2, 6] += 7.0            # SCI changed at (y, x) = (2, 6)
    >>> rscd.plot.pick_pixel((before,), (after,))
    (2, 6)
    """
    b, a = _pair(before, after)
    with b, a:
        i = _integration_index(integration, b.shape[0])
        return _pick(b, a, i)


# --------------------------------------------------------------------------- the figure


def _runs(mask):
    """(first, last) index pairs of the runs of True in a 1-d boolean array."""
    runs, start = [], None
    for k, value in enumerate(list(mask) + [False]):
        if value and start is None:
            start = k
        elif not value and start is not None:
            runs.append((start, k - 1))
            start = None
    return runs


def _group_list(indices):
    """'1-3' or '1, 4' for 0-based group indices shown 1-based."""
    parts = []
    for lo, hi in _runs(np.isin(np.arange(max(indices) + 1), indices)):
        parts.append(f"{lo + 1}" if lo == hi else f"{lo + 1}\u2013{hi + 1}")
    return ", ".join(parts)


def _groups_text(mask):
    indices = np.flatnonzero(mask)
    return ("group " if indices.size == 1 else "groups ") + _group_list(indices)


def _flux_estimated(ramps, y, x):
    return ramps.pixeldq is not None and bool(int(ramps.pixeldq[y, x]) & FLUX_ESTIMATED)


def _detect_method(b, a, i, sci_b, sci_a, dq_b, dq_a):
    """'decay' if SCI changed, 'flag' if only DO_NOT_USE did, looking at the pixel first
    and then at the whole integration; None if nothing changed."""
    def differs(x, y):
        return not np.array_equal(x, y, equal_nan=True)
    if differs(sci_b, sci_a):
        return "decay"
    if differs(dq_b & DO_NOT_USE, dq_a & DO_NOT_USE):
        return "flag"
    for g in range(b.shape[1]):
        if differs(b.sci_plane(i, g), a.sci_plane(i, g)):
            return "decay"
    for g in range(b.shape[1]):
        if differs(b.dq_plane(i, g) & DO_NOT_USE, a.dq_plane(i, g) & DO_NOT_USE):
            return "flag"
    return None


def _draw(axes, b, a, y, x, i, method, title, before_label, after_label, own_figure):
    _matplotlib()
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch
    from matplotlib.ticker import MaxNLocator, MultipleLocator

    top, bottom = axes
    sci_b, dq_b = b.pixel(i, y, x)
    sci_a, dq_a = a.pixel(i, y, x)
    if method is None:
        method = _detect_method(b, a, i, sci_b, sci_a, dq_b, dq_a)
    ngroups = sci_b.size
    group = np.arange(1, ngroups + 1)
    size = 6 if ngroups <= 30 else 4 if ngroups <= 80 else 2.5     # markers for many groups
    before_style, after_style, ratio_style = (
        {**style, "markersize": style["markersize"] * size / 6}
        for style in (_BEFORE_STYLE, _AFTER_STYLE, _RATIO_STYLE))
    same = np.array_equal(sci_b, sci_a, equal_nan=True)
    dnu = (dq_a & DO_NOT_USE) != 0
    new_dnu = dnu & ((dq_b & DO_NOT_USE) == 0)
    sat = ((dq_a | dq_b) & SATURATED) != 0

    # Groups the step flagged: a shaded band in both panels.
    handles = []
    for lo, hi in _runs(new_dnu):
        for ax in (top, bottom):
            ax.axvspan(lo + 0.5, hi + 1.5, zorder=0, **_BAND_STYLE)
    if new_dnu.any():
        handles.append(Patch(label=f"DO_NOT_USE set by RSCD ({_groups_text(new_dnu)})",
                             facecolor=_BAND_STYLE["color"], alpha=_BAND_STYLE["alpha"]))

    def ramp_line(values, style, label):
        """A ramp whose DO_NOT_USE groups have open markers."""
        line, = top.plot(group, values, label=label, zorder=3, markevery=list(np.flatnonzero(~dnu)),
                         **style)
        if dnu.any():
            top.plot(group[dnu], values[dnu], linestyle="none", marker=style["marker"],
                     markersize=style["markersize"] + 1, markerfacecolor="white",
                     markeredgecolor=style["color"], markeredgewidth=1.6, zorder=4)
        return line

    if same:
        handles.insert(0, ramp_line(sci_a, after_style,
                                    "ramp (SCI unchanged by the flag method)" if method == "flag"
                                    else "ramp (SCI unchanged)"))
    else:
        top.plot(group, sci_b, label=before_label, zorder=2, **before_style)
        handles.insert(0, top.lines[-1])
        handles.insert(1, ramp_line(sci_a, after_style, after_label))
    if dnu.any():
        handles.append(Line2D([], [], linestyle="none", marker="o", markersize=7,
                              markerfacecolor="white", markeredgecolor=after_style["color"],
                              markeredgewidth=1.6, label="DO_NOT_USE group (open marker)"))
    if sat.any():
        top.plot(group[sat], sci_a[sat], linestyle="none", marker="x", color="0.25",
                 markersize=8, markeredgewidth=1.4, zorder=5)
        handles.append(Line2D([], [], linestyle="none", marker="x", color="0.25",
                              markersize=8, markeredgewidth=1.4, label="SATURATED group"))

    # For flag: say when the step left this pixel alone or backed off for saturation.
    if method == "flag":
        backed_off = _flux_estimated(a, y, x) and not _flux_estimated(b, y, x)
        note = None
        if not new_dnu.any():
            note = "no DO_NOT_USE set here by RSCD"
            if backed_off:
                note += "\n(backed off: saturates early; PIXELDQ FLUX_ESTIMATED)"
        elif backed_off:
            note = "fewer groups flagged: backed off for saturation\n(PIXELDQ FLUX_ESTIMATED)"
        if note:
            handles.append(Line2D([], [], linestyle="none", label=note))

    # For flag: a line fitted to the groups still used shows how far the flagged ones sit off.
    used = ~dnu & ~sat & np.isfinite(sci_a)
    if new_dnu.any() and used.sum() >= 2:
        slope, intercept = np.polyfit(group[used], sci_a[used], 1)
        span = group[group <= group[used].max()]         # not over the saturated groups
        top.plot(span, slope * span + intercept, color="0.35", linestyle="--", linewidth=1.2,
                 zorder=1)
        handles.append(Line2D([], [], color="0.35", linestyle="--", linewidth=1.2,
                              label="line fitted to the groups still used"))

    # Bottom: ratio before / after.
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(sci_a != 0, sci_b / sci_a, np.nan)
    bottom.axhline(1.0, color="0.5", linestyle=":", linewidth=1.0, zorder=1)
    bottom.plot(group, ratio, label="input / corrected", zorder=3, **ratio_style)
    finite = ratio[np.isfinite(ratio)]
    if finite.size and np.ptp(finite) < 1e-6:           # constant (flag): a readable scale
        centre = float(finite.mean())
        bottom.set_ylim(centre - 0.01, centre + 0.01)
        if method == "flag" or same:
            bottom.text(0.98, 0.9, "SCI unchanged: ratio 1", transform=bottom.transAxes,
                        ha="right", va="top", fontsize=10, color="0.3")
    else:
        bottom.ticklabel_format(axis="y", useOffset=False)

    nints = b.shape[0]
    if title is None:
        what = f"RSCD correction ({method})" if method else "RSCD correction"
        counted = (f"integration {i + 1} of {nints}" if b.integration_start == 1 else
                   f"integration {b.integration_start + i} (file integration {i + 1} of {nints})")
        title = f"{what} \u2014 pixel (y, x) = ({y}, {x}), {counted}"
    names = [n for n in (b.name, a.name) if n]
    if own_figure:
        top.figure.suptitle(title, fontsize=14)
        if len(names) == 2:
            top.set_title(f"{names[0]}  \u2192  {names[1]}", fontsize=9, color="0.35")
    else:
        top.set_title(title, fontsize=13)
    top.set_ylabel("signal (DN)", fontsize=12)
    bottom.set_ylabel("ratio\ninput / corrected", fontsize=12)
    bottom.set_xlabel("group number", fontsize=12)
    top.legend(handles=handles, loc="best", fontsize=9.5, framealpha=0.9)
    for ax in (top, bottom):
        ax.set_xlim(0.3, ngroups + 0.7)
        ax.xaxis.set_major_locator(MultipleLocator(1) if ngroups <= 20
                                   else MaxNLocator(integer=True))
        ax.grid(True, color="0.88", linewidth=0.7, zorder=0)
        ax.tick_params(labelsize=10)
    top.ticklabel_format(axis="y", useOffset=False, style="plain")
    top.tick_params(labelbottom=False)
    return top.figure


def ramp(before, after, pixel=None, integration=-1, *, axes=None, method=None, title=None,
         before_label="input ramp", after_label="RSCD corrected ramp"):
    """Draw the seed's two-panel figure for one pixel and return the Figure.

    Parameters
    ----------
    before, after : path, tuple of arrays or RampModel
        The ramps before and after the correction (see the module documentation).
    pixel : (y, x), optional
        Array row and column, from 0. Default: :func:`pick_pixel`.
    integration : int
        Python index of the integration (0 first, -1 last, as in the seed).
    axes : (top, bottom) matplotlib Axes, optional
        Draw into these (the bottom should share x with the top). Default: a new
        ``pyplot`` figure of two panels, ready for ``plt.show()``.
    method : {"flag", "decay"}, optional
        For the title; default: detected ("decay" when SCI changed, "flag" when only
        DO_NOT_USE did).
    title, before_label, after_label : str, optional
        Override the title and the legend labels.

    Raises
    ------
    ImportError
        matplotlib is not installed (the message says ``pip install "rscd[plot]"``).
    """
    _matplotlib()
    b, a = _pair(before, after)
    with b, a:
        i = _integration_index(integration, b.shape[0])
        y, x = _pick(b, a, i) if pixel is None else _check_pixel(pixel, b.shape)
        if axes is None:
            import matplotlib.pyplot as plt
            fig, axes = plt.subplots(2, 1, sharex=True, **_FIGURE_KW)
            own = True
        else:
            own = False
            axes = tuple(axes)
            if len(axes) != 2:
                raise ValueError(f"axes must be two Axes (top, bottom), not {len(axes)}")
            fig = axes[0].figure
        _draw(axes, b, a, y, x, i, method, title, before_label, after_label, own)
    return fig


_FIGURE_KW = dict(figsize=(9, 7), gridspec_kw=dict(height_ratios=(2.3, 1), hspace=0.06),
                  layout="constrained")


def save_figure(before, after, path, pixel=None, integration=-1, *, dpi=150, **kwargs):
    """Draw :func:`ramp` on a figure of its own (no pyplot, no display: Agg) and save it to
    ``path`` (format from the extension: .png, .pdf, .svg ...). Returns the pixel drawn.
    Extra keyword arguments go to :func:`ramp`.

    Parameters
    ----------
    before, after : path, tuple of arrays or RampModel
        The ramps before and after the correction (see the module documentation).
    path : str or os.PathLike
        The figure file to write.
    pixel : (y, x), optional
        Array row and column, from 0. Default: :func:`pick_pixel`.
    integration : int
        Python index of the integration (0 first, -1 last).
    dpi : int
        Resolution of raster formats.

    Returns
    -------
    (int, int)
        The pixel (y, x) drawn.

    Raises
    ------
    ImportError
        matplotlib is not installed.
    ValueError, TypeError
        Shapes that differ, a pixel or integration out of range, unknown keywords.

    Examples
    --------
    >>> import rscd.plot
    >>> _ = rscd.apply_file(ramp_path, "rscd_demo/example_rscd_decay.fits",
    ...                     output="decay_rscd.fits", overwrite=True)
    >>> rscd.plot.save_figure(ramp_path, "decay_rscd.fits", "ramp.png")
    (25, 41)
    """
    _matplotlib()
    from matplotlib.figure import Figure

    b, a = _pair(before, after)
    with b, a:
        i = _integration_index(integration, b.shape[0])
        y, x = _pick(b, a, i) if pixel is None else _check_pixel(pixel, b.shape)
        fig = Figure(figsize=_FIGURE_KW["figsize"], layout=_FIGURE_KW["layout"])
        axes = fig.subplots(2, 1, sharex=True, gridspec_kw=_FIGURE_KW["gridspec_kw"])
        _draw(axes, b, a, y, x, i, kwargs.pop("method", None), kwargs.pop("title", None),
              kwargs.pop("before_label", "input ramp"),
              kwargs.pop("after_label", "RSCD corrected ramp"), True)
        if kwargs:
            raise TypeError(f"save_figure got unexpected keyword arguments: {sorted(kwargs)}")
    fig.savefig(os.fspath(path), dpi=dpi)
    return (y, x)


def demo_figures(directory, exposure, flag_output, decay_output, *, pixel=None,
                 integration=-1):
    """Write the ramp figures of the demo into ``directory``: the input exposure against
    the ``flag`` output and against the ``decay`` output (paths of ramp files), named
    after the outputs with ``_ramp.png``.

    Both figures show the same pixel, so they can be compared: ``pixel`` if given, else
    the one the decay correction changed most (:func:`pick_pixel`; a bright pixel that
    does not saturate). Returns ``{"flag": png_path, "decay": png_path, "pixel": (y, x)}``.
    Raises ImportError (with the install hint) when matplotlib is missing.
    """
    _matplotlib()
    if pixel is None:
        pixel = pick_pixel(exposure, decay_output, integration)
    out = {}
    for method, output in (("flag", flag_output), ("decay", decay_output)):
        stem = os.path.splitext(os.path.basename(os.fspath(output)))[0]
        png = os.path.join(os.fspath(directory), f"{stem}_ramp.png")
        out["pixel"] = save_figure(exposure, output, png, pixel=pixel, integration=integration,
                                   method=method)
        out[method] = png
    return out


# --------------------------------------------------------------------------- command line


def _parser():
    parser = argparse.ArgumentParser(
        prog="rscd plot",
        description="Draw the ramp of one pixel before and after the RSCD correction (top) "
                    "and their ratio (bottom), as in the JWST pipeline's RSCD walkthrough. "
                    "For the flag method, whose SCI is unchanged, the groups set to "
                    "DO_NOT_USE are shaded and drawn with open markers. Needs matplotlib "
                    '(pip install "rscd[plot]").',
        epilog="example: rscd plot jw01_mirimage_linearity.fits jw01_mirimage_rscd.fits "
               "--pixel 600 500 -o ramp.png")
    parser.add_argument("input", metavar="INPUT.fits", help="ramp file before the correction")
    parser.add_argument("output", metavar="OUTPUT.fits", help="ramp file after the correction")
    parser.add_argument("-p", "--pixel", nargs=2, type=int, metavar=("Y", "X"),
                        help="row and column, numpy order, from 0 (DS9 shows x+1, y+1); "
                             "default: the pixel the correction changed most")
    parser.add_argument("-i", "--integration", type=int, default=-1, metavar="N",
                        help="integration in the file, from 1; negative counts from the "
                             "end (default: -1, the last)")
    parser.add_argument("-o", "--figure", metavar="FIGURE.png",
                        help="where to write the figure (.png, .pdf, .svg ...; default: "
                             "OUTPUT name with _ramp.png, next to it)")
    parser.add_argument("--dpi", type=int, default=150, help="resolution (default: %(default)s)")
    return parser


def main(argv=None):
    """``rscd plot INPUT.fits OUTPUT.fits [--pixel Y X] [--integration N] [-o FIG]``;
    returns the exit status (0 written, 1 error, 2 bad command line)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    args = _parser().parse_args(argv)

    def fail(text):
        print(f"rscd plot: error: {' '.join(str(text).split())}", file=sys.stderr)
        return 1

    if args.dpi < 1:
        return fail(f"--dpi must be >= 1, not {args.dpi}")
    figure = args.figure or os.path.splitext(args.output)[0] + "_ramp.png"
    try:
        matplotlib = _matplotlib()
        matplotlib.use("Agg")                     # no display needed, none used
        for path in (args.input, args.output):
            if not os.path.isfile(path):
                return fail(f"{path}: no such file")
        with _Ramps(args.input, "input") as ramps:
            nints = ramps.shape[0]
        n = args.integration
        if n == 0 or not -nints <= n <= nints:
            return fail(f"--integration {n}: {args.input} holds {nints} integration(s); "
                        f"give 1 ... {nints}, or -1 for the last")
        index = n - 1 if n > 0 else n + nints
        y, x = save_figure(args.input, args.output, figure, pixel=args.pixel,
                           integration=index, dpi=args.dpi)
    except KeyboardInterrupt:
        return fail("interrupted")
    except (ImportError, OSError, ValueError, TypeError) as exc:
        if isinstance(exc, OSError) and exc.filename and exc.strerror:
            return fail(f"{exc.filename}: {exc.strerror}")
        return fail(exc)
    print(f"wrote {figure}: pixel (y, x) = ({y}, {x}), integration {index + 1} of {nints}")
    return 0


if __name__ == "__main__":          # python -m rscd.plot
    sys.exit(main())
