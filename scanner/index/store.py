"""The scan index's tables: one row per file (its metadata, its SHA-256 and its report) and one per scan (its paths,
its rule set, how far it got), in a SQLite file or a PostgreSQL database (scanner.database)."""

from __future__ import annotations

import json
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from scanner import times
from scanner.cache import cache_dir
from scanner.config import IndexTable
from scanner.database import Database, DatabaseError, is_url, shown
from scanner.i18n import N_, msg

FORMAT = 4  # of the tables; an index of an older format is emptied and made anew (its reports are of an older baomi)
NEWER_FORMAT = N_(
    "{location} is a scan index of a newer baomi (format {found}, this one keeps {ours}): give another --index."
)
_META = "CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)"
_OLD = (
    "DROP INDEX IF EXISTS files_content",
    "DROP TABLE IF EXISTS files",
    "DROP TABLE IF EXISTS folders",
    "DROP TABLE IF EXISTS scans",
)
# A file's row is keyed by its folder's id and its name in it (as bytes), so that a folder's files are one range of the
# key: looked up together, and the rows of files gone from it found in the same look-up. A folder's row (its absolute
# path as bytes, once) says which scan last listed it whole: a scan that ends forgets the files of the folders it did
# not list (gone, emptied).
_SCHEMA = """
CREATE TABLE IF NOT EXISTS scans (
    id {serial},
    started TEXT NOT NULL,
    finished TEXT,
    host TEXT NOT NULL,
    roots TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    channel TEXT NOT NULL,
    full_scan {bigint} NOT NULL,
    files {bigint} NOT NULL,
    reused {bigint} NOT NULL
);
CREATE TABLE IF NOT EXISTS folders (
    id {serial},
    folder {blob} NOT NULL UNIQUE,
    scan {bigint} NOT NULL
);
CREATE TABLE IF NOT EXISTS files (
    folder {bigint} NOT NULL,
    name {blob} NOT NULL,
    size {bigint} NOT NULL,
    mtime_ns {bigint} NOT NULL,
    ctime_ns {bigint} NOT NULL,
    inode {bigint} NOT NULL,
    read_ns {bigint} NOT NULL,
    sha256 {blob} NOT NULL,
    content {bigint} NOT NULL,
    scan {bigint} NOT NULL,
    report TEXT NOT NULL,
    PRIMARY KEY (folder, name)
);
CREATE INDEX IF NOT EXISTS files_content ON files (content)
"""
# `content` is the SHA-256's first 8 bytes as a number: its index costs half as much to keep up as one of the whole
# digest, and a look-up compares the whole digest too.
_COLUMNS = "name, size, mtime_ns, ctime_ns, inode, read_ns, sha256, report, scan"  # the name, then a Stored
_NAMED = "SELECT " + _COLUMNS + " FROM files WHERE folder = ? AND name IN ({marks})"
_SAVE = """INSERT INTO files (folder, name, size, mtime_ns, ctime_ns, inode, read_ns, sha256, content, scan, report)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (folder, name) DO UPDATE SET size = excluded.size,
    mtime_ns = excluded.mtime_ns, ctime_ns = excluded.ctime_ns, inode = excluded.inode, read_ns = excluded.read_ns,
    sha256 = excluded.sha256, content = excluded.content, scan = excluded.scan, report = excluded.report"""
_LISTED = "UPDATE folders SET scan = ? WHERE id = ?"
_KNOWN_FOLDER = "INSERT INTO folders (folder, scan) VALUES (?, 0) ON CONFLICT (folder) DO NOTHING"
_SAME_CONTENT = "SELECT name, report, scan FROM files WHERE content = ? AND sha256 = ?"
LOOKUP_BATCH = 500  # names looked up in one statement


def default_index_location(table: IndexTable, given: str | None = None) -> str | Path:
    """--index (a file or a postgresql:// URL), else [index] url or path, else index.db in baomi's cache folder."""
    if given:
        return given if is_url(given) else Path(given)
    return table.url or table.path or cache_dir() / "index.db"


class Stored(NamedTuple):
    """What the index keeps of one file: its metadata when it was read, the time it was read (ns since the epoch),
    its content's SHA-256, the report made of it (scanner.index.records), and the scan that wrote it. A tuple: a
    re-scan looks up millions."""

    size: int
    mtime_ns: int
    ctime_ns: int
    inode: int
    read_ns: int
    sha256: bytes
    report: str
    scan: int = 0  # of a row being written: the writing scan's


class Row(NamedTuple):
    """A file's record as a scan writes it: its folder and name, absolute, as bytes."""

    folder: bytes
    name: bytes
    stored: Stored

    def values(self, folder: int, scan: int) -> tuple[int, bytes, int, int, int, int, int, bytes, int, int, str]:
        """The row's values in the order of the files table's columns, its folder by id, as written by `scan`."""
        kept = self.stored
        return (folder, self.name, kept.size, kept.mtime_ns, kept.ctime_ns, kept.inode, kept.read_ns,
                kept.sha256, content_key(kept.sha256), scan, kept.report)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Listing:
    """Files of one folder to look up (absolute, as bytes), by name. For a folder the walk listed, `whole` is set and
    the names are every file in the range of names (after, upto] (None: unbounded), so that a row in that range of a
    name not given is a file gone; for files named on their own, only their rows are looked at. `shown` is the
    folder as the walk showed it, where the reports' paths are the walk's (empty for files named on their own)."""

    folder: bytes
    names: list[bytes]
    whole: bool = False
    after: bytes | None = None
    upto: bytes | None = None
    shown: str = ""


@dataclass(slots=True)
class Found:
    """What the index holds of a listing: the rows of its names, the names of files gone, and the scan that last
    listed the whole folder (0: none)."""

    stored: dict[bytes, Stored]
    gone: list[bytes]
    listed_by: int


@dataclass(frozen=True)
class Run:
    """One scan of some paths under one rule set: `full` for --rescan (only what it read itself is reused)."""

    id: int
    started: str  # ISO time, UTC
    roots: tuple[str, ...]
    fingerprint: str
    channel: str
    full: bool
    files: int = 0  # reports handed on when it was last saved


class ScanIndex:
    """One connection to the index. The process that runs a scan writes; its scanning processes only read."""

    def __init__(self, location: str | Path, *, create: bool = True) -> None:
        self.location = location
        self.db = Database(location)
        self._rules: dict[int, tuple[str, str]] = {}
        self._folders: dict[bytes, int] = {}  # the ids of the folders this connection wrote rows in
        if create:
            try:
                self._create()
            except BaseException:
                self.db.close()
                raise

    def _create(self) -> None:
        """The tables, made where missing, and made anew where an older baomi made them."""
        self.db.create(_META)
        with self.db.transaction():
            self.db.lock_schema()
            rows = self.db.rows("SELECT value FROM meta WHERE name = 'format'")
            found = int(str(rows[0][0]).rpartition("-")[2]) if rows else 0
            if found > FORMAT:
                raise DatabaseError(msg(NEWER_FORMAT, location=shown(self.location), found=found, ours=FORMAT))
            if found < FORMAT:
                for statement in _OLD:
                    self.db.execute(statement)
                self.db.execute(
                    "INSERT INTO meta (name, value) VALUES ('format', ?) ON CONFLICT (name) DO UPDATE SET "
                    "value = excluded.value",
                    (f"baomi-index-{FORMAT}",),
                )
            self.db.create(_SCHEMA, within=True)

    def start(self, roots: Sequence[str], fingerprint: str, channel: str, full: bool) -> Run:
        """A new scan."""
        started = times.stored()
        with self.db.transaction():
            scan = self.db.insert(
                "INSERT INTO scans (started, host, roots, fingerprint, channel, full_scan, files, reused) "
                "VALUES (?, ?, ?, ?, ?, ?, 0, 0)",
                (started, socket.gethostname(), _roots(roots), fingerprint, channel, int(full)),
            )
        return Run(scan, started, tuple(roots), fingerprint, channel, full)

    def interrupted(self, roots: Sequence[str], fingerprint: str, channel: str) -> Run | None:
        """The latest scan of these paths under this rule set that did not finish."""
        rows = self.db.rows(
            "SELECT id, started, full_scan, files FROM scans WHERE finished IS NULL AND roots = ? "
            "AND fingerprint = ? AND channel = ? ORDER BY id DESC LIMIT 1",
            (_roots(roots), fingerprint, channel),
        )
        if not rows:
            return None
        scan, started, full, files = rows[0]
        return Run(int(scan), str(started), tuple(roots), fingerprint, channel, bool(full), int(files))

    def known(self, listing: Listing) -> Found:
        """What the index holds of the files of `listing`."""
        folders = self.db.rows("SELECT id, scan FROM folders WHERE folder = ?", (listing.folder,))
        if not folders:
            return Found({}, [], 0)
        folder, listed = int(folders[0][0]), int(folders[0][1])
        rows: list[tuple[Any, ...]] = []
        if listing.whole:
            where = ""
            bounds: list[int | bytes] = [folder]
            if listing.after is not None:
                where, bounds = where + " AND name > ?", [*bounds, listing.after]
            if listing.upto is not None:
                where, bounds = where + " AND name <= ?", [*bounds, listing.upto]
            rows = self.db.rows(f"SELECT {_COLUMNS} FROM files WHERE folder = ?{where}", bounds)
        else:
            names = listing.names
            for start in range(0, len(names), LOOKUP_BATCH):
                batch = names[start : start + LOOKUP_BATCH]
                rows += self.db.rows(_NAMED.format(marks=", ".join("?" * len(batch))), [folder, *batch])
        stored = {row[0]: Stored._make(row[1:]) for row in rows}  # both drivers give a BLOB or bytea as bytes
        gone = sorted(stored.keys() - set(listing.names)) if listing.whole else []
        return Found(stored, gone, listed if listing.whole else 0)

    def rules_of(self, scan: int) -> tuple[str, str]:
        """The rule-set fingerprint and channel of a scan (scans never change them; a few are asked for, often)."""
        if scan not in self._rules:
            rows = self.db.rows("SELECT fingerprint, channel FROM scans WHERE id = ?", (scan,))
            self._rules[scan] = (str(rows[0][0]), str(rows[0][1])) if rows else ("", "")
        return self._rules[scan]

    def same_content(
        self, sha256: bytes, fingerprint: str, channel: str, only_run: int | None = None
    ) -> list[tuple[bytes, str]]:
        """(name, report) of the files with this content judged under this rule set (by the scan `only_run`)."""
        return [
            (bytes(name), report)
            for name, report, scan in self.db.rows(_SAME_CONTENT, (content_key(sha256), sha256))
            if self.rules_of(scan) == (fingerprint, channel) and only_run in (None, scan)
        ]

    def save(
        self,
        run: Run,
        rows: Sequence[Row],
        gone: Sequence[tuple[bytes, bytes]] = (),
        listed: Sequence[bytes] = (),
        files: int = 0,
        reused: int = 0,
    ) -> None:
        """Write the rows of files read, forget the files gone (folder, name), mark the folders listed whole by
        `run`, and its progress (reports handed on, of which reused), at once."""
        with self.db.transaction():
            ids = self._folder_ids({row.folder for row in rows} | {folder for folder, _ in gone} | set(listed))
            self.db.executemany(_SAVE, [row.values(ids[row.folder], run.id) for row in rows])
            self.db.executemany("DELETE FROM files WHERE folder = ? AND name = ?", [(ids[f], n) for f, n in gone])
            self.db.executemany(_LISTED, [(run.id, ids[folder]) for folder in listed])
            self.db.execute("UPDATE scans SET files = ?, reused = ? WHERE id = ?", (files, reused, run.id))

    def _folder_ids(self, folders: set[bytes]) -> dict[bytes, int]:
        """The ids of `folders` (absolute, as bytes), made where they have none yet: inside a transaction."""
        for folder in folders - self._folders.keys():
            self.db.execute(_KNOWN_FOLDER, (folder,))
            self._folders[folder] = int(self.db.rows("SELECT id FROM folders WHERE folder = ?", (folder,))[0][0])
        return {folder: self._folders[folder] for folder in folders}

    def finish(self, run: Run) -> None:
        """Mark `run` finished, and forget the files of the folders below its paths that it did not list (gone, moved
        away or emptied of files)."""
        with self.db.transaction():
            for root in run.roots:
                top = root.encode("utf-8", "surrogateescape").rstrip(b"/") or b"/"
                below = top.rstrip(b"/") + b"/"
                stale = self.db.rows(
                    "SELECT id FROM folders WHERE (folder = ? OR (folder >= ? AND folder < ?)) AND scan < ?",
                    (top, below, below[:-1] + b"0", run.id),  # "0" is the character after "/"
                )
                self.db.executemany("DELETE FROM files WHERE folder = ?", stale)
                self.db.executemany("DELETE FROM folders WHERE id = ?", stale)
            self.db.execute("UPDATE scans SET finished = ? WHERE id = ?", (times.stored(), run.id))
        self._folders.clear()

    def close(self) -> None:
        self.db.close()


def content_key(sha256: bytes) -> int:
    return int.from_bytes(sha256[:8], "big", signed=True)


def _roots(roots: Sequence[str]) -> str:
    return json.dumps(list(roots))
