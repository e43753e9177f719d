"""Files on disk, handled safely (docs/inplace.rst): nothing here knows FITS.

* :func:`open_regular` opens only a regular file: a FIFO, a device, a socket or a folder
  is refused at once (opened without waiting, then checked with ``fstat``), never read.
* :func:`held` opens a file and holds a lock on it (``flock``: exclusive for a writer,
  shared for a reader), waiting for other holders, and makes sure the name still names
  the locked file.
* :func:`atomic_write` writes a file whole through a locked temporary file in its folder,
  synced when asked, renamed when complete -- without replacing an existing file unless
  asked (:func:`rename_no_replace`) -- and can give it the owner, group, permission bits
  and extended attributes (ACLs included) of another file (:func:`copy_identity`).
* :func:`reap_stale_temps` removes temporary files of killed writers (no lock held).
* :func:`reserve_blocks` gives a sparse file its disk blocks before it is written
  through a memory map (where a full disk would be SIGBUS).

A lock only binds processes that take it: other rscd runs, on file systems whose locks
work (local ones; NFS with a lock manager). Where locks are not supported, the functions
go on without them (``held`` yields and logs it).
"""
import contextlib
import ctypes
import ctypes.util
import errno
import logging
import os
import re
import socket
import stat
import uuid
from typing import BinaryIO, Callable, Iterator, Optional, Union

try:
    import fcntl
except ImportError:     # Windows: no flock; temporary files are then never reaped
    fcntl = None  # type: ignore[assignment]

__all__ = ["NotRegularFileError", "IdentityError", "file_key", "open_regular", "held",
           "atomic_write", "rename_no_replace", "copy_identity", "reserve_blocks",
           "reap_stale_temps", "sync_folder"]

log = logging.getLogger("rscd")

PathLike = Union[str, "os.PathLike[str]"]


class NotRegularFileError(OSError):
    """The path names a FIFO, a device, a socket or a folder, not a regular file."""


class IdentityError(OSError):
    """A new file cannot be given another file's owner, group or extended attributes."""


# --- opening and locking -------------------------------------------------------------------

_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
          (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
          (stat.S_ISSOCK, "a socket"))


def _refuse_irregular(path, mode):
    if stat.S_ISREG(mode):
        return
    kind = next((text for test, text in _KINDS if test(mode)), "not a regular file")
    raise NotRegularFileError(errno.EINVAL, f"is {kind}, not a regular file", path)


def open_regular(path: PathLike, *, write: bool = False) -> int:
    """Open the regular file ``path`` (read-only, or read-write with ``write``) and return
    the descriptor. Anything else raises :class:`NotRegularFileError` at once: the type is
    checked before opening, and the open itself does not wait (``O_NONBLOCK``: a FIFO
    without a writer would block it for ever) and is checked again with ``fstat``.

    Raises
    ------
    NotRegularFileError
        ``path`` is a folder, FIFO, device or socket.
    OSError
        It cannot be opened (missing, no permission, an immutable file for ``write``).
    """
    path = os.fspath(path)
    _refuse_irregular(path, os.stat(path).st_mode)
    flags = (os.O_RDWR if write else os.O_RDONLY) | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(path, flags | getattr(os, "O_NONBLOCK", 0))
    try:
        _refuse_irregular(path, os.fstat(fd).st_mode)
        if fcntl is not None:       # a regular file ignores O_NONBLOCK; clear it anyway
            fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_NONBLOCK)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _same_file(path, fd):
    """Whether ``path`` still names the file open as ``fd``."""
    try:
        st = os.stat(path)
    except OSError:
        return False
    own = os.fstat(fd)
    return (st.st_dev, st.st_ino) == (own.st_dev, own.st_ino)


def _try_lock(fd, shared=False):
    """Take a lock on the open file ``fd`` without waiting: True when taken, False when
    another open file holds it, None where this system or file system has no such locks
    (then nothing is ever reaped: a file that cannot be proved dead is kept)."""
    if fcntl is None:
        return None
    try:
        fcntl.flock(fd, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    except OSError:         # ENOLCK, EOPNOTSUPP: some network or FUSE file systems
        return None
    return True


@contextlib.contextmanager
def held(path: PathLike, *, write: bool,
         on_wait: Optional[Callable[[], None]] = None) -> Iterator[int]:
    """Open the regular file ``path`` (:func:`open_regular`) and hold a lock on it for the
    ``with`` block: exclusive with ``write`` (opened read-write), else shared. Waits while
    another process holds a conflicting lock (``on_wait`` is called once, first). When the
    lock is taken, ``path`` is checked to still name the locked file (a writer may have
    renamed a new file over it meanwhile): else the new file is opened and locked.

    Yields
    ------
    int
        The open, locked descriptor (closed, and so unlocked, at the end).
    """
    path = os.fspath(path)
    for _ in range(1000):
        fd = open_regular(path, write=write)
        try:
            taken = _try_lock(fd, shared=not write)
            if taken is False:
                if on_wait is not None:
                    on_wait()
                    on_wait = None
                fcntl.flock(fd, fcntl.LOCK_SH if not write else fcntl.LOCK_EX)
            elif taken is None:
                log.info("%s: this file system has no file locks: another rscd run on the "
                         "same file is not kept out (docs/inplace.rst)", path)
            if _same_file(path, fd):
                break
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)       # replaced while we waited: lock what the name holds now
    else:
        raise OSError(errno.EAGAIN, "replaced again and again while waiting for its lock",
                      path)
    try:
        yield fd
    finally:
        os.close(fd)


# --- temporary files: written under a lock, renamed when complete --------------------------
#
# A run writes its output to a hidden temporary file in the output's folder and renames it
# at the end. A process killed mid-write (SIGKILL, OOM killer) cannot remove its temporary
# file, so a later run of the same output removes such leftovers -- but only those no
# process holds a lock on: the writer locks its file (flock) for as long as it writes, and
# the kernel drops the lock when the process dies. A process id says nothing across PID
# namespaces (containers sharing a host name), a lock does.

def _host_tag():
    return re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname()) or "host"


def _temp_name(name):
    """``.NAME.HOST.PID.RANDOM.tmp``: hidden, named after the output; host and process
    are there for a person looking at the folder (the lock says whether it is live)."""
    return f".{name}.{_host_tag()}.{os.getpid()}.{uuid.uuid4().hex[:12]}.tmp"


def _exclusive(path, flags):
    """An ``open`` opener that creates the file or fails: never another's file."""
    return os.open(path, flags | os.O_EXCL, 0o666)


def _create_locked_temp(folder, name):
    """A new, empty temporary file for output ``name`` in ``folder``, open read-write and
    locked. A reaper may find it in the instant between its creation and the lock and
    remove it: then another name is tried."""
    for _ in range(100):
        tmp = os.path.join(folder, _temp_name(name))
        fh = open(tmp, "wb+", opener=_exclusive)     # astropy knows mode "rb+", not "xb+"
        locked = _try_lock(fh.fileno())
        if locked is None or (locked and _same_file(tmp, fh.fileno())):
            return fh
        fh.close()          # a reaper holds it or removed it: it is the reaper's now
    raise OSError(f"cannot create a temporary file for {name} in {folder}")


def reap_stale_temps(folder: str, name: str) -> None:
    """Remove the temporary files of output ``name`` in ``folder`` that no process holds:
    left by a run that was killed. Files of other hosts (a shared folder whose locks this
    host may not see) and files that cannot be locked are left alone.

    Parameters
    ----------
    folder : str
        The output's folder.
    name : str
        The output's file name (no folder).
    """
    pattern = re.compile(r"\." + re.escape(name) + r"\." + re.escape(_host_tag())
                         + r"\.\d+\.[0-9a-f]{12}\.tmp$")
    try:
        names = os.listdir(folder)
    except OSError:
        return
    for entry in names:
        if not pattern.match(entry):
            continue
        full = os.path.join(folder, entry)
        try:
            fd = os.open(full, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        except OSError:
            continue
        try:
            if (stat.S_ISREG(os.fstat(fd).st_mode) and _try_lock(fd)
                    and _same_file(full, fd)):
                os.remove(full)
                log.info("removed %s, left by an interrupted run", entry)
        except OSError:
            pass
        finally:
            os.close(fd)


def sync_folder(folder: str) -> None:
    """Make a rename in ``folder`` durable (POSIX; a no-op where folders cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# --- renaming without replacing ---------------------------------------------------------

_AT_FDCWD = -100
_RENAME_NOREPLACE = 1


def _libc_function(name, argtypes):
    """A function of the C library (glibc), or None where it has none by that name."""
    if os.name != "posix":
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        func = getattr(libc, name)
    except (OSError, AttributeError):       # not Linux, or too old a glibc
        return None
    func.argtypes = argtypes
    func.restype = ctypes.c_int
    return func


_renameat2 = _libc_function("renameat2", [ctypes.c_int, ctypes.c_char_p, ctypes.c_int,
                                          ctypes.c_char_p, ctypes.c_uint])
_fallocate = _libc_function("fallocate64", [ctypes.c_int, ctypes.c_int, ctypes.c_int64,
                                            ctypes.c_int64])


def rename_no_replace(src: str, dst: str) -> None:
    """Rename ``src`` to ``dst`` unless ``dst`` exists: then :class:`FileExistsError`
    and ``src`` is left. Atomic: of two processes renaming to one ``dst`` exactly one
    wins. Linux ``renameat2(RENAME_NOREPLACE)`` where the kernel and file system have it,
    else a hard link (which fails on an existing name) and unlinking ``src``; on Windows
    ``os.rename``, which never replaces."""
    if os.name == "nt":
        os.rename(src, dst)
        return
    if _renameat2 is not None:
        if _renameat2(_AT_FDCWD, os.fsencode(src), _AT_FDCWD, os.fsencode(dst),
                      _RENAME_NOREPLACE) == 0:
            return
        err = ctypes.get_errno()
        if err == errno.EEXIST:
            raise FileExistsError(err, os.strerror(err), dst)
        if err not in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOTSUP):
            raise OSError(err, os.strerror(err), src, None, dst)
    try:
        os.link(src, dst)
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EMLINK):
            raise
        # No hard links here (some FUSE or FAT file systems): check, then rename. Two
        # writers may then both pass the check in the same instant; docs/inplace.rst.
        if os.path.lexists(dst):
            raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), dst) from None
        os.rename(src, dst)
        return
    os.unlink(src)


def reserve_blocks(fd: int) -> None:
    """Give every byte of the open file ``fd`` a disk block, when it has holes (a sparse
    file), so that writing it through a memory map cannot fail. A store into a hole
    needs a new block; on a full file system the kernel's only answer to a store through
    a map is SIGBUS. Linux ``fallocate`` (not glibc's ``posix_fallocate``, whose
    emulation writes bytes) reserves them now or raises OSError (ENOSPC, EDQUOT). A file
    without holes costs one ``fstat``; where ``fallocate`` is missing or not supported by
    the file system, nothing is done (docs/inplace.rst: copy-on-write file systems)."""
    st = os.fstat(fd)
    if _fallocate is None or st.st_blocks * 512 >= st.st_size:     # no holes
        return
    if _fallocate(fd, 0, 0, st.st_size) == 0:
        return
    err = ctypes.get_errno()
    if err in (errno.ENOSPC, errno.EDQUOT):
        raise OSError(err, os.strerror(err))


# --- a copy that keeps the original's identity ------------------------------------------

def copy_identity(src_fd: int, dst_fd: int, *, mode: bool = True) -> None:
    """Give the open file ``dst_fd`` the owner, group and extended attributes (POSIX ACLs
    are the ``system.posix_acl_*`` attributes) of the open file ``src_fd``, and its
    permission bits unless ``mode`` is false. Raises :class:`IdentityError` saying what
    could not be copied (e.g. only root may give a file to another user)."""
    want = os.fstat(src_fd)
    have = os.fstat(dst_fd)
    if hasattr(os, "fchown") and (have.st_uid, have.st_gid) != (want.st_uid, want.st_gid):
        try:
            os.fchown(dst_fd, want.st_uid, want.st_gid)
        except OSError as exc:
            raise IdentityError(exc.errno, f"cannot give the new file the owner uid "
                                f"{want.st_uid} and group gid {want.st_gid} of the old one "
                                f"({exc.strerror})") from None
    if hasattr(os, "listxattr"):
        try:
            names = os.listxattr(src_fd)
        except OSError as exc:
            if exc.errno not in (errno.ENOTSUP, errno.EOPNOTSUPP):
                raise
            names = []
        for name in names:
            try:
                os.setxattr(dst_fd, name, os.getxattr(src_fd, name))
            except OSError as exc:
                raise IdentityError(exc.errno, "cannot give the new file the extended "
                                    f"attribute {name} of the old one ({exc.strerror})"
                                    ) from None
    if mode:
        os.fchmod(dst_fd, stat.S_IMODE(want.st_mode))


@contextlib.contextmanager
def atomic_write(target: PathLike, *, durable: bool = False,
                 mode_of: Optional[PathLike] = None, replace: bool = True,
                 identity_of: Optional[int] = None) -> Iterator[BinaryIO]:
    """Write ``target`` through a locked temporary file in its folder, renamed to
    ``target`` when the ``with`` block ends without an exception; on an exception the
    temporary file is removed and ``target`` is untouched. Temporary files of the same
    target left by killed processes are removed first (:func:`reap_stale_temps`).

    Parameters
    ----------
    target : str or os.PathLike
        The file to write.
    durable : bool
        fsync the file before the rename and the folder after it, so that after a power
        cut ``target`` is either the old file (or none) or the complete new one.
    mode_of : str or os.PathLike, optional
        A file whose permission bits the new file gets (the one it replaces).
    replace : bool
        Replace an existing ``target`` (default). When false, the rename does not replace
        (:func:`rename_no_replace`): if ``target`` appeared meanwhile,
        :class:`FileExistsError` is raised and nothing is written.
    identity_of : int, optional
        An open file descriptor whose owner, group, permission bits and extended
        attributes the new file gets (:func:`copy_identity`); owner and attributes are
        given at once, so a refusal (:class:`IdentityError`) comes before any data are
        written. The temporary file is private (mode 0600) until then.

    Yields
    ------
    file object
        Open for reading and writing (binary), empty; ``.name`` is its path.

    Raises
    ------
    OSError
        The temporary file cannot be created: ``filename`` is the folder (the message
        says which name was to be written there).

    Examples
    --------
    >>> with rscd.fits.atomic_write("table.fits") as fh:
    ...     fits.HDUList([fits.PrimaryHDU()]).writeto(fh)
    >>> fits.getval("table.fits", "SIMPLE")
    True
    """
    target = os.fspath(target)
    folder, name = os.path.split(os.path.abspath(target))
    reap_stale_temps(folder, name)
    try:
        fh = _create_locked_temp(folder, name)
    except OSError as exc:      # name the folder, not a temporary file that never was
        raise OSError(exc.errno, f"{exc.strerror or exc}: cannot create a file for "
                      f"{name} in this folder", folder) from None
    try:
        if identity_of is not None:
            os.fchmod(fh.fileno(), 0o600)
            copy_identity(identity_of, fh.fileno(), mode=False)
        yield fh
        fh.flush()
        if identity_of is not None:
            os.fchmod(fh.fileno(), stat.S_IMODE(os.fstat(identity_of).st_mode))
        elif mode_of is not None:
            os.chmod(fh.name, stat.S_IMODE(os.stat(mode_of).st_mode))
        if durable:
            os.fsync(fh.fileno())
        if os.name == "nt":     # Windows renames no open file
            fh.close()
        if replace:
            os.replace(fh.name, target)     # the lock stays on the file until closed
        else:
            rename_no_replace(fh.name, target)
    except BaseException:
        fh.close()
        try:
            os.remove(fh.name)
        except FileNotFoundError:
            pass
        raise
    finally:
        fh.close()
    if durable:
        sync_folder(folder)


def file_key(path: "Union[str, os.PathLike[str]]") -> tuple:
    """What makes two names one file: (device, inode) of an existing file, whatever the
    spelling (``f.fits``, ``./f.fits``, symbolic and hard links); the resolved absolute
    path of a name not there yet."""
    try:
        st = os.stat(path)
    except OSError:
        return ("path", os.path.realpath(path))
    return ("inode", st.st_dev, st.st_ino)
