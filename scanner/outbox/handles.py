"""An outbox file held by its descriptor: opened once, folder by folder from the outbox, never through a link. What
is scanned, copied and removed is that inode, whatever its writer does to names and folders meanwhile.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import hashlib
import os
import stat
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePath

from scanner.outbox.journal import Identity
from scanner.outbox.layout import numbered

CHUNK = 1 << 20  # bytes read at a time: a file of any size costs this much memory to hash or copy
_FOLDER = os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC | getattr(os, "O_PATH", os.O_RDONLY)
_FILE = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


class NotRegular(OSError):
    """A link, a pipe, a socket or a device where a file was expected (or a link where a folder was)."""


class ContentChanged(OSError):
    """The file is not the one that was checked any more (written to, or another file put under its name); it stays
    and is looked at again."""


@dataclass
class Held:
    """A file of an outbox (or of a held folder), held open: its folder and, when it could be read, the file itself.
    `stat` is what the file was when it was opened; `fd` is None for a file nobody may read."""

    root: Path
    rel: PurePath
    folder: int  # the file's folder, an O_PATH descriptor
    fd: int | None
    stat: os.stat_result

    @property
    def name(self) -> str:
        return self.rel.name

    @property
    def path(self) -> Path:
        return self.root / self.rel

    @property
    def identity(self) -> Identity:
        return (self.stat.st_dev, self.stat.st_ino)

    def proc_path(self) -> str:
        """A name another process of this user opens this very file by (a scanning process), whatever has become of
        its name and folders since. Only for a readable file."""
        assert self.fd is not None
        return f"/proc/{os.getpid()}/fd/{self.fd}"

    def unchanged(self, ignore_ctime: bool = False) -> bool:
        """The file was not written to since it was opened: its size and times are as they were then (its change time
        too, which a rename or a new link also moves, unless `ignore_ctime`: for after our own rename)."""
        if self.fd is None:
            return True
        now, then = os.fstat(self.fd), self.stat
        ctime = ignore_ctime or now.st_ctime_ns == then.st_ctime_ns
        return ctime and (now.st_ino, now.st_size, now.st_mtime_ns) == (then.st_ino, then.st_size, then.st_mtime_ns)

    def close(self) -> None:
        for fd in (self.fd, self.folder):
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self.fd = None
        self.folder = -1

    def __enter__(self) -> Held:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_folder(root: Path, rel: PurePath) -> int:
    """The folder `root/rel`, opened one component at a time below `root` without following a link (ELOOP, or
    ENOTDIR for a component that is no folder)."""
    fd = os.open(root, _FOLDER & ~os.O_NOFOLLOW)  # the root as configured (a link there is the administrator's)
    try:
        for part in rel.parts:
            if part in ("", ".", ".."):
                raise NotRegular(errno.EINVAL, "not a plain name", part)
            inner = os.open(part, _FOLDER, dir_fd=fd)
            os.close(fd)
            fd = inner
    except BaseException:
        os.close(fd)
        raise
    return fd


def open_held(root: Path, rel: PurePath) -> Held:
    """`root/rel` opened once: its folders without following links, the file itself with O_NOFOLLOW. A file that
    cannot be read is held by its folder and name alone (fd None); FileNotFoundError when it is gone; NotRegular for
    a link (the file or one of its folders), a pipe, a socket or a device."""
    try:
        folder = open_folder(root, rel.parent)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):
            raise NotRegular(exc.errno, "a link or a file where a folder should be", str(root / rel)) from None
        raise
    try:
        try:
            fd: int | None = os.open(rel.name, _FILE, dir_fd=folder)
        except PermissionError:
            fd = None
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise NotRegular(exc.errno, "a link", str(root / rel)) from None
            raise
        st = os.fstat(fd) if fd is not None else os.stat(rel.name, dir_fd=folder, follow_symlinks=False)
        if not stat.S_ISREG(st.st_mode):
            if fd is not None:
                os.close(fd)
            raise NotRegular(errno.EINVAL, "not a regular file", str(root / rel))
    except BaseException:
        os.close(folder)
        raise
    return Held(root, rel, folder, fd, st)


def is_there(held: Held, name: str | None = None) -> bool:
    """The name (by default the file's own) in the file's folder still leads to the held file."""
    try:
        st = os.stat(name or held.name, dir_fd=held.folder, follow_symlinks=False)
    except FileNotFoundError:
        return False
    return (st.st_dev, st.st_ino) == held.identity


def digest_of(fd: int) -> tuple[str, int]:
    """The SHA-256 and size of the whole file behind `fd`, read from its start (pread: the offset is left alone)."""
    digest, offset = hashlib.sha256(), 0
    while chunk := os.pread(fd, CHUNK, offset):
        digest.update(chunk)
        offset += len(chunk)
    return digest.hexdigest(), offset


def copy_checked(held: Held, target_folder: int, temp: str, sha256: str) -> int:
    """Copy the held file into a new file `temp` of `target_folder` and check that the bytes copied are those with
    `sha256` (the bytes that were scanned): ContentChanged (and no `temp` left) otherwise. The copy's descriptor,
    for the caller to sync and close."""
    assert held.fd is not None
    out = os.open(
        temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600, dir_fd=target_folder
    )
    try:
        digest, offset = hashlib.sha256(), 0
        while chunk := os.pread(held.fd, CHUNK, offset):
            digest.update(chunk)
            offset += len(chunk)
            view = memoryview(chunk)
            while view:
                view = view[os.write(out, view) :]
        if digest.hexdigest() != sha256:
            raise ContentChanged(errno.EAGAIN, "changed since it was scanned", str(held.path))
        os.fchmod(out, stat.S_IMODE(held.stat.st_mode) & 0o777)  # no set-user-ID bit on a file the service owns
        os.utime(out, ns=(held.stat.st_atime_ns, held.stat.st_mtime_ns))
    except BaseException:
        os.close(out)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp, dir_fd=target_folder)
        raise
    return out


def remove_held(held: Held) -> bool:
    """Remove the held file's name from its folder, if the name still leads to the held file and the file was not
    written to since it was opened; True if it did.

    The name is first moved to a hidden name of baomi's own (atomically, in the same folder), and only the file found
    there is removed, and only if it is the one held and unchanged: a file written to meanwhile, or another file put
    under the name, is given back its name (or a free one) and goes through the outbox again."""
    if not held.unchanged():
        return False
    hidden = f".{held.name}.{uuid.uuid4().hex[:8]}.baomi-part"
    try:
        os.rename(held.name, hidden, src_dir_fd=held.folder, dst_dir_fd=held.folder)
    except FileNotFoundError:
        return False
    if is_there(held, hidden) and held.unchanged(ignore_ctime=True):
        os.unlink(hidden, dir_fd=held.folder)
        return True
    give_back(held.folder, hidden, held.folder, held.name)
    return False


def give_back(from_folder: int, taken: str, folder: int, name: str) -> None:
    """Put the file taken to `taken` back under `name` of `folder` (or `name (2)`, ...) without replacing anything."""
    for number in range(1, 10_000):
        try:
            rename_noreplace_at(from_folder, taken, folder, numbered(name, number))
            return
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "no free name left", name)


def _load_renameat2() -> Callable[..., int] | None:
    try:
        function: Callable[..., int] = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return None
    return function


_RENAMEAT2 = _load_renameat2()
_RENAME_NOREPLACE = 1


def rename_noreplace_at(source_folder: int, source: str, target_folder: int, target: str) -> None:
    """Rename `source` of one folder (a descriptor) to `target` of another, atomically, failing with FileExistsError
    instead of replacing anything.

    renameat2(RENAME_NOREPLACE) where the kernel and file system have it; else link-then-unlink, which leaves both
    names on the same inode for a moment (recovery tells that apart by the inode); else, on file systems without hard
    links, a check followed by a plain rename (only another writer into our own destination could race it)."""
    if _RENAMEAT2 is not None:
        if _RENAMEAT2(source_folder, os.fsencode(source), target_folder, os.fsencode(target), _RENAME_NOREPLACE) == 0:
            return
        code = ctypes.get_errno()
        if code not in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP):
            raise OSError(code, os.strerror(code), source, None, target)
    try:
        os.link(source, target, src_dir_fd=source_folder, dst_dir_fd=target_folder, follow_symlinks=False)
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK):
            raise
        with contextlib.suppress(FileNotFoundError):
            os.stat(target, dir_fd=target_folder, follow_symlinks=False)
            raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), target) from None
        os.rename(source, target, src_dir_fd=source_folder, dst_dir_fd=target_folder)
        return
    os.unlink(source, dir_fd=source_folder)
