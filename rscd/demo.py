"""``rscd demo``: a small synthetic MIRI exposure and example reference files, corrected
with both methods.

Nothing here is calibration data: the exposure is simulated and the reference files are
labelled as examples in their headers (DESCRIP, PEDIGREE = 'DUMMY').
"""
import os
from typing import Any, Callable, Dict, Mapping, Tuple

import numpy as np
import numpy.typing as npt
from astropy.io import fits

from .dq import DO_NOT_USE, REFERENCE_PIXEL, SATURATED
from .fits import apply_file
from .reference import DecayCoeffs, DecayRow, SkipRow, write_decay_reference, write_flag_reference

__all__ = ["synthetic_exposure", "write_ramp_file", "asdf_hdu", "write_example_references",
           "run_demo", "DEMO_FILES"]

#: Example decay parameters (EVEN, ODD): a ~= 3 (even rows) or 2.5 (odd rows) for any
#: signal, saturated or not, and tau = 1.5 groups, so the correction adds 3% (2.5%) of the
#: previous integration's last frame times exp(-(j+1)/1.5): what the simulation takes away.
_EVEN = DecayCoeffs(tau=1.5, ascale=3e-7, pow=1.0, illum_zp=1.0, illum_slope=0.0, illum2=0.0,
                    param3=1e7, crossopt=0.0, sat_zp=1.0, sat_slope=0.0, sat_2=0.0, sat_mzp=3.0,
                    sat_rowterm=0.0, sat_scale=0.0)
_ODD = DecayCoeffs(**{**_EVEN.as_dict(), "ascale": 2.5e-7, "sat_mzp": 2.5})

_READPATTS = ("FAST", "FASTR1", "SLOW", "SLOWR1")
_SUBARRAYS = ("FULL", "BRIGHTSKY", "SUB256", "SUB128", "SUB64", "SLITLESSPRISM", "MASK1065",
              "MASK1140", "MASK1550", "MASKLYOT")


def synthetic_exposure(nints: int = 3, ngroups: int = 10, nrows: int = 64, ncols: int = 72,
                       seed: int = 1, saturation: float = 60000.0
                       ) -> Tuple[np.ndarray, np.ndarray, np.ndarray, Dict[str, Any]]:
    """Simulated MIRI imager ramps: (data, groupdq, pixeldq, keywords).

    A sky of a few DN per group, a bright star that saturates within the first groups at
    its core, read noise and shot noise, 4 reference columns on each side (REFERENCE_PIXEL,
    no signal), and in integrations 2+ an RSCD-like deficit in the first groups: 1% (even
    rows) or 2.5% (odd rows) of the previous integration's last frame, decaying with
    exp(-(j+1)/1.5). Saturated samples are clipped and get SATURATED in GROUPDQ.

    Parameters
    ----------
    nints, ngroups, nrows, ncols : int
        Shape of the cubes.
    seed : int
        Seed of ``numpy.random.default_rng``: the same seed gives the same exposure.
    saturation : float
        Saturation level in DN.

    Returns
    -------
    data : numpy.ndarray, float32, shape (nints, ngroups, nrows, ncols)
        SCI in DN.
    groupdq : numpy.ndarray, uint8, shape (nints, ngroups, nrows, ncols)
        SATURATED (2) where clipped.
    pixeldq : numpy.ndarray, uint32, shape (nrows, ncols)
        REFERENCE_PIXEL (2**31) on the 4 columns at each side.
    keywords : dict
        Primary header keywords of a MIRIMAGE FASTR1 full-frame ramp file.

    Examples
    --------
    >>> from rscd.demo import synthetic_exposure
    >>> data, groupdq, pixeldq, keywords = synthetic_exposure(nints=2, ngroups=6)
    >>> data.shape, keywords["READPATT"], int(pixeldq[0, 0]) == 2**31
    ((2, 6, 64, 72), 'FASTR1', True)
    """
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:nrows, 0:ncols]
    rate = 20.0 + 5.0 * rng.random((nrows, ncols))                       # DN / group
    rate += 40000.0 * np.exp(-((x - 0.55 * ncols) ** 2 + (y - 0.45 * nrows) ** 2) / (2 * 2.0**2))
    rate += 2500.0 * np.exp(-((x - 0.25 * ncols) ** 2 + (y - 0.7 * nrows) ** 2) / (2 * 1.5**2))
    level0 = 8000.0 + 200.0 * rng.standard_normal((nrows, ncols))
    groups = np.arange(1, ngroups + 1)[:, None, None]
    refcols = np.zeros(ncols, bool)
    refcols[:4] = refcols[-4:] = True
    amp = np.where(y % 2 == 0, 0.025, 0.030)   # array row 0 is detector row 1: odd
    decay = np.exp(-groups / 1.5)

    data = np.empty((nints, ngroups, nrows, ncols), np.float32)
    groupdq = np.zeros(data.shape, np.uint8)
    last = None
    for i in range(nints):
        signal = rng.poisson(np.broadcast_to(rate, (ngroups, nrows, ncols))).cumsum(axis=0)
        ramp = level0 + signal + 6.0 * rng.standard_normal(signal.shape)
        ramp[:, :, refcols] = level0[:, refcols] + 6.0 * rng.standard_normal(
            (ngroups, nrows, int(refcols.sum())))
        if last is not None:
            ramp -= (last * amp)[None] * decay
        sat = ramp >= saturation
        sat = np.maximum.accumulate(sat, axis=0)         # stays saturated once saturated
        ramp[sat] = saturation
        data[i] = ramp
        groupdq[i][sat] = SATURATED
        last = ramp[-1]
    pixeldq = np.zeros((nrows, ncols), np.uint32)
    pixeldq[:, refcols] = REFERENCE_PIXEL
    keywords = {
        "TELESCOP": "JWST", "INSTRUME": "MIRI", "DETECTOR": "MIRIMAGE",
        "EXP_TYPE": "MIR_IMAGE", "READPATT": "FASTR1", "SUBARRAY": "FULL",
        "NINTS": nints, "NGROUPS": ngroups, "NFRAMES": 1, "GROUPGAP": 0,
        "INTSTART": 1, "INTEND": nints,
        "SUBSTRT1": 1, "SUBSTRT2": 1, "SUBSIZE1": ncols, "SUBSIZE2": nrows,
        "TFRAME": 2.775, "TGROUP": 2.775, "DATE-OBS": "2024-01-01", "TIME-OBS": "00:00:00",
        "FILTER": "F770W", "DATAMODL": "RampModel", "S_LINEAR": "COMPLETE",
        "TARGNAME": "rscd demo (simulated)",
    }
    return data, groupdq, pixeldq, keywords


def write_ramp_file(path: "str | os.PathLike[str]", data: npt.ArrayLike, groupdq: npt.ArrayLike,
                    pixeldq: npt.ArrayLike, keywords: Mapping[str, Any], *,
                    overwrite: bool = False) -> None:
    """Write ramps the way stdatamodels lays out a RampModel: keywords in the primary
    header, SCI float32, PIXELDQ uint32 (stored int32 with BZERO = 2**31), GROUPDQ uint8,
    and the ``ASDF`` extension every pipeline-written file carries (:func:`asdf_hdu`), so
    ``jwst.datamodels.open``, stpipe and ``strun`` read the file. ``DATAMODL`` is set to
    ``RampModel`` unless ``keywords`` gives it (stpipe reads the file's metadata by it).

    Parameters
    ----------
    path : str or os.PathLike
        The FITS file to write.
    data : array_like, float32, shape (nints, ngroups, nrows, ncols)
        SCI in DN.
    groupdq : array_like, uint8, shape (nints, ngroups, nrows, ncols)
    pixeldq : array_like, uint32, shape (nrows, ncols)
    keywords : dict
        Primary header keywords (DETECTOR, READPATT, SUBARRAY, NINTS ...).
    overwrite : bool
        Replace an existing file.

    Examples
    --------
    >>> from rscd.demo import synthetic_exposure, write_ramp_file
    >>> write_ramp_file("ramp.fits", *synthetic_exposure(), overwrite=True)
    >>> [fits.getval("ramp.fits", "EXTNAME", ext=i) for i in (1, 2, 3, 4)]
    ['SCI', 'PIXELDQ', 'GROUPDQ', 'ASDF']
    """
    primary = fits.PrimaryHDU()
    primary.header["DATAMODL"] = "RampModel"
    for key, value in keywords.items():
        primary.header[key] = value
    hdul = fits.HDUList([
        primary,
        fits.ImageHDU(np.asarray(data, np.float32), name="SCI"),
        fits.ImageHDU(np.asarray(pixeldq, np.uint32), name="PIXELDQ"),
        fits.ImageHDU(np.asarray(groupdq, np.uint8), name="GROUPDQ"),
        asdf_hdu(),
    ])
    hdul.writeto(path, overwrite=overwrite)


#: An ASDF document with an empty tree, as the ASDF standard writes one. stdatamodels
#: keeps a model's metadata tree in it; an empty tree (no ``_fits_hash``) makes it take
#: every value from the FITS headers, which is where rscd writes them.
_EMPTY_ASDF = (b"#ASDF 1.0.0\n#ASDF_STANDARD 1.5.0\n%YAML 1.1\n%TAG ! tag:stsci.edu:asdf/\n"
               b"--- !core/asdf-1.1.0 {}\n...\n")


def asdf_hdu() -> fits.BinTableHDU:
    """The ``ASDF`` extension of a pipeline-written FITS file, with an empty metadata tree.

    stdatamodels stores the model's ASDF tree in a one-row binary table ``ASDF``, column
    ``ASDF_METADATA``, the document's bytes as one ``uint8`` vector; ``jwst.datamodels.
    open`` and stpipe (``read_metadata``, which ``strun`` calls first) refuse a file
    without that extension. rscd writes it as plain bytes, with astropy only: the
    ``asdf`` package is needed to read it, not to write this fixed document.
    """
    data = np.frombuffer(_EMPTY_ASDF, np.uint8)[None, :]
    column = fits.Column(name="ASDF_METADATA", format=f"{data.shape[1]}B", array=data)
    return fits.BinTableHDU.from_columns([column], name="ASDF")


def write_example_references(directory: "str | os.PathLike[str]", *, overwrite: bool = True
                             ) -> Tuple[str, str]:
    """Write ``example_rscd_flag.fits`` and ``example_rscd_decay.fits``; return their paths.

    Both cover the MIRI imager subarrays and FAST, FASTR1, SLOW, SLOWR1 read patterns and
    are marked as examples (PEDIGREE = 'DUMMY'): they are not calibration data.

    Parameters
    ----------
    directory : str or os.PathLike
        An existing folder.
    overwrite : bool
        Replace existing files.

    Returns
    -------
    (str, str)
        Paths of the ``flag`` (RSCD_GROUP_SKIP) and ``decay`` (RSCD) reference files.

    Examples
    --------
    >>> from rscd.demo import write_example_references
    >>> flag_ref, decay_ref = write_example_references(".")
    >>> rscd.read_reference(flag_ref).lookup("FASTR1", "FULL").skip_int2p
    3
    """
    flag_path = os.path.join(directory, "example_rscd_flag.fits")
    decay_path = os.path.join(directory, "example_rscd_decay.fits")
    note = "EXAMPLE ONLY - not calibration data (rscd demo)"
    write_flag_reference(
        flag_path, [SkipRow(s, r, 1, 3) for s in _SUBARRAYS for r in _READPATTS],
        descrip=note, pedigree="DUMMY", author="rscd demo", overwrite=overwrite)
    write_decay_reference(
        decay_path, [DecayRow(s, r, _EVEN, _ODD) for s in _SUBARRAYS for r in _READPATTS],
        descrip=note, pedigree="DUMMY", author="rscd demo", overwrite=overwrite)
    return flag_path, decay_path


#: The files ``run_demo`` writes into its folder (the figures only with matplotlib).
DEMO_FILES = ("demo_mirimage_linearity.fits", "example_rscd_flag.fits", "example_rscd_decay.fits",
              "demo_mirimage_flag_rscd.fits", "demo_mirimage_decay_rscd.fits",
              "demo_mirimage_flag_rscd_ramp.png", "demo_mirimage_decay_rscd_ramp.png")


def run_demo(directory: "str | os.PathLike[str]" = "rscd_demo",
             out: Callable[[str], Any] = print, *, overwrite: bool = False) -> Dict[str, str]:
    """Write the demo exposure and references into ``directory``, correct the exposure
    with both methods into new files, and report through ``out``. Returns the paths.

    This is ``rscd demo DIR [--overwrite]``. The figures are drawn when matplotlib is
    installed. Like every rscd command, it replaces no existing file unless asked to: a
    folder holding any of the demo's files (:data:`DEMO_FILES`, from an earlier run) is
    refused before anything is written, unless ``overwrite`` is true; other files in the
    folder are never touched.

    Parameters
    ----------
    directory : str or os.PathLike
        Created (with its parents) if needed.
    out : callable
        Called with each line of the report (default: ``print``).
    overwrite : bool
        Write the demo's files afresh over those of an earlier run (the report says so).

    Returns
    -------
    dict of str to str
        Paths: "exposure", "flag_reference", "decay_reference", "flag", "decay" (the
        corrected files) and, with matplotlib, "flag_figure" and "decay_figure".

    Raises
    ------
    FileExistsError
        ``directory`` holds files of an earlier demo run and ``overwrite`` is false.

    Examples
    --------
    >>> from rscd.demo import run_demo
    >>> paths = run_demo("demo_here", out=lambda line: None)
    >>> sorted(paths)[:5]
    ['decay', 'decay_figure', 'decay_reference', 'exposure', 'flag']
    """
    earlier = [name for name in DEMO_FILES if os.path.lexists(os.path.join(directory, name))]
    if earlier and not overwrite:
        raise FileExistsError(
            f"{os.fspath(directory)} holds the files of an earlier demo run ({earlier[0]}"
            f"{f' and {len(earlier) - 1} more' if len(earlier) > 1 else ''}); use --overwrite "
            "(overwrite=True) to write them afresh, or give another folder")
    os.makedirs(directory, exist_ok=True)
    data, groupdq, pixeldq, keywords = synthetic_exposure()
    exposure = os.path.join(directory, "demo_mirimage_linearity.fits")
    write_ramp_file(exposure, data, groupdq, pixeldq, keywords, overwrite=True)
    flag_ref, decay_ref = write_example_references(directory)
    nints, ngroups, nrows, ncols = data.shape
    out(f"wrote {exposure}: simulated MIRIMAGE ramps, {nints} integrations x {ngroups} groups "
        f"x {nrows} x {ncols} pixels, a saturating star")
    out(f"wrote {flag_ref} and {decay_ref}: example reference files (PEDIGREE = DUMMY), "
        "not calibration data")

    # The star's peak saturates early (flag backs off there); the brightest pixel that
    # never saturates shows the decay correction best.
    peak = np.unravel_index(np.argmax(data[0, 1]), data.shape[2:])
    unsaturated = ~(groupdq & SATURATED).any(axis=(0, 1)) & (pixeldq == 0)
    bright = np.unravel_index(np.argmax(np.where(unsaturated, data[0, -1], -np.inf)),
                              data.shape[2:])
    wings = unsaturated & (data[0, -1] > 30000)
    paths = {"exposure": exposure, "flag_reference": flag_ref, "decay_reference": decay_ref}
    for method, ref in (("flag", flag_ref), ("decay", decay_ref)):
        output = os.path.join(directory, f"demo_mirimage_{method}_rscd.fits")
        result = apply_file(exposure, ref, output=output, method=method, overwrite=True)
        paths[method] = output
        out(f"{method}: {exposure} -> {output}")
        out(f"  {result.summary()}")
        with fits.open(output) as hdul:
            if method == "flag":
                gdq = hdul["GROUPDQ"].data
                for (py, px), label in ((bright, "bright pixel"), (peak, "star peak")):
                    marks = "".join("x" if g & DO_NOT_USE else ("s" if g & SATURATED else ".")
                                    for g in gdq[1, :, py, px])
                    out(f"  integration 2, {label} {int(py), int(px)}: groups {marks} "
                        "(x DO_NOT_USE, s SATURATED)")
            else:
                sci = hdul["SCI"].data
                py, px = bright
                out(f"  integration 2 minus integration 1, first 4 groups, DN: bright pixel "
                    f"{int(py), int(px)}: before {_diff(data, py, px)}, after "
                    f"{_diff(sci, py, px)}; mean of {int(wings.sum())} pixels brighter than "
                    f"30000 DN: before {_diff(data, *wings.nonzero())}, after "
                    f"{_diff(sci, *wings.nonzero())}")
    try:
        from .plot import demo_figures
        figs = demo_figures(directory, exposure, paths["flag"], paths["decay"],
                            overwrite=overwrite)
        out(f"figures of pixel {figs['pixel']}, last integration: {figs['flag']}, "
            f"{figs['decay']}")
        paths.update(flag_figure=figs["flag"], decay_figure=figs["decay"])
    except ImportError as exc:
        out(f"no figures: {exc}")
    out(f"done; the files are in {directory}" + (
        f" (written afresh over an earlier run's {len(earlier)} file(s): --overwrite)"
        if earlier else ""))
    return paths


def _diff(sci, py, px):
    """Integration 2 minus integration 1, first 4 groups, averaged over the given pixels."""
    first = np.asarray(sci[:2, :4], np.float64)[:, :, py, px].reshape(2, 4, -1)
    d = (first[1] - first[0]).mean(axis=1)
    return "[" + " ".join(f"{v:+.0f}" for v in d) + "]"
