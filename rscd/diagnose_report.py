"""What ``rscd diagnose`` returns and shows (docs/diagnose.rst): the result classes, the
JSON document, the text table, the figure and the written reference file.

Group numbering: in Python objects, JSON and options groups are counted from 0 (as
array indices); in the table and the figure from 1 (as the pipeline's documents count
them). Every output says which.
"""
import json
import os
from dataclasses import dataclass, field
from typing import Any, Dict, Optional, Tuple, Union

import numpy as np

from .diagnose_fit import decay_model
from .diagnose_measure import KIND_TEXT, KINDS, DiagnoseError, line_window

__all__ = ["Profile", "PairResult", "Diagnosis", "draw_figure", "GROUPS_FROM_0",
           "GROUPS_FROM_1"]

GROUPS_FROM_0 = "groups counted from 0 (group 0 is the first group of an integration)"
GROUPS_FROM_1 = "groups counted from 1 (group 1 is the first group of an integration)"


def _list(values):
    """A JSON-ready list: NaN -> None, floats rounded to 7 significant digits."""
    return [None if not np.isfinite(v) else float(f"{v:.7g}") for v in np.asarray(values, float)]


@dataclass
class Profile:
    """The measured transient of one kind of integration (and row parity).

    Per group ``j`` (0 ... N-1, counted from 0), numpy arrays: ``profile`` = a_j, the
    proportional part (fraction of one group's signal increment; NaN where it cannot be
    measured), ``profile_dn`` = b_j, the DN part, ``total`` = a_j + b_j / s_ref, the
    offset of group j in increments at the reference slope ``reference_slope`` (DN per
    group) -- what the skip is judged on -- each with a 1-sigma ``*_uncertainty``
    (bootstrap over row stripes). Groups of the late window are the reference line:
    0 by definition.

    Skips (numbers of groups to flag): ``measured_skip`` from ``total``, ``fit_skip``
    from the fitted decay, ``odd_rows``/``even_rows`` the same for each row parity, and
    ``recommended_skip`` the largest of them (the safe one; None when the transient is
    not measurable here, ``reason`` says why). ``skip_uncertainty``: bootstrap standard
    deviation of the measured skip; ``noise_limited`` when the noise, not the
    transient, decides the skip.
    """
    recommended_skip: Optional[int]
    samples: int
    profile: np.ndarray
    uncertainty: np.ndarray
    profile_dn: np.ndarray
    profile_dn_uncertainty: np.ndarray
    total: np.ndarray
    total_uncertainty: np.ndarray
    reference_slope: float
    measured_skip: Optional[int] = None
    fit_skip: Optional[int] = None
    skip_uncertainty: Optional[float] = None
    noise_limited: bool = False
    measurable: bool = True
    reason: Optional[str] = None
    proportional_measured: bool = True
    amplitude: Optional[float] = None
    amplitude_err: Optional[float] = None
    tau_groups: Optional[float] = None
    tau_groups_err: Optional[float] = None
    tau_seconds: Optional[float] = None
    tau_seconds_err: Optional[float] = None
    reaches_window: bool = False
    samples_tested_ok: Optional[int] = None
    odd_rows: "Optional[Profile]" = None
    even_rows: "Optional[Profile]" = None

    @property
    def skip_from_fit(self) -> Optional[int]:
        """Old name of :attr:`fit_skip`."""
        return self.fit_skip

    def to_dict(self) -> Dict[str, Any]:
        out: Dict[str, Any] = {
            "recommended_skip": self.recommended_skip, "measured_skip": self.measured_skip,
            "fit_skip": self.fit_skip, "skip_uncertainty": self.skip_uncertainty,
            "noise_limited": self.noise_limited, "measurable": self.measurable,
            "reason": self.reason, "tau_groups": self.tau_groups,
            "amplitude": self.amplitude, "samples": self.samples,
            "samples_tested_ok": self.samples_tested_ok,
            "reference_slope": self.reference_slope,
            "proportional_measured": self.proportional_measured,
            "profile": _list(self.profile), "uncertainty": _list(self.uncertainty),
            "profile_dn": _list(self.profile_dn),
            "profile_dn_uncertainty": _list(self.profile_dn_uncertainty),
            "total": _list(self.total), "total_uncertainty": _list(self.total_uncertainty),
            "tau_groups_err": self.tau_groups_err, "amplitude_err": self.amplitude_err,
            "tau_seconds": self.tau_seconds, "tau_seconds_err": self.tau_seconds_err,
            "reaches_window": self.reaches_window}
        for name in ("odd_rows", "even_rows"):
            part = getattr(self, name)
            if part is not None:
                out[name] = part.to_dict()
        return out


@dataclass
class PairResult:
    """The diagnosis of one (SUBARRAY, READPATT) pair from all samples of its files."""
    subarray: Optional[str]      # None: arrays given without their names
    readpatt: Optional[str]
    ngroups: object              # int, or a sorted list when the files differ
    files: list
    window_start: int            # counted from 0
    group_time: Optional[float] = None     # TGROUP, seconds (None when unknown or not one value)
    int1: Optional[Profile] = None
    int2p: Optional[Profile] = None
    notes: list = field(default_factory=list)
    already_corrected: list = field(default_factory=list)    # files with S_RSCD = COMPLETE

    def to_dict(self) -> Dict[str, Any]:
        return {"subarray": self.subarray, "readpatt": self.readpatt,
                "ngroups": self.ngroups, "files": list(self.files),
                "groups_counted_from": 0,
                "window_start": self.window_start, "group_time": self.group_time,
                "int1": None if self.int1 is None else self.int1.to_dict(),
                "int2p": None if self.int2p is None else self.int2p.to_dict(),
                "already_corrected": list(self.already_corrected),
                "notes": list(self.notes)}

    def skips(self) -> Tuple[Any, Any]:
        """``(group_skip1, group_skip)`` for a reference row. A missing kind takes the
        other's value: without integration 1 the int 2+ skip (larger in MIRI data, so
        the safe side); with a single integration group_skip is never used by the
        pipeline and repeats the int 1 value."""
        k1 = None if self.int1 is None else self.int1.recommended_skip
        k2 = None if self.int2p is None else self.int2p.recommended_skip
        return (k2 if k1 is None else k1), (k1 if k2 is None else k2)

    def measured_rows(self) -> list:
        """The ``RSCD_MEASURED`` rows of this pair (docs/reference_files.rst): per kind of
        integration held and per row parity, a_j = ``profile`` and b_j = ``profile_dn``
        over every group. Where the proportional part could not be told from the DN part
        (``proportional_measured`` false) a_j is 0 and the whole offset is b_j, as
        measured; a row parity without samples of its own takes both parities' profile."""
        from .reference import MeasuredRow
        if self.subarray is None or self.readpatt is None:
            raise DiagnoseError("a reference row needs SUBARRAY and READPATT: pass "
                                "subarray= and readpatt= to rscd.diagnose")
        rows = []
        for kind, integration in (("int1", "1"), ("int2p", "2+")):
            prof = getattr(self, kind)
            if prof is None:
                continue
            for parity in ("ODD", "EVEN"):
                part = getattr(prof, parity.lower() + "_rows") or prof
                rows.append(MeasuredRow(
                    self.subarray, self.readpatt, integration, parity, self.window_start,
                    a=tuple(np.nan_to_num(part.profile, nan=0.0).tolist()),
                    b=tuple(np.nan_to_num(part.profile_dn, nan=0.0).tolist()),
                    a_err=tuple(np.asarray(part.uncertainty, float).tolist()),
                    b_err=tuple(np.asarray(part.profile_dn_uncertainty, float).tolist())))
        return rows


@dataclass
class Diagnosis:
    """What :func:`rscd.diagnose` and :func:`rscd.diagnose_files` return: one
    :class:`PairResult` per (SUBARRAY, READPATT)."""
    threshold: float
    results: list

    def to_dict(self) -> Dict[str, Any]:
        """The ``--json`` document (groups counted from 0)."""
        return {"threshold": self.threshold, "groups_counted_from": 0,
                "results": [r.to_dict() for r in self.results]}

    def to_json(self, indent: Optional[int] = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    def table(self) -> str:
        """A short text table: one line per pair and kind of integration."""
        head = (f"{'SUBARRAY':<14}{'READPATT':<10}{'ints':<6}{'skip':>6}{'measured':>9}"
                f"{'fit':>5}{'odd':>5}{'even':>5}{'tau/groups':>14}{'tau/s':>13}{'A':>15}"
                f"{'samples':>9}")
        lines = [f"RSCD diagnosis (threshold T = {_fmt(self.threshold)} of one group's "
                 "increment; skip = groups to flag; " + GROUPS_FROM_1 + ")", head]
        for r in self.results:
            for kind in KINDS:
                p = getattr(r, kind)
                if p is None:
                    continue
                skip = "n/m" if p.recommended_skip is None else (
                    f"{p.recommended_skip}" + ("~" if p.noise_limited else ""))
                parts = [_int(p.measured_skip), _int(p.fit_skip),
                         _int(p.odd_rows.recommended_skip if p.odd_rows else None),
                         _int(p.even_rows.recommended_skip if p.even_rows else None)]
                lines.append(
                    f"{r.subarray or '-':<14}{r.readpatt or '-':<10}"
                    f"{'1' if kind == 'int1' else '2+':<6}{skip:>6}{parts[0]:>9}"
                    f"{parts[1]:>5}{parts[2]:>5}{parts[3]:>5}"
                    f"{_pm(p.tau_groups, p.tau_groups_err):>14}"
                    f"{_pm(p.tau_seconds, p.tau_seconds_err):>13}"
                    f"{_pm(p.amplitude, p.amplitude_err, 3):>15}{p.samples:>9}")
            last = min(np.atleast_1d(r.ngroups)) - 1
            lines.append(f"  {len(r.files)} file(s), {r.ngroups} groups; late window: groups "
                         f"{r.window_start + 1}-{last} (counted from 1)")
            lines.extend(f"  note: {n}" for n in r.notes)
        lines.append("skip = the largest of measured, fit, odd and even (the safe value); "
                     "~ noise-limited; n/m not measurable here (see the notes)")
        return "\n".join(lines)

    def write_reference(self, path: "Union[str, os.PathLike[str]]", *, overwrite: bool = False,
                        detector: str = "MIRIMAGE", force: bool = False) -> None:
        """Write an ``RSCD_GROUP_SKIP`` reference file, one row per pair
        (``group_skip1`` = int 1 skip, ``group_skip`` = int 2+ skip, the safe
        ``recommended_skip``; see :meth:`PairResult.skips`), and beside it the
        ``RSCD_MEASURED`` table of the measured transient
        (:meth:`PairResult.measured_rows`), so that one file serves ``--method flag`` and
        ``--method measured``. Refused for pairs whose
        transient is not measurable, and, unless ``force``, for files already
        RSCD-corrected (S_RSCD = COMPLETE)."""
        from .reference import write_flag_reference
        rows, measured = [], []
        for r in self.results:
            if r.subarray is None or r.readpatt is None:
                raise DiagnoseError("write_reference needs SUBARRAY and READPATT: pass "
                                    "subarray= and readpatt= to rscd.diagnose")
            if r.already_corrected and not force:
                raise DiagnoseError(
                    f"{r.already_corrected[0]}: S_RSCD = COMPLETE: the RSCD step already ran "
                    "on this file, so its ramps cannot show the transient; a reference "
                    "written from it would flag too few groups (use --force / force=True "
                    "to write it anyway)")
            k1, k2 = r.skips()
            if k1 is None or k2 is None:
                kind = "int1" if k1 is None else "int2p"
                prof = getattr(r, kind)
                raise DiagnoseError(
                    f"{r.subarray} {r.readpatt}: no skip to write for {KIND_TEXT[kind]}: "
                    f"{prof.reason if prof is not None else 'no such integration'}")
            rows.append((r.subarray, r.readpatt, k1, k2))
            measured.extend(r.measured_rows())
        write_flag_reference(path, rows, detector=detector, overwrite=overwrite,
                             measured=measured,
                             descrip="RSCD group skips measured by rscd diagnose",
                             pedigree="INFLIGHT")

    def figure(self) -> Any:
        """A matplotlib Figure: per pair, int 1 and int 2+ panels (see
        :func:`draw_figure`)."""
        return draw_figure(self)

    def save_figure(self, path: Any, dpi: int = 110) -> Any:
        fig = self.figure()
        fig.savefig(path, dpi=dpi)
        return path


def _fmt(x, digits=3):
    return "-" if x is None else f"{x:.{digits}g}"


def _int(x):
    return "-" if x is None else str(x)


def _pm(value, err, digits=3):
    if value is None:
        return "-"
    return f"{value:.{digits}g}" + ("" if err is None else f"+-{err:.2g}")


def draw_figure(diagnosis: "Diagnosis", fig: Any = None) -> Any:
    """Per pair a row of two panels (integration 1, integrations 2+): the measured
    offsets at the reference slope with 1-sigma error bars (odd and even rows as small
    markers), the threshold band, the fitted decay and the recommended cut; groups
    counted from 1. ``fig``: a matplotlib Figure to draw on; default a new one."""
    from .plot import require_matplotlib
    require_matplotlib()
    from matplotlib.figure import Figure
    rows = len(diagnosis.results)
    if fig is None:
        fig = Figure(figsize=(11, 4.2 * rows), layout="constrained")
    axes = fig.subplots(rows, 2, squeeze=False)
    T = diagnosis.threshold
    for r, result in enumerate(diagnosis.results):
        n_min = int(min(np.atleast_1d(result.ngroups)))
        w = result.window_start
        for c, kind in enumerate(KINDS):
            ax = axes[r][c]
            prof = getattr(result, kind)
            name = f"{result.subarray or ''} {result.readpatt or ''}".strip() or "arrays"
            ax.set_title(f"{name}: {KIND_TEXT[kind]} (line fitted to groups "
                         f"{w + 1}-{n_min - 1})", fontsize=10)
            ax.set_xlabel("group number (counted from 1: 1 = first group of the integration)")
            ax.set_ylabel("offset from the late-ramp line\n(in units of one group's signal "
                          "at the reference slope)")
            if prof is None:
                ax.text(0.5, 0.5, f"no {KIND_TEXT[kind]} in these files",
                        transform=ax.transAxes, ha="center", va="center", color="0.4")
                continue
            g = np.arange(1, w + 1)
            ax.axhspan(-T, T, color="#f5b041", alpha=0.3, linewidth=0,
                       label=f"threshold band |offset| <= {T:g}")
            ax.axhline(0, color="0.5", linewidth=0.8)
            for part, marker, label in ((prof.odd_rows, "^", "odd rows"),
                                        (prof.even_rows, "v", "even rows")):
                if part is not None:
                    ax.plot(g, part.total[:w], marker, color="0.55", markersize=4,
                            linestyle="none", label=label)
            ax.errorbar(g, prof.total[:w], yerr=prof.total_uncertainty[:w], fmt="o",
                        color="#1f4e99", markersize=5, capsize=3,
                        label=f"{prof.samples} samples, slope {prof.reference_slope:.3g} "
                              "DN/group (1-sigma bars)")
            if prof.tau_groups is not None:
                fine = np.linspace(1, w, 200)
                secs = "" if prof.tau_seconds is None else f" = {prof.tau_seconds:.3g} s"
                seen = decay_model(prof.amplitude, prof.tau_groups, fine - 1,
                                   line_window(n_min, w))
                ax.plot(fine, seen, "-", color="#c0392b",
                        label=f"fit A exp(-n/tau): A = {prof.amplitude:.3g}, "
                              f"tau = {prof.tau_groups:.3g} groups{secs}")
            k = prof.recommended_skip
            if k is None:
                ax.text(0.5, 0.1, f"skip not measurable here: {prof.reason}", wrap=True,
                        transform=ax.transAxes, ha="center", fontsize=7, color="#c0392b")
            else:
                if k:
                    ax.axvspan(0.5, k + 0.5, color="0.85", zorder=0,
                               label=f"recommended: flag the first {k} group(s)")
                ax.axvline(k + 0.5, color="#1e8449", linestyle="--", linewidth=1.5,
                           label="cut: groups to the right are kept" if k else
                           "cut: no group needs flagging")
            ax.set_xlim(0.4, w + 0.6)
            ax.legend(fontsize=7.5, loc="lower right", framealpha=0.85)
    fig.suptitle("RSCD diagnosis: each early group's offset from the ramp's straight line "
                 "through its late groups (groups counted from 1)", fontsize=12)
    return fig
