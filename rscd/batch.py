"""Many files: ``rscd.batch.apply_files`` runs :func:`rscd.apply_file` over a process pool.

    >>> from rscd.batch import apply_files
    >>> batch = apply_files(paths, "my_rscd.fits", jobs=4, resume=True)   # doctest: +SKIP
    >>> batch.failed, batch.summary()                                     # doctest: +SKIP

Each file is one task; the C core's own threads are shared out between the workers
(``threads`` defaults to cores // jobs), so the machine is used once, not jobs times.
Workers are started with ``forkserver`` (``spawn`` where that is missing): the C core
uses OpenMP, and forking a process whose OpenMP runtime already started threads can
hang the child.

Nothing a worker says is lost: the warnings and the ``rscd`` log records of each file
are collected with its result and logged again in the calling process (the ``rscd``
logger), in input order. Errors do not stop the batch: a file that fails gets a
:class:`FileResult` with ``status == "FAILED"`` and a one-line ``error``.

Resumption (``resume=True``) skips files already done, so an interrupted batch can be
run again with the same command: in place, a file whose S_RSCD is COMPLETE; new files,
a file whose output already exists with S_RSCD COMPLETE or SKIPPED (outputs appear under
their name only when complete, so an existing one is a finished one). Those files get
``status == "DONE"``.
"""
import concurrent.futures
import logging
import multiprocessing
import os
import sys
import time
import traceback
import warnings
from dataclasses import dataclass, field

from .correct import Result

__all__ = ["apply_files", "FileResult", "BatchResult", "default_jobs"]

log = logging.getLogger("rscd")

#: ``FileResult.status`` values besides the Result ones (COMPLETE, SKIPPED).
FAILED = "FAILED"
DONE = "DONE"


@dataclass
class FileResult:
    """What happened to one file of a batch.

    ``status`` is COMPLETE or SKIPPED (``result`` says more), DONE (skipped by
    ``resume``: already corrected) or FAILED (``error`` is one line, ``traceback``
    the full text). ``messages`` holds (logging level, text) of the warnings and log
    records the run produced. ``output`` is the file written (the input itself in place).
    """
    path: str
    status: str
    output: str = None
    result: Result = None
    error: str = None
    traceback: str = None
    seconds: float = 0.0
    messages: list = field(default_factory=list)

    @property
    def ok(self):
        return self.status != FAILED

    def line(self, inplace=False):
        """The one line the command prints for this file (failures: the error)."""
        if self.status == FAILED:
            return self.error
        if self.status == DONE:
            where = "in place" if inplace else f"-> {self.output}"
            return f"{self.path} {where}: already done (S_RSCD = COMPLETE), skipped"
        where = "in place" if inplace else f"-> {self.output}"
        return f"{self.path} {where}: {self.result.summary()}"


@dataclass
class BatchResult:
    """Per-file results in input order, and the totals."""
    files: list
    seconds: float
    jobs: int

    def count(self, status):
        return sum(f.status == status for f in self.files)

    @property
    def failed(self):
        return self.count(FAILED)

    @property
    def ok(self):
        return self.failed == 0

    @property
    def files_per_second(self):
        return len(self.files) / self.seconds if self.seconds > 0 else float("inf")

    def summary(self):
        """One line: how many of each status, time and files per second."""
        parts = [f"{self.count(s)} {s.lower() if s != DONE else 'already done'}"
                 for s in ("COMPLETE", "SKIPPED", DONE, FAILED) if self.count(s)]
        return (f"{len(self.files)} file(s): {', '.join(parts) or 'none'} in "
                f"{self.seconds:.1f} s ({self.files_per_second:.2f} files/s, "
                f"{self.jobs} job(s))")

    def table(self):
        """A plain-text table: file, status, method, seconds, detail; then the summary."""
        rows = [("file", "status", "method", "s", "detail")]
        for f in self.files:
            method = f.result.method if f.result is not None and f.result.method else "-"
            if f.status == FAILED:
                detail = f.error
            elif f.status == DONE:
                detail = "already done"
            else:
                detail = f.result.summary().split(": ", 1)[-1] \
                    if ": " in f.result.summary() else ""
            rows.append((os.path.basename(f.path), f.status, method, f"{f.seconds:.2f}",
                         detail))
        widths = [max(len(r[i]) for r in rows) for i in range(4)]
        lines = []
        for r in rows:
            cells = [r[i].ljust(widths[i]) for i in range(4)]
            lines.append("  ".join(cells + [r[4]]).rstrip())
        lines.insert(1, "  ".join("-" * w for w in widths))
        lines.append(self.summary())
        return "\n".join(lines)


def default_jobs(nfiles):
    """Worker processes for ``nfiles`` files: the usable cores, at most one per file."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    return max(1, min(cores, nfiles))


def _cores():
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _status_of(path):
    """S_RSCD of a FITS file's primary header, or None (missing, unreadable, absent)."""
    from astropy.io import fits
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            value = fits.getval(path, "S_RSCD", ext=0)
    except Exception:
        return None
    return value.strip() if isinstance(value, str) else None


def _already_done(path, output, inplace):
    if inplace:
        return _status_of(path) == "COMPLETE"
    return os.path.exists(output) and _status_of(output) in ("COMPLETE", "SKIPPED")


def expected_errors():
    """The exception types that mean bad input (one line, no traceback), not a bug."""
    from . import RSCDError
    from .crds import CRDSError
    from .fits import RampFileError
    from .reference import ReferenceFileError
    return (RampFileError, ReferenceFileError, RSCDError, CRDSError, OSError, ValueError,
            TypeError, MemoryError)


def error_text(exc):
    """One line for an exception: ``file: strerror`` for OSError, else its message."""
    if isinstance(exc, OSError) and exc.strerror and exc.filename:
        text = f"{exc.filename}: {exc.strerror}"
    else:
        text = str(exc) or type(exc).__name__
    return " ".join(text.split())


class _Collect(logging.Handler):
    def __init__(self, sink):
        super().__init__(logging.DEBUG)
        self.sink = sink

    def emit(self, record):
        self.sink.append((record.levelno, " ".join(record.getMessage().split())))


def _run_one(path, reference, options, resume):
    """Worker: correct one file; never raises (except KeyboardInterrupt)."""
    from .fits import apply_file, output_path
    path = os.fspath(path)
    inplace = options.get("inplace", False)
    if options.get("output") is not None:
        output = os.fspath(options["output"])
    else:
        output = path if inplace else output_path(path, options.get("output_dir"))
    messages = []
    start = time.perf_counter()
    if resume and _already_done(path, output, inplace):
        return FileResult(path, DONE, output=output)
    handler = _Collect(messages)
    saved = log.handlers[:], log.propagate, log.level
    log.handlers[:] = [handler]
    log.propagate = False
    log.setLevel(logging.DEBUG)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                result = apply_file(path, reference, **options)
                out = FileResult(path, result.status, output=output, result=result)
            except KeyboardInterrupt:
                raise
            except Exception as exc:
                if isinstance(exc, expected_errors()):
                    text = error_text(exc)
                else:
                    text = (f"{path}: internal error: {type(exc).__name__}: "
                            f"{error_text(exc)} (run with --debug for the traceback)")
                out = FileResult(path, FAILED, output=output, error=text,
                                 traceback=traceback.format_exc())
        out.messages = [(logging.WARNING, " ".join(str(w.message).split()))
                        for w in caught] + messages
    finally:
        log.handlers[:], log.propagate = saved[0], saved[1]
        log.setLevel(saved[2])
    out.seconds = time.perf_counter() - start
    return out


def _context():
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    ctx = multiprocessing.get_context("forkserver")
    # The fork server imports rscd (numpy, astropy) once; every worker forks from it
    # with the imports done. It never runs the C core, so no OpenMP threads exist there.
    # (Ignored once the server of this process has started.)
    ctx.set_forkserver_preload(["rscd.batch", "rscd.fits"])
    return ctx


class _Progress:
    """tqdm bar (when installed and stdout is a terminal) or nothing; lines either way."""

    def __init__(self, total, enabled):
        self.bar = None
        if enabled and sys.stdout.isatty():
            try:
                from tqdm import tqdm
            except ImportError:
                tqdm = None
            if tqdm is not None:
                self.bar = tqdm(total=total, unit="file", dynamic_ncols=True, leave=False)

    def write(self, text, file=None):
        file = file or sys.stdout
        if self.bar is not None:
            self.bar.write(text, file=file)
        else:
            print(text, file=file, flush=True)

    def update(self):
        if self.bar is not None:
            self.bar.update(1)

    def close(self):
        if self.bar is not None:
            self.bar.close()


def apply_files(paths, reference, *, jobs=None, resume=False, output_dir=None,
                inplace=False, method="auto", overwrite=False, force=False, threads=None,
                on_result=None, progress=False):
    """Apply the RSCD correction to many FITS ramp files over a process pool.

    Parameters
    ----------
    paths : sequence of str or os.PathLike
        Ramp files; each is handled as :func:`rscd.apply_file` would.
    reference : str, os.PathLike, Reference or None
        None asks CRDS for each file's reference (see :func:`rscd.apply_file`).
        Parsed once here (a malformed file raises before any work starts).
    jobs : int, optional
        Worker processes; default :func:`default_jobs` (the cores, at most one per
        file). ``jobs=1`` runs in this process, one file after the other.
    resume : bool
        Skip files already done (module notes); they get status DONE.
    output_dir, inplace, method, overwrite, force
        As for :func:`rscd.apply_file`.
    threads : int, optional
        C-core threads per file; default the cores divided among the jobs.
    on_result : callable, optional
        Called in this process as ``on_result(index, file_result, write)`` for each
        file, in input order, as soon as it and every file before it are finished;
        ``write(text, file=sys.stdout)`` prints a line without breaking the bar.
    progress : bool
        Show a tqdm bar (stdout a terminal and tqdm installed).

    Returns
    -------
    BatchResult
        ``files`` in input order (FileResult each), ``summary()``, ``table()``.

    Raises
    ------
    ReferenceFileError
        The reference file is malformed (nothing was done).
    ValueError
        Bad options (the same checks as apply_file, made once here).
    """
    from .correct import METHODS, _as_reference
    paths = [os.fspath(p) for p in paths]
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, not {method!r}")
    if inplace and output_dir is not None:
        raise ValueError("inplace=True writes no new file: do not give output_dir")
    if jobs is not None and (isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1):
        raise ValueError(f"jobs must be an integer >= 1, not {jobs!r}")
    ref = None if reference is None else _as_reference(reference)   # None: CRDS per file
    jobs = default_jobs(len(paths)) if jobs is None else min(jobs, max(1, len(paths)))
    if threads is None and jobs > 1:
        threads = max(1, _cores() // jobs)
    options = dict(output_dir=output_dir, inplace=inplace, method=method,
                   overwrite=overwrite, force=force, threads=threads)
    results = [None] * len(paths)
    bar = _Progress(len(paths), progress)
    emitted = 0
    start = time.perf_counter()

    def finished(index, file_result):
        nonlocal emitted
        results[index] = file_result
        bar.update()
        while emitted < len(results) and results[emitted] is not None:
            done = results[emitted]
            for level, text in done.messages:
                log.log(level, "%s", text)
            if on_result is not None:
                on_result(emitted, done, bar.write)
            emitted += 1

    try:
        if jobs == 1:
            for i, path in enumerate(paths):
                finished(i, _run_one(path, ref, options, resume))
        else:
            pool = concurrent.futures.ProcessPoolExecutor(max_workers=jobs,
                                                          mp_context=_context())
            try:
                futures = {pool.submit(_run_one, path, ref, options, resume): i
                           for i, path in enumerate(paths)}
                for future in concurrent.futures.as_completed(futures):
                    i = futures[future]
                    try:
                        file_result = future.result()
                    except concurrent.futures.process.BrokenProcessPool as exc:
                        file_result = FileResult(
                            paths[i], FAILED,
                            error=f"{paths[i]}: worker process died ({exc}); rerun with "
                                  "--jobs 1 to see why",
                            traceback=traceback.format_exc())
                    finished(i, file_result)
            except BaseException:
                pool.shutdown(wait=True, cancel_futures=True)
                raise
            pool.shutdown(wait=True)
    finally:
        bar.close()
    return BatchResult(results, time.perf_counter() - start, jobs)
