"""The ``rscd diagnose`` command (docs/diagnose.rst): options, output, exit status.
Groups are counted from 0 in options and JSON, from 1 in the table and the figure."""
import argparse
import os
import sys
import warnings
from typing import List, Optional

from .diagnose import DEFAULT_THRESHOLD, AlreadyCorrectedWarning, diagnose_files

__all__ = ["main"]


def _parser():
    parser = argparse.ArgumentParser(
        prog="rscd diagnose",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Measure the RSCD transient in linearity-corrected MIRI ramp files "
                    "(before\nany RSCD correction) and recommend how many groups to flag in\n"
                    "integration 1 and in integrations 2+, per SUBARRAY/READPATT.",
        epilog="Each early group's offset from the ramp's late straight line is measured as "
               "a part\nproportional to the pixel's slope plus a part in DN; the skip is the "
               "first group from\nwhich the offset stays within T of one group's increment "
               "(at the median slope), the\nlargest of the measured, fitted, odd-row and "
               "even-row skips. Options and JSON count\ngroups from 0, the table and figure "
               "from 1. See docs/diagnose.rst.\n\n"
               "example:\n  rscd diagnose jw*_mirimage_linearity.fits --figure rscd.png "
               "--write-reference my_rscd.fits")
    parser.add_argument("inputs", nargs="+", metavar="INPUT.fits", help="ramp files")
    parser.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD, metavar="T",
                        help="largest offset accepted, in units of one group's increment "
                             "(default: %(default)s)")
    parser.add_argument("--window-start", type=int, metavar="W",
                        help="first group of the late window, counted from 0 (default: "
                             "min(N // 2, N - 5))")
    parser.add_argument("--reference-slope", type=float, metavar="S",
                        help="slope in DN/group of the pixels the skip is judged for "
                             "(default: the median slope of the used samples)")
    parser.add_argument("--json", action="store_true",
                        help="print the result as JSON (groups counted from 0)")
    parser.add_argument("--figure", metavar="PATH", help="draw the profiles to this image")
    parser.add_argument("--write-reference", metavar="REF.fits",
                        help="write an RSCD_GROUP_SKIP reference file with the "
                             "recommended (safe) skips (use it with rscd --reference)")
    parser.add_argument("--force", action="store_true",
                        help="write the reference even from files already RSCD-corrected "
                             "(S_RSCD = COMPLETE)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace an existing --figure or --write-reference file")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    """``rscd diagnose``; returns the exit status (0 done, 1 bad input, 2 bad usage)."""
    args = _parser().parse_args(argv)

    def fail(text, status=1):
        print(f"rscd diagnose: error: {' '.join(str(text).split())}", file=sys.stderr)
        return status

    if not (args.threshold > 0 and args.threshold < float("inf")):
        return fail(f"threshold must be a positive number (a fraction of one group's "
                    f"increment), not {args.threshold!r}", 2)
    for option, path in (("--figure", args.figure), ("--write-reference", args.write_reference)):
        if path and os.path.exists(path) and not args.overwrite:
            return fail(f"{option} {path} exists; use --overwrite to replace it", 2)
        if path and not os.path.isdir(os.path.dirname(os.path.abspath(path))):
            return fail(f"{option} {path}: the folder does not exist", 2)
    if args.figure:
        try:
            from .plot import require_matplotlib
            require_matplotlib()
        except ImportError as exc:
            return fail(exc, 2)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", AlreadyCorrectedWarning)
            result = diagnose_files(args.inputs, threshold=args.threshold,
                                    window_start=args.window_start,
                                    reference_slope=args.reference_slope)
        for w in caught:
            print(f"rscd diagnose: warning: {' '.join(str(w.message).split())}",
                  file=sys.stderr)
        if args.write_reference:
            result.write_reference(args.write_reference, overwrite=args.overwrite,
                                   force=args.force)
        if args.figure:
            result.save_figure(args.figure)
    except (ValueError, OSError) as exc:
        if args.debug:
            import traceback
            traceback.print_exc()
        from .batch import error_text
        return fail(error_text(exc))
    print(result.to_json() if args.json else result.table())
    if not args.json:
        if args.write_reference:
            print(f"wrote {args.write_reference}: RSCD_GROUP_SKIP, one row per pair "
                  "(the safe skips)")
        if args.figure:
            print(f"wrote {args.figure}")
    return 0
