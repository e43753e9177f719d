"""The dask.distributed scheduler as an executor of :func:`rscd.batch.apply_files`
(``rscd FILES --scheduler ADDRESS``, docs/cluster.rst): a connection with bounded waits
and one-line refusals, workers checked to have this rscd, and a lost connection told as
one line per file not done."""
import concurrent.futures
import contextlib
import logging
import threading
from typing import Iterator

from .errors import error_text

__all__ = ["scheduler_executor", "SchedulerError", "SchedulerLostError"]

log = logging.getLogger("rscd")


class SchedulerError(Exception):
    """The dask.distributed scheduler cannot take the files (one line: what to do)."""


@contextlib.contextmanager
def scheduler_executor(address: str,
                       timeout: float = 30) -> Iterator[concurrent.futures.Executor]:
    """An executor sending tasks to the dask.distributed scheduler at ``address``.

    ``with scheduler_executor("tcp://host:8786") as executor: apply_files(...,
    executor=executor)``. Checks that every worker connected now has the rscd version of
    this process (a worker without rscd cannot run a file). Closes the connection at the
    end; the scheduler and its workers keep running.

    A refused connection (no scheduler at that port: a wrong address, a stopped
    scheduler) or an unknown host fails at once; a host that does not answer is waited
    for up to ``timeout`` seconds, and the log says so when the wait starts. When the
    scheduler is lost during the run, each file not done yet fails with one line saying
    so, and distributed's own reconnection messages and tracebacks are held back.

    Raises
    ------
    SchedulerError
        distributed is not installed, the scheduler cannot be reached within
        ``timeout`` seconds, or a worker has another rscd.
    """
    try:
        from distributed import Client
    except ImportError:
        raise SchedulerError("--scheduler needs dask.distributed: pip install "
                             "distributed") from None
    _probe_scheduler(address, timeout)
    with _distributed_quiet():
        client = _connect(Client, address, timeout)
        try:
            _check_workers(client, address)
            yield _ClusterExecutor(client, address)
        finally:
            # Closing while distributed tries to reconnect to a lost scheduler would wait
            # out its reconnection time: don't. A running one gets 10 s: on a loaded
            # machine 2 s ran out, and distributed printed "TimeoutError: Timeout" last.
            with contextlib.suppress(Exception):
                client.close(timeout=10 if client.status == "running" else 0.1)


def _connect(client_class, address, timeout):
    """``Client(address)``, bounded by ``timeout`` also where distributed's is not: a
    port that accepts the connection but never answers (not a scheduler, or a hung one)
    blocks its handshake for ever. After 2 s the log says that we wait; on time out
    the connecting thread (a daemon) is left behind."""
    box: dict = {}

    def connect():
        try:
            box["client"] = client_class(address, timeout=timeout, set_as_default=False)
        except BaseException as exc:       # handed to the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=connect, name="rscd-scheduler-connect", daemon=True)
    thread.start()
    thread.join(min(2.0, timeout / 2))
    if thread.is_alive():
        log.warning("scheduler %s: no answer yet; waiting up to %g s", address, timeout)
        thread.join(timeout + 5)           # distributed's own time out comes first
    if thread.is_alive():
        raise SchedulerError(f"scheduler {address}: no answer within {timeout:g} s (is a "
                             "dask scheduler running there, and not stuck?)")
    error = box.get("error")
    if isinstance(error, (OSError, ValueError, TypeError)):
        raise SchedulerError(f"scheduler {address}: {error_text(error)}") from None
    if error is not None:
        raise error
    return box["client"]


def _probe_scheduler(address, timeout):
    """Fail at once where distributed would retry for ``timeout`` seconds in silence: a
    refused connection or an unknown host. TCP addresses only (tcp://host:port or
    host:port); others are left to distributed."""
    import socket
    scheme, _, rest = address.rpartition("://")
    host, _, port = rest.rpartition(":")
    if scheme not in ("", "tcp") or not host or not port.isdigit():
        return
    host = host.strip("[]")
    try:
        socket.create_connection((host, int(port)), timeout=min(2.0, timeout)).close()
    except ConnectionRefusedError:
        raise SchedulerError(f"scheduler {address}: connection refused: nothing listens "
                             f"at {host}:{port} (is the scheduler running, and is the "
                             "address the one it printed?)") from None
    except socket.gaierror as exc:
        raise SchedulerError(f"scheduler {address}: unknown host {host!r} "
                             f"({exc.strerror})") from None
    except OSError:             # no answer yet (or a routing error): distributed decides
        pass


@contextlib.contextmanager
def _distributed_quiet():
    """distributed's loggers silenced below CRITICAL while the client lives: a lost
    scheduler makes them print reconnection attempts and tracebacks; rscd says what
    happened in one line per file instead."""
    names = ["distributed"] + [n for n in logging.root.manager.loggerDict
                               if n.startswith("distributed.")]
    saved = {n: logging.getLogger(n).level for n in names}
    for n in names:
        logging.getLogger(n).setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for n, level in saved.items():
            logging.getLogger(n).setLevel(level)


class SchedulerLostError(SchedulerError):
    """The connection to the scheduler was lost before this file was done."""


class _ClusterExecutor(concurrent.futures.Executor):
    """``client.get_executor()`` whose futures fail with :class:`SchedulerLostError`
    (one line naming the scheduler) instead of a bare cancellation when the connection
    to the scheduler is lost: all of them at once, also those distributed would keep
    waiting for until its reconnection time is out."""

    def __init__(self, client, address):
        self._client, self._address = client, address
        self._inner = client.get_executor()
        self._pending: dict = {}            # outer future -> inner future
        self._lock = threading.Lock()

    def _connection_lost(self):
        with self._lock:
            pending, self._pending = self._pending, {}
        for outer, inner in pending.items():
            if not outer.done():
                outer.set_exception(SchedulerLostError(
                    f"the connection to scheduler {self._address} was lost before this "
                    "file was done"))
            inner.cancel()

    def submit(self, fn, /, *args, **kwargs):
        inner = self._inner.submit(fn, *args, **kwargs)
        outer: concurrent.futures.Future = concurrent.futures.Future()
        with self._lock:
            self._pending[outer] = inner

        def cancel_inner(done):
            if done.cancelled():
                inner.cancel()

        def copy(done):
            with self._lock:
                self._pending.pop(outer, None)
            if outer.done():
                return
            if done.cancelled():
                if self._client.status != "running":
                    self._pending[outer] = inner
                    self._connection_lost()
                    return
                outer.cancel()
                outer.set_running_or_notify_cancel()
            elif done.exception() is not None:
                outer.set_exception(done.exception())
            else:
                outer.set_result(done.result())

        outer.add_done_callback(cancel_inner)
        inner.add_done_callback(copy)
        return outer

    def shutdown(self, wait=True, *, cancel_futures=False):
        self._inner.shutdown(wait=wait)


def _check_workers(client, address):
    """Refuse workers whose rscd differs from this one's; warn when there are none."""
    versions = client.get_versions(packages=["rscd"])
    mine = versions["client"]["packages"].get("rscd")
    workers = versions.get("workers") or {}
    if not workers:
        log.warning("scheduler %s has no workers yet: the files wait for them", address)
    for worker, info in sorted(workers.items()):
        theirs = (info or {}).get("packages", {}).get("rscd")
        if theirs != mine:
            have = f"rscd {theirs}" if theirs else "no rscd"
            raise SchedulerError(f"scheduler {address}: worker {worker} has {have}, this "
                                 f"process rscd {mine}: workers need the same rscd "
                                 "installed (docs/cluster.rst)")
