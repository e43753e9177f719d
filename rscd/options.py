"""The options of a run over files, checked once, before any file: the one owner of
these checks for :func:`rscd.apply_file`, :func:`rscd.batch.apply_files`,
:func:`rscd.segments.apply_segments` and the ``rscd`` command."""
from __future__ import annotations

import logging
import numbers
import os

from .correct import METHODS

__all__ = ["check_options", "cap_threads", "default_jobs", "usable_cores"]

log = logging.getLogger("rscd")


def usable_cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def default_jobs(nfiles: int) -> int:
    """Worker processes for ``nfiles`` files: the usable cores, at most one per file."""
    return max(1, min(usable_cores(), nfiles))


def cap_threads(threads: int | None) -> int | None:
    """``threads`` at most the cores this process may use, with a one-line notice when
    it was more: more threads than cores only wait for each other, and a huge number
    makes the OpenMP runtime abort the process while allocating their stacks."""
    cores = usable_cores()
    if threads is not None and threads > cores:
        log.warning("--threads %d (threads=%d) is more than the %d core(s) this process "
                    "may use: using %d", threads, threads, cores, cores)
        return cores
    return threads


def _count(value, name):
    """A count option: None, or an integer >= 1 (else one line naming the option)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} (--{name}) must be an integer, not {type(value).__name__}")
    if value < 1:
        raise ValueError(f"--{name} must be >= 1, not {value} ({name}={value})")
    return int(value)


def check_options(*, method: str = "auto", inplace: bool = False,
                  output_dir: str | os.PathLike[str] | None = None, keep_inode: bool = False,
                  threads: int | None = None, jobs: int | None = None) -> int | None:
    """The checks of a batch's options, made once before any file (the command and
    :func:`apply_files` share them); returns ``threads`` capped by :func:`cap_threads`.

    Raises
    ------
    ValueError, TypeError
        One line naming the option (command-line and Python spellings) and what to do.
    """
    if method not in METHODS:
        raise ValueError(f"--method (method=) must be one of {', '.join(METHODS)}, "
                         f"not {method!r}")
    if inplace and output_dir is not None:
        raise ValueError("--in-place (inplace=True) writes no new file: drop --output-dir "
                         "(output_dir)")
    if keep_inode and not inplace:
        raise ValueError("--keep-inode is for --in-place runs (keep_inode=True needs "
                         "inplace=True)")
    _count(jobs, "jobs")
    threads = _count(threads, "threads")
    if output_dir is not None:
        folder = os.fspath(output_dir)
        if os.path.exists(folder) and not os.path.isdir(folder):
            raise ValueError(f"--output-dir {folder}: a file of that name exists, not a "
                             "folder; give a folder (it is created when missing)")
    return cap_threads(threads)
