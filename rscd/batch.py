"""Many files: ``rscd.batch.apply_files`` runs :func:`rscd.apply_file` over a process pool
or over any :class:`concurrent.futures.Executor` (a dask.distributed cluster's among them).

    >>> from rscd.batch import apply_files
    >>> batch = apply_files(paths, "my_rscd.fits", jobs=4, resume=True)   # doctest: +SKIP
    >>> batch.failed, batch.summary()                                     # doctest: +SKIP

Each file is one task, whatever runs it. With ``jobs`` the tasks go to a process pool of
this machine, and the C core's own threads are shared out between the workers
(``threads`` defaults to cores // jobs), so the machine is used once, not jobs times.
Pool workers are started with ``forkserver`` (``spawn`` where that is missing): the C
core uses OpenMP, and forking a process whose OpenMP runtime already started threads can
hang the child. With ``executor`` (``Client.get_executor()`` of dask.distributed, see
docs/cluster.rst) the tasks go to that executor; the paths are made absolute first, since
its workers do not share this process's working folder, and the files must be on storage
every worker sees. Both are driven by the same loop (``_drive``); ``jobs=1`` runs the same
task function in this process.

Nothing a worker says is lost: the warnings and the ``rscd`` log records of each file
are collected with its result (a picklable :class:`FileResult`) and logged again in the
calling process (the ``rscd`` logger), in input order. Collection is per thread, so a
worker that runs several files at once (a dask worker with several threads) keeps each
file's messages with that file. Errors do not stop the batch: a file that fails gets a
:class:`FileResult` with ``status == "FAILED"`` and a one-line ``error``; so does a file
whose task the executor lost (a worker process died).

Before anything runs, a batch refuses a file named twice (whatever the spelling: the
same device and inode) and two files whose outputs would have one name
(:func:`check_distinct`), and its options are checked once (:func:`check_options`, which
the command uses too).

Stopping: the first Ctrl-C (SIGINT) or SIGTERM of the calling process makes the batch
start no more files and wait for those being corrected; a second one stops them at once
(pool workers are killed). Either way :class:`BatchInterrupted` is raised, carrying the
:class:`BatchResult` that says which files are done and which are left. Pool workers
ignore SIGINT (a terminal's Ctrl-C reaches the whole process group, the decision is the
caller's) and die with the calling process: on Linux through ``PR_SET_PDEATHSIG``, and
everywhere through a watchdog thread waiting on a pipe that only the calling process
writes to, which ends when that process dies, however it dies.

Resumption (``resume=True``) skips files already done, so an interrupted batch can be
run again with the same command: in place, a file whose S_RSCD is COMPLETE; new files,
a file whose output already exists with S_RSCD COMPLETE or SKIPPED (outputs appear under
their name only when complete, so an existing one is a finished one). Those files get
``status == "DONE"``.
"""
from __future__ import annotations

import concurrent.futures
import concurrent.futures.process
import contextlib
import logging
import multiprocessing
import os
import signal
import sys
import threading
import time
import traceback
import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Sequence

from .correct import Result
from .errors import error_text, expected_errors
from .options import usable_cores, cap_threads, check_options, default_jobs
from .safe_files import file_key
from .scheduler import SchedulerError, scheduler_executor

if TYPE_CHECKING:
    from .reference import Reference

#: ``on_result(index, file_result, write)``; write(text, file=None) prints a line.
OnResult = Callable[[int, "FileResult", Callable[..., None]], None]

__all__ = ["apply_files", "FileResult", "BatchResult", "BatchInterrupted", "default_jobs",
           "check_options", "check_distinct", "cap_threads", "scheduler_executor",
           "SchedulerError"]

log = logging.getLogger("rscd")

#: ``FileResult.status`` values besides the Result ones (COMPLETE, SKIPPED).
FAILED = "FAILED"
DONE = "DONE"
LEFT = "LEFT"          # not started: the batch was interrupted first

#: Test hook: seconds each file's task sleeps before its correction (read in the worker),
#: so the tests can interrupt or kill a batch while files are still queued.
SLOW_FILE_ENV = "RSCD_TEST_SLOW_FILE"


@dataclass
class FileResult:
    """What happened to one file of a batch.

    ``status`` is COMPLETE or SKIPPED (``result`` says more), DONE (skipped by
    ``resume``: already corrected), FAILED (``error`` is one line, ``traceback``
    the full text) or LEFT (not started: the batch was interrupted). ``messages`` holds (logging level, text) of the warnings and log
    records the run produced. ``output`` is the file written (the input itself in place).
    """
    path: str
    status: str
    output: str | None = None
    result: Result | None = None
    error: str | None = None
    traceback: str | None = None
    seconds: float = 0.0
    messages: list[tuple[int, str]] = field(default_factory=list)
    stopped: bool = False      #: FAILED because a second interrupt stopped it mid-run

    @property
    def ok(self) -> bool:
        return self.status != FAILED

    def line(self, inplace: bool = False) -> str:
        """The one line the command prints for this file (failures: the error)."""
        if self.status == FAILED:
            return self.error or f"{self.path}: failed"
        if self.status == LEFT:
            return f"{self.path}: not started (the batch was interrupted)"
        where = "in place" if inplace else f"-> {self.output}"
        if self.status == DONE or self.result is None:
            return f"{self.path} {where}: already done (S_RSCD = COMPLETE), skipped"
        return f"{self.path} {where}: {self.result.summary()}"


@dataclass
class BatchResult:
    """Per-file results in input order, and the totals.

    ``jobs`` is the pool's size, or None when an executor ran the files (``engine``
    names it). ``interrupted``: the batch was stopped (files not started are LEFT)."""
    files: list[FileResult]
    seconds: float
    jobs: int | None
    engine: str | None = None
    interrupted: bool = False

    def count(self, status: str) -> int:
        """How many files have ``status``."""
        return sum(f.status == status for f in self.files)

    @property
    def failed(self) -> int:
        return self.count(FAILED)

    @property
    def ok(self) -> bool:
        return self.failed == 0 and not self.interrupted

    @property
    def files_per_second(self) -> float:
        return len(self.files) / self.seconds if self.seconds > 0 else float("inf")

    def summary(self) -> str:
        """One line: how many of each status, time and files per second."""
        parts = [f"{self.count(s)} {s.lower() if s != DONE else 'already done'}"
                 for s in ("COMPLETE", "SKIPPED", DONE, FAILED, LEFT) if self.count(s)]
        return (f"{len(self.files)} file(s): {', '.join(parts) or 'none'} in "
                f"{self.seconds:.1f} s ({self.files_per_second:.2f} files/s, "
                f"{self.engine or f'{self.jobs} job(s)'})")

    def table(self) -> str:
        """A plain-text table: file, status, method, seconds, detail; then the summary."""
        rows = [("file", "status", "method", "s", "detail")]
        for f in self.files:
            method = f.result.method if f.result is not None and f.result.method else "-"
            if f.status == FAILED:
                detail = f.error or ""
            elif f.status == LEFT:
                detail = "not started"
            elif f.status == DONE or f.result is None:
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

    def stopped_lines(self) -> list[str]:
        """What an interrupted batch did, naming the files: those finished (corrected,
        skipped, already done or failed), those stopped while being corrected, those
        not started; and what to do next."""
        groups = (("finished", [f for f in self.files if f.status not in (LEFT, FAILED)
                                or (f.status == FAILED and not f.stopped)]),
                  ("stopped while being corrected", [f for f in self.files if f.stopped]),
                  ("not started", [f for f in self.files if f.status == LEFT]))
        lines = [f"interrupted: {len(groups[0][1])} of {len(self.files)} file(s) finished"]
        for name, files in groups:
            if files:
                lines.append(f"{name} ({len(files)}): {' '.join(f.path for f in files)}")
        if any(f.stopped for f in self.files) or self.count(LEFT):
            lines.append("run the same command again with --resume (resume=True) to correct "
                         "the files not finished; finished ones are skipped")
        return lines


def check_distinct(paths: Sequence[str | os.PathLike[str]],
                   outputs: Sequence[str | os.PathLike[str]] | None = None) -> None:
    """Refuse, before anything is written, a set of files that names one file twice, or
    (``outputs``: the output name of each path, None in place) that would write two files
    to one name or write over another input. Used by :func:`apply_files` and
    :func:`rscd.segments.apply_segments`.

    Raises
    ------
    rscd.RampFileError
        Naming both files and what to do.
    """
    from .fits import RampFileError
    names = [os.fspath(p) for p in paths]
    inputs: dict[tuple, str] = {}
    for path in names:
        key = file_key(path)
        if key in inputs:
            raise RampFileError(
                f"{inputs[key]} and {path} are the same file (given twice, e.g. through "
                "another spelling or a link): give each file once")
        inputs[key] = path
    if outputs is None:
        return
    written: dict[tuple, str] = {}
    for path, out in zip(names, [os.fspath(o) for o in outputs]):
        key = file_key(out)
        if key in written:
            raise RampFileError(
                f"{written[key]} and {path} would both be written to {out}: correct them "
                "in two runs with different --output-dir folders, or rename one")
        other = inputs.get(key)
        if other is not None and other != path:
            raise RampFileError(
                f"{path} would be written to {out}, which is {other}, another input of "
                "this batch: correct them in two runs, or give --output-dir")
        written[key] = path


def _primary_header(path: str):
    """The primary header of a FITS file, or None (missing, unreadable, not a regular
    file: never open a FIFO or a device, it can block)."""
    from astropy.io import fits
    if not os.path.isfile(path):
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return fits.getheader(path, ext=0)
    except Exception:
        return None


def _status_of(path: str) -> str | None:
    """S_RSCD of a FITS file's primary header, or None (missing, unreadable, absent)."""
    value = (_primary_header(path) or {}).get("S_RSCD")
    return value.strip() if isinstance(value, str) else None


def _corrected_by(path: str) -> str:
    """The run that corrected ``path``: its last rscd HISTORY card ("rscd VERSION TIME
    RSCD METHOD with REFERENCE"), or what S_RSCD says when there is none."""
    history = (_primary_header(path) or {}).get("HISTORY", [])
    runs = [str(text) for text in history if str(text).startswith("rscd ")]
    return f"by {runs[-1]}" if runs else "S_RSCD = 'COMPLETE'"


def _already_corrected(path: str, inplace: bool) -> str:
    """The refusal of decay on a file an earlier run completed: it is not idempotent, and
    a rerun of an interrupted batch must not invite a second correction."""
    if inplace:
        what = ("rerun with --resume (resume=True) to skip the files already corrected; "
                "--force would correct it a second time")
    else:
        what = ("it needs no other correction; --force would correct it a second time "
                "into a new file")
    return (f"{path}: already corrected ({_corrected_by(path)}); decay is not idempotent, "
            f"so it was left as it is: {what}")


def _already_done(path: str, output: str, inplace: bool) -> bool:
    if inplace:
        return _status_of(path) == "COMPLETE"
    return os.path.exists(output) and _status_of(output) in ("COMPLETE", "SKIPPED")


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


class _Messages:
    """Collects the warnings and ``rscd`` log records of each running file, by thread.

    ``warnings.catch_warnings`` and swapping the logger's handlers change process-wide
    state: two files running at once on two threads of one worker (a dask worker with
    several threads, a thread pool) would each restore the other's state and lose or
    mix messages. So the first file to start installs one routing handler and one
    ``showwarning``; each record goes to the list of the thread that produced it, and
    records of threads not running a file go where they went before. The last file to
    finish puts everything back.
    """

    def __init__(self):
        self.lock = threading.Lock()
        self.sinks = {}            # thread ident -> list of (level, text)
        self.saved = None          # logger handlers, propagate, level; warnings state

    def _route_record(self, record):
        sink = self.sinks.get(threading.get_ident())
        if sink is not None:
            sink.append((record.levelno, _one_line(record.getMessage())))
            return
        handlers, propagate, level, _ = self.saved
        if record.levelno >= level:
            if propagate:
                handlers = handlers + logging.getLogger().handlers
            for handler in handlers:
                if record.levelno >= handler.level:
                    handler.handle(record)

    def _route_warning(self, message, category, filename, lineno, file=None, line=None):
        sink = self.sinks.get(threading.get_ident())
        if sink is not None:
            sink.append((logging.WARNING, _one_line(message)))
        else:
            self.saved[3][1](message, category, filename, lineno, file, line)

    def start(self):
        """Collect this thread's messages into a new list (returned)."""
        sink = []
        with self.lock:
            if not self.sinks:
                router = logging.Handler(logging.DEBUG)
                router.emit = self._route_record
                caught = warnings.catch_warnings()
                caught.__enter__()
                self.saved = (log.handlers[:], log.propagate, log.getEffectiveLevel(),
                              (caught, warnings.showwarning, log.level))
                log.handlers[:] = [router]
                log.propagate = False
                log.setLevel(logging.DEBUG)
                warnings.simplefilter("always")
                warnings.showwarning = self._route_warning
            self.sinks[threading.get_ident()] = sink
        return sink

    def stop(self):
        with self.lock:
            del self.sinks[threading.get_ident()]
            if not self.sinks:
                handlers, propagate, _, (caught, _, level) = self.saved
                log.handlers[:], log.propagate = handlers, propagate
                log.setLevel(level)
                caught.__exit__(None, None, None)
                self.saved = None


_messages = _Messages()


def _decay_chosen(reference, options):
    """Whether the run is ``decay`` (None: not known before CRDS is asked)."""
    method = options.get("method", "auto")
    if method == "auto":
        default_method = getattr(reference, "default_method", None)    # a Reference
        return None if default_method is None else default_method() == "decay"
    return method == "decay"


def _run_one(path, reference, options, resume):
    """Task: correct one file; never raises (except KeyboardInterrupt).

    Runs in a pool worker, on an executor's worker or in this process; returns a
    picklable FileResult. ``reference`` is a Reference or None (CRDS)."""
    from .fits import apply_file, output_path
    path = os.fspath(path)
    inplace = options.get("inplace", False)
    if options.get("output") is not None:
        output = os.fspath(options["output"])
    else:
        output = path if inplace else output_path(path, options.get("output_dir"))
    start = time.perf_counter()
    if resume and _already_done(path, output, inplace):
        return FileResult(path, DONE, output=output)
    if os.environ.get(SLOW_FILE_ENV):
        time.sleep(float(os.environ[SLOW_FILE_ENV]))
    if (not options.get("force") and _decay_chosen(reference, options)
            and _status_of(path) == "COMPLETE"):
        return FileResult(path, FAILED, output=output,
                          error=_already_corrected(path, inplace))
    messages = _messages.start()
    try:
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
    finally:
        _messages.stop()
    out.messages = messages
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


_PR_SET_PDEATHSIG = 1       # linux/prctl.h


def _die_with_parent(alive):
    """In a pool worker: end this process when the calling process ends, however it
    ends (SIGKILL included), instead of living on and correcting queued files.

    On Linux the kernel sends SIGKILL when the worker's parent dies (with ``forkserver``
    the parent is the fork server, which itself exits when the calling process is gone).
    Everywhere, a watchdog thread waits on ``alive``, the read end of a pipe whose only
    write end the calling process holds: the read returns at end of file when that
    process has died."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        except (OSError, AttributeError):
            pass                # the watchdog still works

    def watch():
        try:
            alive.recv_bytes()      # nothing is ever sent: this returns at end of file
        except (EOFError, OSError):
            pass
        os._exit(1)

    threading.Thread(target=watch, name="rscd-parent-watchdog", daemon=True).start()


def _worker_init(alive):
    """Pool worker set-up: a terminal's Ctrl-C reaches the whole process group, but
    whether the batch stops is the calling process's decision (a worker finishes its
    file or is killed); and the worker dies with the calling process."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _die_with_parent(alive)


class BatchInterrupted(KeyboardInterrupt):
    """A batch stopped by SIGINT or SIGTERM (module notes). ``batch`` is its
    :class:`BatchResult`: the files finished, stopped and not started."""

    def __init__(self, batch: BatchResult):
        super().__init__("the batch was interrupted")
        self.batch = batch


class _Stop:
    """While a batch runs in the main thread: the first SIGINT or SIGTERM asks it to start
    no more files (``requested``), a second one raises KeyboardInterrupt to stop the
    files being corrected. Only handlers left at Python's defaults are replaced (an
    application's own handlers are kept), and they are put back at the end."""

    def __init__(self):
        self.requested = False
        self.saved = {}

    def _handler(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for signum, default in ((signal.SIGINT, signal.default_int_handler),
                                    (signal.SIGTERM, signal.SIG_DFL)):
                if signal.getsignal(signum) is default:
                    self.saved[signum] = signal.signal(signum, self._handler)
        return self

    def __exit__(self, *exc):
        for signum, handler in self.saved.items():
            signal.signal(signum, handler)


def _stopped(path, inplace):
    """The FileResult of a file whose run a second interrupt stopped half-way."""
    if inplace:
        state = ("a decay or measured run stopped half-way leaves S_RSCD = 'RUNNING', "
                 "refused until the file is restored; a flag run can simply be repeated")
    else:
        state = "an output under its name is complete, else there is none"
    return FileResult(path, FAILED, stopped=True,
                      error=f"{path}: stopped while being corrected (interrupted twice): "
                            f"{state}; rerun with --resume")


def _kill_workers(pool):
    """Kill the processes of a ProcessPoolExecutor (a second interrupt: stop at once)."""
    for process in list((getattr(pool, "_processes", None) or {}).values()):
        with contextlib.suppress(OSError, ValueError, AttributeError):
            process.kill()


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


def _lost(path, exc):
    """The FileResult of a file whose task did not come back (the executor's error)."""
    if isinstance(exc, concurrent.futures.process.BrokenProcessPool):
        why = f"worker process died ({exc}); rerun with --jobs 1 to see why"
    elif isinstance(exc, concurrent.futures.CancelledError):
        why = "cancelled"
    else:
        why = f"the worker did not return a result: {type(exc).__name__}: {error_text(exc)}"
    return FileResult(path, FAILED, error=f"{path}: {why}", traceback=traceback.format_exc())


def _drive(executor, paths, task_args, finished, shown, stop, *, window=None, kill=None,
           inplace=False):
    """Submit one task per file to ``executor``; hand each result to ``finished`` as it
    completes. The one loop for the process pool and for any other executor. ``shown``:
    the paths as the caller gave them, for the line of a lost task. ``window``: at most
    that many tasks submitted at once (a pool's size: a stopped batch then has no file
    queued in it); None: all at once. When ``stop`` is requested no task is submitted
    any more, those not started are cancelled (left without a result) and those
    running are waited for; a KeyboardInterrupt (a second interrupt) calls ``kill`` and
    reports the running files as stopped."""
    todo = list(range(len(paths)))[::-1]
    running: dict[concurrent.futures.Future, int] = {}
    announced = False
    try:
        while todo or running:
            if stop.requested and not announced:
                announced = True
                todo.clear()
                for future in [f for f in running if f.cancel()]:
                    del running[future]
                if running:
                    log.warning("interrupted: starting no more files; waiting for the %d "
                                "being corrected (%s); interrupt again to stop them at once",
                                len(running), " ".join(shown[i] for i in running.values()))
            while todo and (window is None or len(running) < window):
                i = todo.pop()
                running[executor.submit(_run_one, paths[i], *task_args)] = i
            if not running:
                break
            done, _ = concurrent.futures.wait(running, timeout=0.2,
                                              return_when=concurrent.futures.FIRST_COMPLETED)
            for future in done:
                i = running.pop(future)
                if future.cancelled():
                    continue
                try:
                    file_result = future.result()
                except Exception as exc:
                    file_result = _lost(shown[i], exc)
                finished(i, file_result)
    except KeyboardInterrupt:           # the second interrupt: stop at once
        stop.requested = True
        if kill is not None:
            kill()
        for future, i in running.items():
            future.cancel()
            finished(i, _stopped(shown[i], inplace))


def _shown_as_given(file_result, given):
    """A remote task's result with the path as the caller gave it (tasks get absolute
    paths); its output relative to here when the path was relative."""
    file_result.path = given
    if file_result.output is not None and not os.path.isabs(given):
        file_result.output = os.path.relpath(file_result.output)
    return file_result


def apply_files(paths: Sequence[str | os.PathLike[str]],
                reference: str | os.PathLike[str] | Reference | None, *,
                jobs: int | None = None,
                executor: concurrent.futures.Executor | None = None,
                resume: bool = False, output_dir: str | os.PathLike[str] | None = None,
                inplace: bool = False, method: str = "auto", overwrite: bool = False,
                force: bool = False, threads: int | None = None,
                on_result: OnResult | None = None, progress: bool = False,
                keep_inode: bool = False, sync: bool = True) -> BatchResult:
    """Apply the RSCD correction to many FITS ramp files, one task per file.

    Parameters
    ----------
    paths : sequence of str or os.PathLike
        Ramp files; each is handled as :func:`rscd.apply_file` would.
    reference : str, os.PathLike, Reference or None
        None asks CRDS for each file's reference (see :func:`rscd.apply_file`).
        Parsed once here (a malformed file raises before any work starts).
    jobs : int, optional
        Worker processes of a pool on this machine; default :func:`default_jobs` (the
        cores, at most one per file). ``jobs=1`` runs in this process, one file after
        the other. Not with ``executor``.
    executor : concurrent.futures.Executor, optional
        Run the tasks there instead, e.g. ``distributed.Client(address).get_executor()``
        (docs/cluster.rst). The executor is used, not shut down. Paths are made
        absolute; the files must be on storage its workers see, and its workers must
        have the same rscd installed.
    resume : bool
        Skip files already done (module notes); they get status DONE.
    output_dir, inplace, method, overwrite, force, keep_inode, sync
        As for :func:`rscd.apply_file`.
    threads : int, optional
        C-core threads per file, at most the cores (:func:`cap_threads`); default with a
        pool the cores divided among the jobs,
        with an executor the worker's OpenMP default (dask workers set
        OMP_NUM_THREADS=1: one core per task).
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
        Bad options (:func:`check_options`, made once here), or both ``jobs`` and
        ``executor``.
    TypeError
        ``executor`` is not a concurrent.futures.Executor.
    rscd.RampFileError
        One file given twice, or two outputs with one name (:func:`check_distinct`);
        nothing was done.
    BatchInterrupted
        SIGINT or SIGTERM stopped the batch (module notes); its ``batch`` says which
        files are finished and which are not.
    """
    from .fits import output_path
    from .reference import Reference, read_reference
    given = [os.fspath(p) for p in paths]
    threads = check_options(method=method, inplace=inplace, output_dir=output_dir,
                            keep_inode=keep_inode, threads=threads, jobs=jobs)
    if executor is not None:
        if jobs is not None:
            raise ValueError("give jobs (a process pool here) or executor, not both")
        if not isinstance(executor, concurrent.futures.Executor):
            raise TypeError("executor must be a concurrent.futures.Executor, not "
                            f"{type(executor).__name__}")
    check_distinct(given, None if inplace else [output_path(p, output_dir) for p in given])
    if reference is None or isinstance(reference, Reference):
        ref = reference                                    # None: CRDS per file
    else:
        ref = read_reference(reference)
    if executor is None:
        jobs = default_jobs(len(given)) if jobs is None else min(jobs, max(1, len(given)))
        if threads is None and jobs > 1:
            threads = max(1, usable_cores() // jobs)
        task_paths = given
    else:
        # the executor's workers have their own working folder
        task_paths = [os.path.abspath(p) for p in given]
        if output_dir is not None:
            output_dir = os.path.abspath(os.fspath(output_dir))
    options = dict(output_dir=output_dir, inplace=inplace, method=method,
                   overwrite=overwrite, force=force, threads=threads, keep_inode=keep_inode,
                   sync=sync)
    results: list[FileResult | None] = [None] * len(given)
    bar = _Progress(len(given), progress)
    emitted = 0
    start = time.perf_counter()

    def finished(index, file_result):
        nonlocal emitted
        if executor is not None:
            file_result = _shown_as_given(file_result, given[index])
        results[index] = file_result
        bar.update()
        while emitted < len(results) and results[emitted] is not None:
            done = results[emitted]
            for level, text in done.messages:
                log.log(level, "%s", text)
            if on_result is not None:
                on_result(emitted, done, bar.write)
            emitted += 1

    task_args = (ref, options, resume)
    with _Stop() as stop:
        try:
            if executor is not None:
                _drive(executor, task_paths, task_args, finished, given, stop,
                       inplace=inplace)
            elif jobs == 1:
                _run_here(task_paths, task_args, finished, stop, inplace)
            else:
                _run_pool(jobs, task_paths, task_args, finished, stop, inplace)
            for i, file_result in enumerate(results):    # the files an interrupt left
                if file_result is None:
                    finished(i, FileResult(given[i], LEFT))
        finally:
            bar.close()
    files = [r for r in results if r is not None]         # all of them by now
    batch = BatchResult(files, time.perf_counter() - start, jobs,
                        None if executor is None else type(executor).__name__,
                        interrupted=stop.requested)
    if stop.requested:
        raise BatchInterrupted(batch)
    return batch


def _run_here(paths, task_args, finished, stop, inplace):
    """jobs=1: the files one after the other in this process."""
    for i, path in enumerate(paths):
        if stop.requested:
            return
        try:
            file_result = _run_one(path, *task_args)
        except KeyboardInterrupt:       # a second interrupt, or not our handler
            stop.requested = True
            finished(i, _stopped(path, inplace))
            return
        finished(i, file_result)


def _run_pool(jobs, paths, task_args, finished, stop, inplace):
    """A process pool of ``jobs`` workers that die with this process (_worker_init)."""
    ctx = _context()
    alive, keep_alive = ctx.Pipe(duplex=False)     # this process holds the only write end
    pool = concurrent.futures.ProcessPoolExecutor(
        max_workers=jobs, mp_context=ctx, initializer=_worker_init, initargs=(alive,))
    try:
        _drive(pool, paths, task_args, finished, paths, stop, window=jobs,
               kill=lambda: _kill_workers(pool), inplace=inplace)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        keep_alive.close()
        alive.close()
