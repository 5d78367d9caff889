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


class Files(NamedTuple):
    """Files of one folder the walk found one after another (plain files, links to files), by their names as the file
    system holds them; `last` where the folder's listing ends with them. A share's millions of files go by in such
    runs, not one by one."""

    folder: str  # as the walk found it
    names: list[bytes]
    last: bool

    def entries(self) -> list[Entry]:
        return [file_entry(self.folder, name) for name in self.names]


def walk(paths: Sequence[Path]) -> Iterator[Entry]:
    """The entries below `paths` in a stable order: in each folder its files by name, then its sub-folders."""
    for item in walk_listed(paths):
        if isinstance(item, Files):
            yield from item.entries()
        else:
            yield item


def walk_listed(paths: Sequence[Path]) -> Iterator[Entry | Files]:
    """The walk, each folder's files in runs: between two runs of a folder, an entry the walk found a problem with.
    A folder with files or problems ends with a run marked last (without names, where a problem ends it)."""
    for path in paths:
        if path.is_dir():
            yield from _folder(path)
        else:
            yield Entry(str(path))


def file_entry(folder: str, name: bytes) -> Entry:
    """The entry of a file found in `folder` (as the walk found it) under `name`."""
    return Entry(prefix_of(folder) + name.decode(FS_ENCODING, FS_ERRORS), None, folder, name)


def prefix_of(folder: str) -> str:
    """What the path of a file in `folder` (as the walk shows it) begins with: its name follows, decoded as
    os.fsdecode decodes it."""
    return folder if folder.endswith("/") else folder + "/"


def scan_entry(scanner: Scanner, entry: Entry, channel: str, explain: bool = False) -> Scanned:
    """The report on one entry: its file scanned, or its problem as an unscannable finding."""
    if entry.problem is not None:
        return scanner.unread(entry.shown, Problem("unreadable", entry.problem), channel)
    return scanner.examine_path(entry.path, channel, explain)


def _folder(top: Path) -> Iterator[Entry | Files]:
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
        names: list[bytes] = []
        problems = False
        for item in items:
            if not item.is_symlink() and item.is_file(follow_symlinks=False):  # the listing says so: no stat
                names.append(item.name)
                continue
            path = prefix + item.name.decode(FS_ENCODING, FS_ERRORS)
            kind, detail = _kind(path, here)
            if kind == "folder":
                subfolders.append((Path(path), here))
            elif kind == "file":
                names.append(item.name)
            else:
                if names:
                    yield Files(shown, names, False)
                    names = []
                yield Entry(path, detail, shown, item.name)
                problems = True
        if names or problems:
            yield Files(shown, names, True)
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
