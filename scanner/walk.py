"""The files `baomi scan` reads below the paths it is given, as `zip -r` or a copy would take them: links followed
(a file under the link's own path), and whatever cannot be read named with the reason, never skipped in silence."""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Iterator, Sequence
from operator import attrgetter
from pathlib import Path
from typing import NamedTuple

from scanner.engine import NOT_REGULAR, Scanned, Scanner
from scanner.extract import Problem
from scanner.extract.base import Detail
from scanner.i18n import msg
from scanner.titles import os_error

# How os.fsdecode decodes a name, without its checks of the argument: a share's names are decoded by the million.
FS_ENCODING, FS_ERRORS = sys.getfilesystemencoding(), sys.getfilesystemencodeerrors()


class Entry(NamedTuple):
    """One path to report on: a file to scan, or a path that cannot be scanned and why. A file found in a folder's
    listing names the folder and its own name there (the folder's files are walked together, and the scan index
    looks them up together); a path given to the walk names neither. A tuple: a share has millions."""

    shown: str  # the path as the walk found it: the name its report gives it
    problem: Detail | None = None
    folder: str = ""  # as the walk found it
    name: bytes = b""  # as the file system holds it

    @property
    def path(self) -> Path:
        return Path(self.shown)


def walk(paths: Sequence[Path]) -> Iterator[Entry]:
    """The entries below `paths` in a stable order: in each folder its files by name, then its sub-folders."""
    for path in paths:
        if path.is_dir():
            yield from _folder(path)
        else:
            yield Entry(str(path))


def prefix_of(folder: str) -> str:
    """What the path of a file in `folder` (as the walk shows it) begins with: its name follows, decoded as
    os.fsdecode decodes it."""
    return folder if folder.endswith("/") else folder + "/"


def scan_entry(scanner: Scanner, entry: Entry, channel: str, explain: bool = False) -> Scanned:
    """The report on one entry: its file scanned, or its problem as an unscannable finding."""
    if entry.problem is not None:
        return scanner.unread(entry.shown, Problem("unreadable", entry.problem), channel)
    return scanner.examine_path(entry.path, channel, explain)


def _folder(top: Path) -> Iterator[Entry]:
    # Iterative, with the folders above each one by (device, inode), so that a link to an ancestor is a loop.
    pending: list[tuple[Path, frozenset[tuple[int, int]]]] = [(top, frozenset())]
    while pending:
        folder, above = pending.pop()
        try:
            info = os.stat(folder)
            with os.scandir(os.fsencode(folder)) as listing:
                items = sorted(listing, key=attrgetter("name"))  # by the bytes of the names
        except OSError as exc:
            yield Entry(str(folder), msg("A folder that cannot be listed: {error}.", error=os_error(exc)))
            continue
        here = above | {(info.st_dev, info.st_ino)}
        shown = str(folder)
        prefix = prefix_of(shown)
        subfolders = []
        for item in items:
            path = prefix + item.name.decode(FS_ENCODING, FS_ERRORS)
            if not item.is_symlink() and item.is_file(follow_symlinks=False):  # the listing says so: no stat
                yield Entry(path, None, shown, item.name)
                continue
            kind, detail = _kind(path, here)
            if kind == "folder":
                subfolders.append((Path(path), here))
            elif kind == "file":
                yield Entry(path, None, shown, item.name)
            else:
                yield Entry(path, detail, shown, item.name)
        pending.extend(reversed(subfolders))


def _kind(path: str, above: frozenset[tuple[int, int]]) -> tuple[str, Detail]:
    """("file" | "folder" | "problem", why): what a path that is a link or not a plain file is once links are
    followed (a folder's stat is taken, for its inode)."""
    try:
        info = os.stat(path)  # follows links; a loop of links is ELOOP, a link to nothing ENOENT
    except OSError as exc:
        if os.path.islink(path):
            return "problem", msg("A link to nothing ({error}).", error=os_error(exc))
        return "problem", msg("It cannot be examined: {error}.", error=os_error(exc))
    if stat.S_ISDIR(info.st_mode):
        if (info.st_dev, info.st_ino) in above:
            target = os.readlink(path) if os.path.islink(path) else str(path)
            return "problem", msg(
                "A link back to a folder above it ({target}): following it would never end.", target=target
            )
        return "folder", ""
    if stat.S_ISREG(info.st_mode):
        return "file", ""
    return "problem", NOT_REGULAR
