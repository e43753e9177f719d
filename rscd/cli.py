"""The ``rscd`` command (also ``python -m rscd``).

    rscd INPUT.fits [INPUT2.fits ...] [--reference REF.fits] [options]
    rscd demo [DIR]

A first argument naming a subcommand (see ``SUBCOMMANDS``) selects it; anything else is an
input file. (A file literally called ``demo`` is reached as ``./demo``.)
"""
import argparse
import logging
import os
import sys
import traceback
import warnings
from typing import Optional, Sequence

from .errors import error_text, expected_errors

log = logging.getLogger("rscd")

EXIT_OK = 0
EXIT_FAILED = 1      # at least one file could not be corrected
EXIT_USAGE = 2       # bad command line or reference file: nothing was done
EXIT_INTERRUPTED = 130   # SIGINT or SIGTERM (128 + SIGINT, as shells report a Ctrl-C)

_DESCRIPTION = """\
Apply the JWST MIRI reset switch charge decay (RSCD) correction to ramp files
(SCI, PIXELDQ, GROUPDQ extensions, as the JWST pipeline writes them).

Each INPUT is written to a new file named after it with its step suffix
(_linearity, _uncal, _ramp, ...) replaced by _rscd, next to it or in
--output-dir; the input is never changed. With --in-place the input itself is
corrected through a memory map instead."""

_EPILOG = """\
methods:
  flag    set DO_NOT_USE on the first groups of each integration, as the JWST
          pipeline (jwst 3.0.0) does; needs an RSCD_GROUP_SKIP reference table
  decay   add the 2019 pipeline's exponential decay function to integrations
          2 and later; needs a seed-era RSCD reference table (not idempotent: a
          file already marked S_RSCD = COMPLETE is refused without --force)
  measured  subtract from every group the transient rscd diagnose measured
          (a_j * slope + b_j); keeps every group; needs an RSCD_MEASURED table
          (not idempotent, like decay)
  auto    flag if the reference file has RSCD_GROUP_SKIP, else decay if it
          has RSCD, else measured

subcommands:
  rscd demo [DIR]   write a simulated MIRI exposure and example reference files
                    into DIR (default ./rscd_demo) and correct it both ways
  rscd plot IN OUT  the ramp of one pixel before and after, as a PNG figure
                    (needs matplotlib; see rscd plot -h)
  rscd diagnose IN...  measure the RSCD in the ramps and recommend how many
                    groups to flag (see rscd diagnose -h)

interrupting: the first Ctrl-C (or SIGTERM) starts no more files and waits
for those being corrected, a second stops them; the files finished and not
are named, and --resume carries on from there.

exit status: 0 when every file was corrected or skipped, 1 when any file
failed, 2 for a bad command line or reference file (nothing was done: also a
file given twice, or two outputs with one name), 130 when interrupted.

examples:
  rscd jw01234_mirimage_linearity.fits --reference jwst_miri_rscd_0017.fits
  rscd *_linearity.fits --override_rscd my_rscd.fits --output-dir out/
  rscd big_ramp.fits --reference my_rscd.fits --in-place
  rscd *_linearity.fits -r my_rscd.fits --jobs 4 --resume
  rscd /shared/*_linearity.fits -r my_rscd.fits --scheduler tcp://head:8786
  rscd jw*-seg00?_mirimage_linearity.fits -r my_rscd.fits --segments"""


def _version():
    from ._core import VERSION
    return VERSION


def _demo(argv):
    parser = argparse.ArgumentParser(
        prog="rscd demo",
        description="Write a small simulated MIRI imager exposure and example RSCD reference "
                    "files of both forms into DIR, correct the exposure with both methods into "
                    "new files, and show what changed. The reference files are examples "
                    "(PEDIGREE = DUMMY), not calibration data.")
    parser.add_argument("directory", nargs="?", default="rscd_demo", metavar="DIR",
                        help="folder to write into (created if needed; default: %(default)s)")
    parser.add_argument("--overwrite", action="store_true",
                        help="write the demo afresh over the files of an earlier run in DIR "
                             "(without it such a folder is refused; other files are never "
                             "touched)")
    args = parser.parse_args(argv)
    from .demo import run_demo
    try:
        run_demo(args.directory, overwrite=args.overwrite)
    except OSError as exc:
        _fail(f"demo: {error_text(exc)}")
        return EXIT_FAILED
    return EXIT_OK


def _plot(argv):
    from .plot import main as plot_main
    return plot_main(argv)


def _diagnose(argv):
    from .diagnose_cli import main as diagnose_main
    return diagnose_main(argv)


#: First-argument subcommands: name -> function(argv) -> exit status.
SUBCOMMANDS = {"demo": _demo, "plot": _plot, "diagnose": _diagnose}


def _parser():
    parser = argparse.ArgumentParser(
        prog="rscd", description=_DESCRIPTION, epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("inputs", nargs="+", metavar="INPUT.fits", help="ramp files to correct")
    parser.add_argument("-r", "--reference", "--override_rscd", "--override-rscd",
                        dest="reference", metavar="REF.fits",
                        help="RSCD reference file (--override_rscd is the JWST pipeline's "
                             "name); without it CRDS is asked for each file's reference "
                             "(needs CRDS_PATH, and CRDS_SERVER_URL to download)")
    parser.add_argument("-m", "--method", choices=("auto", "flag", "decay", "measured"),
                        default="auto",
                        help="correction method (default: %(default)s; see below)")
    parser.add_argument("-o", "--output-dir", metavar="DIR",
                        help="write the new files here instead of next to the inputs "
                             "(created with its parents if missing)")
    parser.add_argument("--in-place", action="store_true",
                        help="correct the input files themselves (memory-mapped where the "
                             "keywords fit in the header's free space, else through a copy "
                             "with a larger header renamed over the file)")
    parser.add_argument("--keep-inode", action="store_true",
                        help="with --in-place: refuse a file whose header has no room for "
                             "the keywords instead of replacing it (hard links, open maps)")
    parser.add_argument("--no-sync", action="store_true",
                        help="new files: do not fsync an output before its rename (faster; "
                             "after a power cut an output name may then hold an incomplete "
                             "file; docs/inplace.rst)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace existing output files")
    parser.add_argument("--force", action="store_true",
                        help="run decay or measured on files already marked S_RSCD = COMPLETE, "
                             "or left marked RUNNING by an interrupted in-place run")
    # -j is --jobs, as in make and pytest; it used to mean --threads (CHANGES.md).
    parser.add_argument("-t", "--threads", type=int, metavar="N",
                        help="threads for the correction (default: rscd chooses, all cores)")
    parser.add_argument("-j", "--jobs", type=int, metavar="N",
                        help="files corrected at once, each in its own process (default: "
                             "the number of cores when there are several files)")
    parser.add_argument("--scheduler", metavar="ADDRESS",
                        help="send the files to a running dask.distributed scheduler "
                             "(tcp://host:8786) instead; the files must be on storage its "
                             "workers see (pip install distributed; see the cluster page "
                             "of the docs)")
    parser.add_argument("--resume", action="store_true",
                        help="skip files already done (in place: S_RSCD = COMPLETE; new "
                             "files: the output exists), so an interrupted run can be repeated")
    parser.add_argument("--summary", action="store_true", default=None,
                        help="print a table of all files at the end (default: when several "
                             "files and the output is a terminal)")
    parser.add_argument("--segments", action="store_true",
                        help="the inputs are the segment files (-seg001, -seg002, ...) of one "
                             "exposure, in any order: decay corrects each segment's first "
                             "integration from the previous segment's last one")
    noise = parser.add_mutually_exclusive_group()
    noise.add_argument("-v", "--verbose", action="count", default=0,
                       help="say more (-vv for debug messages)")
    noise.add_argument("-q", "--quiet", action="store_true",
                       help="print errors only, no summary lines or warnings")
    parser.add_argument("--debug", action="store_true",
                        help="show the traceback of each error")
    parser.add_argument("-V", "--version", action="version",
                        version=f"%(prog)s {_version()}")
    return parser


def _setup_logging(verbose, quiet):
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("rscd: %(levelname)s: %(message)s"))
    log.handlers[:] = [handler]
    log.propagate = False
    log.setLevel(logging.ERROR if quiet else
                 logging.WARNING if not verbose else
                 logging.INFO if verbose == 1 else logging.DEBUG)


def _show_warning(message, category, filename, lineno, file=None, line=None):
    log.warning("%s", " ".join(str(message).split()))


def _fail(text):
    print(f"rscd: error: {text}", file=sys.stderr)


def _refused(args, exc, status):
    """One line for a refusal (the traceback too with --debug); returns ``status``."""
    if args.debug:
        traceback.print_exc()
    _fail(error_text(exc))
    return status


def _stdout_gone():
    """The reader of stdout went away (``rscd ... | head``): send the rest of the output
    to the null device, so neither the next lines nor the flush at exit raise; the files
    are still corrected and the exit status says how that went."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):
        return                      # not a real file (captured): nothing to redirect
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, fd)
    os.close(devnull)


def _say(write, text, file=None):
    """``write(text, file=file)``; a closed pipe on stdout is not an error of the run."""
    try:
        write(text, file=file)
        (file or sys.stdout).flush()
    except BrokenPipeError:
        _stdout_gone()


def _run(args):
    from .batch import BatchInterrupted
    from .options import check_options
    from .reference import read_reference

    if args.scheduler is not None and (args.jobs is not None or args.segments):
        _fail(f"--scheduler sends the files to a cluster: drop "
              f"{'--jobs' if args.jobs is not None else '--segments'}")
        return EXIT_USAGE
    try:        # the checks apply_files makes too, here for the --segments path as well
        threads = check_options(method=args.method, inplace=args.in_place,
                                output_dir=args.output_dir, keep_inode=args.keep_inode,
                                threads=args.threads, jobs=args.jobs)
    except (ValueError, TypeError) as exc:
        _fail(str(exc))
        return EXIT_USAGE
    expected = expected_errors()
    try:
        reference = None if args.reference is None else read_reference(args.reference)
    except expected as exc:
        return _refused(args, exc, EXIT_USAGE)

    if args.segments:
        if reference is None:
            _fail("--segments needs --reference (one reference file for the exposure)")
            return EXIT_USAGE
        return _run_segments(args, reference, expected, threads)
    from .batch import apply_files
    from .scheduler import SchedulerError, scheduler_executor
    import contextlib

    total = len(args.inputs)

    def report(index, done, write):
        if done.status == "FAILED":
            if args.debug and done.traceback:
                _say(write, done.traceback.rstrip(), file=sys.stderr)
            _say(write, f"rscd: error: {done.error}", file=sys.stderr)
        elif done.status != "LEFT" and not args.quiet:   # LEFT: the summary names them
            progress = f"[{index + 1}/{total}] " if total > 1 else ""
            _say(write, progress + done.line(args.in_place))

    try:
        with (contextlib.nullcontext() if args.scheduler is None
              else scheduler_executor(args.scheduler)) as executor:
            batch = apply_files(args.inputs, reference, jobs=args.jobs, executor=executor,
                                resume=args.resume, output_dir=args.output_dir,
                                inplace=args.in_place, keep_inode=args.keep_inode,
                                method=args.method, overwrite=args.overwrite, force=args.force,
                                threads=threads, on_result=report,
                                progress=not args.quiet, sync=not args.no_sync)
    except SchedulerError as exc:
        _fail(str(exc))
        return EXIT_USAGE
    except BatchInterrupted as exc:
        for line in exc.batch.stopped_lines():
            print(f"rscd: {line}", file=sys.stderr, flush=True)
        return EXIT_INTERRUPTED
    except expected as exc:       # refused before any file ran (a file given twice ...)
        return _refused(args, exc, EXIT_USAGE)
    summary = args.summary if args.summary is not None else sys.stdout.isatty()
    if total > 1 and summary and not args.quiet:
        _say(print, batch.table())
    failed = batch.failed
    if failed and total > 1:
        _fail(f"{failed} of {total} files failed")
    return EXIT_FAILED if failed else EXIT_OK


def _run_segments(args, reference, expected, threads):
    from .segments import apply_segments
    try:
        results = apply_segments(args.inputs, reference, output_dir=args.output_dir,
                                 inplace=args.in_place, keep_inode=args.keep_inode,
                                 method=args.method, overwrite=args.overwrite,
                                 force=args.force, threads=threads)
    except KeyboardInterrupt:
        raise
    except Exception as exc:
        if not isinstance(exc, expected):
            if args.debug:
                traceback.print_exc()
            _fail(f"internal error: {type(exc).__name__}: {error_text(exc)} "
                  "(run with --debug for the traceback)")
            return EXIT_FAILED
        return _refused(args, exc, EXIT_FAILED)
    if not args.quiet:
        for n, seg in enumerate(results, 1):
            where = "in place" if args.in_place else f"-> {seg.output}"
            _say(print, f"[segment {n}/{len(results)}, integrations {seg.first}..{seg.last}] "
                        f"{seg.path} {where}: {seg.result.summary()}")
    return EXIT_OK


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of the ``rscd`` console script; returns the exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] in SUBCOMMANDS:
        return SUBCOMMANDS[argv[0]](argv[1:])
    args = _parser().parse_args(argv)
    saved = log.handlers[:], log.propagate, log.level    # main() may be called from Python
    _setup_logging(args.verbose, args.quiet)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("always")
            warnings.showwarning = _show_warning
            return _run(args)
    except KeyboardInterrupt:
        _fail("interrupted")
        return EXIT_INTERRUPTED
    except BrokenPipeError:         # stdout's reader went away outside a batch's lines
        _stdout_gone()
        return EXIT_FAILED
    finally:
        log.handlers[:], log.propagate = saved[0], saved[1]
        log.setLevel(saved[2])
