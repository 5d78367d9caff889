"""The files `baomi scan` reads below the paths it is given, as `zip -r` or a copy would take them: links followed
(a file under the link's own path), and whatever cannot be read named with the reason, never skipped in silence."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from scanner.engine import NOT_REGULAR, Scanned, Scanner
from scanner.extract import Problem
from scanner.extract.base import Detail
from scanner.i18n import msg
from scanner.titles import os_error


@dataclass(frozen=True)
class Entry:
    """One path to report on: a file to scan, or a path that cannot be scanned and why."""

    path: Path
    problem: Detail | None = None


def walk(paths: Sequence[Path]) -> Iterator[Entry]:
    """The entries below `paths` in a stable order: in each folder its files by name, then its sub-folders."""
    for path in paths:
        if path.is_dir():
            yield from _folder(path)
        else:
            yield Entry(path)


def scan_entry(scanner: Scanner, entry: Entry, channel: str, explain: bool = False) -> Scanned:
    """The report on one entry: its file scanned, or its problem as an unscannable finding."""
    if entry.problem is not None:
        return scanner.unread(str(entry.path), Problem("unreadable", entry.problem), channel)
    return scanner.examine_path(entry.path, channel, explain)


def _folder(top: Path) -> Iterator[Entry]:
    # Iterative, with the folders above each one by (device, inode), so that a link to an ancestor is a loop.
    pending: list[tuple[Path, frozenset[tuple[int, int]]]] = [(top, frozenset())]
    while pending:
        folder, above = pending.pop()
        try:
            info = os.stat(folder)
            with os.scandir(folder) as listing:
                items = sorted(listing, key=lambda item: os.fsencode(item.name))
        except OSError as exc:
            yield Entry(folder, msg("A folder that cannot be listed: {error}.", error=os_error(exc)))
            continue
        here = above | {(info.st_dev, info.st_ino)}
        subfolders = []
        for item in items:
            path = folder / item.name
            kind, detail = _kind(item, path, here)
            if kind == "folder":
                subfolders.append((path, here))
            elif kind == "file":
                yield Entry(path)
            else:
                yield Entry(path, detail)
        pending.extend(reversed(subfolders))


def _kind(item: os.DirEntry[str], path: Path, above: frozenset[tuple[int, int]]) -> tuple[str, Detail]:
    """("file" | "folder" | "problem", why): what the path is once links are followed. The listing says what an
    entry that is not a link is without a stat of its own (a folder's is taken, for its inode)."""
    try:
        if not item.is_symlink() and item.is_file(follow_symlinks=False):
            return "file", ""
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
