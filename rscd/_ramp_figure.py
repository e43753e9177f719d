"""The ramp figure's matplotlib artists: how :mod:`rscd.plot` draws one pixel's ramps.

:mod:`rscd.plot` decides what to draw (the sources, the integration, the pixel) and calls
:func:`draw` with two Axes; matplotlib is imported only here and only when drawing.
"""
import numpy as np

from .dq import DO_NOT_USE, FLUX_ESTIMATED, SATURATED

_BEFORE_STYLE = dict(color="#c0392b", marker="^", markersize=6, linestyle="-", linewidth=1.6)
_AFTER_STYLE = dict(color="#1f4e99", marker="o", markersize=6, linestyle="-", linewidth=1.6)
_RATIO_STYLE = dict(color="#1e8449", marker="s", markersize=5, linestyle="-", linewidth=1.6)
_BAND_STYLE = dict(color="#f5b041", alpha=0.28, linewidth=0)


def _runs(mask):
    """(first, last) index pairs of the runs of True in a 1-d boolean array."""
    edges = np.diff(np.concatenate(([0], np.asarray(mask, np.int8), [0])))
    return list(zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1) - 1))


def _groups_text(mask):
    """'groups 1–3' or 'group 2' for a mask of groups, shown counted from 1."""
    parts = [f"{lo + 1}" if lo == hi else f"{lo + 1}\u2013{hi + 1}" for lo, hi in _runs(mask)]
    return ("group " if np.count_nonzero(mask) == 1 else "groups ") + ", ".join(parts)


def _flux_estimated(ramps, y, x):
    return ramps.pixeldq is not None and bool(int(ramps.pixeldq[y, x]) & FLUX_ESTIMATED)


def _detect_method(b, a, i, y, x):
    """'decay' if SCI changed, 'flag' if only DO_NOT_USE did, looking at the pixel first
    and then at the integration a plane at a time; None if nothing changed."""
    for places in ([(i, slice(None), y, x)], [(i, g) for g in range(b.shape[1])]):
        for k, method in ((0, "decay"), (1, "flag")):
            for where in places:
                before, after = b.read(*where)[k], a.read(*where)[k]
                if k:
                    before, after = before & DO_NOT_USE, after & DO_NOT_USE
                if not np.array_equal(before, after, equal_nan=not k):
                    return method
    return None


def draw(axes, b, a, y, x, i, own_figure, method, title, before_label, after_label):
    """Draw pixel (y, x) of integration index ``i`` of ramps ``b`` (before) and ``a``
    (after), read through their ``read`` method, into the Axes ``axes`` (top, bottom).
    ``own_figure``: the title goes to the figure (suptitle), the file names under it."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch
    from matplotlib.ticker import MaxNLocator, MultipleLocator

    top, bottom = axes
    (sci_b, dq_b), (sci_a, dq_a) = b.read(i, slice(None), y, x), a.read(i, slice(None), y, x)
    if method is None:
        method = a.method or _detect_method(b, a, i, y, x)
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
        line, = top.plot(group, values, label=label, zorder=3,
                         markevery=list(np.flatnonzero(~dnu)), **style)
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
        handles[:0] = [top.plot(group, sci_b, label=before_label, zorder=2, **before_style)[0],
                       ramp_line(sci_a, after_style, after_label)]
    marker = dict(linestyle="none", marker="x", color="0.25", markersize=8, markeredgewidth=1.4)
    if dnu.any():
        handles.append(Line2D([], [], linestyle="none", marker="o", markersize=7,
                              markerfacecolor="white", markeredgecolor=after_style["color"],
                              markeredgewidth=1.6, label="DO_NOT_USE group (open marker)"))
    if sat.any():
        top.plot(group[sat], sci_a[sat], zorder=5, **marker)
        handles.append(Line2D([], [], label="SATURATED group", **marker))

    # For flag: say when the step left this pixel alone or backed off for saturation.
    backed_off = _flux_estimated(a, y, x) and not _flux_estimated(b, y, x)
    note = {(False, False): "no DO_NOT_USE set here by RSCD",
            (False, True): "no DO_NOT_USE set here by RSCD\n(backed off: saturates early; "
                           "PIXELDQ FLUX_ESTIMATED)",
            (True, True): "fewer groups flagged: backed off for saturation\n(PIXELDQ "
                          "FLUX_ESTIMATED)"}.get((bool(new_dnu.any()), backed_off))
    if method == "flag" and note:
        handles.append(Line2D([], [], linestyle="none", label=note))

    # For flag: a line fitted to the groups still used shows how far the flagged ones sit off.
    used = ~dnu & ~sat & np.isfinite(sci_a)
    if new_dnu.any() and used.sum() >= 2:
        slope, intercept = np.polyfit(group[used], sci_a[used], 1)
        span = group[group <= group[used].max()]         # not over the saturated groups
        fit = dict(color="0.35", linestyle="--", linewidth=1.2)
        top.plot(span, slope * span + intercept, zorder=1, **fit)
        handles.append(Line2D([], [], label="line fitted to the groups still used", **fit))

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
