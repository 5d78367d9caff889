"""The registry's store: registered documents (their fingerprints), registered tables (keyed hashes of their cells)
and the public text whose fingerprints are ignored, in SQLite (a file) or PostgreSQL (a postgresql:// URL).

Nothing here is text: every value is a keyed hash, stored as packed little-endian arrays, one row per document.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

from scanner.database import Database, DatabaseError, shown
from scanner.i18n import msg
from scanner.registry.settings import RegistryError

FORMAT = "baomi-registry-2"


@dataclass(frozen=True)
class DocumentRecord:
    """A registered document, as `register list` shows it."""

    id: str
    title: str
    level: str
    registered: str  # ISO time, UTC
    source: str  # the file it was registered from
    sha256: str
    chars: int  # folded characters of its text
    fingerprints: int = 0


@dataclass(frozen=True)
class TableRecord:
    """A registered table: its columns (names only) and how many of them make a match."""

    id: str
    title: str
    level: str
    registered: str
    source: str
    sha256: str
    columns: list[str]
    min_columns: int
    salt: str  # hex; mixed into the key of this table's hashes
    rows: int
    shapes: list[list[Any]] = field(default_factory=list)  # (length, plain ASCII?) of the values, without the values


@dataclass(frozen=True)
class TableCells:
    """The hashed cells of a table: one entry per non-empty cell of the registered columns."""

    values: np.ndarray  # uint64 keyed hashes
    rows: np.ndarray  # uint32 row numbers
    columns: np.ndarray  # uint8 column numbers (index into TableRecord.columns)


_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS documents (
    id TEXT PRIMARY KEY, title TEXT NOT NULL, level TEXT NOT NULL, registered TEXT NOT NULL, source TEXT NOT NULL,
    sha256 TEXT NOT NULL, chars {bigint} NOT NULL, fingerprints {bigint} NOT NULL, hashes {blob} NOT NULL,
    positions {blob} NOT NULL
);
CREATE TABLE IF NOT EXISTS public_texts (
    id TEXT PRIMARY KEY, source TEXT NOT NULL, sha256 TEXT NOT NULL, added TEXT NOT NULL, hashes {blob} NOT NULL
);
CREATE TABLE IF NOT EXISTS registered_tables (
    id TEXT PRIMARY KEY, title TEXT NOT NULL, level TEXT NOT NULL, registered TEXT NOT NULL, source TEXT NOT NULL,
    sha256 TEXT NOT NULL, columns TEXT NOT NULL, min_columns INTEGER NOT NULL, salt TEXT NOT NULL,
    rows {bigint} NOT NULL, shapes TEXT NOT NULL, hashes {blob} NOT NULL, cell_rows {blob} NOT NULL,
    cell_columns {blob} NOT NULL
);
"""
_DOCUMENT_COLUMNS = [f.name for f in fields(DocumentRecord)]
_TABLE_COLUMNS = [f.name for f in fields(TableRecord)]


def pack(values: np.ndarray, dtype: str) -> bytes:
    return np.ascontiguousarray(values, dtype=dtype).tobytes()


def unpack(blob: bytes | memoryview, dtype: str) -> np.ndarray:
    return np.frombuffer(bytes(blob), dtype=dtype)


class Store:
    """One registry, in a SQLite file or a PostgreSQL database (scanner.database). Open with `open_store`; every
    change is made in `change()`, which bumps the generation that names the compiled index a scanner caches."""

    def __init__(self, location: str) -> None:
        self.location = shown(location)
        try:
            self.db = Database(location)
        except DatabaseError as exc:
            raise RegistryError(exc.args[0]) from None
        try:
            self._create()
        except Exception as exc:  # sqlite3.Error, psycopg.Error: the database refused the registry's tables
            self.db.close()
            refused = msg("{store}: this is not a registry baomi can use ({error}).", store=self.location,
                          error=str(exc).strip())  # fmt: skip
            raise RegistryError(refused) from None

    def close(self) -> None:
        self.db.close()

    def _create(self) -> None:
        self.db.create(_SCHEMA)
        claim = "INSERT INTO meta (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING"
        self.db.execute(claim, ("format", FORMAT))
        stored = self.meta("format")
        if stored != FORMAT:
            other = msg(
                "{store}: a registry of format {stored}; this baomi reads {format}.",
                store=self.location,
                stored=str(stored),
                format=FORMAT,
            )
            raise RegistryError(other)

    def meta(self, name: str) -> str | None:
        rows = self.db.rows("SELECT value FROM meta WHERE name = ?", (name,))
        return str(rows[0][0]) if rows else None

    def _set_meta(self, name: str, value: str) -> None:
        self.db.execute(
            "INSERT INTO meta (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            (name, value),
        )

    def generation(self) -> int:
        return int(self.meta("generation") or 0)

    @contextmanager
    def change(self) -> Iterator[None]:
        """The changes made in the block, and a new generation, committed together or not at all."""
        with self.db.transaction():
            yield
            self._set_meta("generation", str(self.generation() + 1))

    def check_key(self, key_id: str) -> None:
        """Bind an empty store to this key, or refuse a store made with another."""
        stored = self.meta("key_id")
        if stored is None:
            self._set_meta("key_id", key_id)
        elif stored != key_id:
            raise RegistryError(
                msg(
                    "{store} was made with another key (key id {stored}, this key is {key_id}): use the key file it "
                    "was made with.",
                    store=self.location,
                    stored=str(stored),
                    key_id=key_id,
                )
            )

    # -- documents
    def add_document(self, record: DocumentRecord, hashes: np.ndarray, positions: np.ndarray) -> None:
        row = {**_record_row(record), "fingerprints": len(hashes)}
        row["hashes"], row["positions"] = pack(hashes, "<u8"), pack(positions, "<u4")
        self._insert("documents", row)

    def documents(self) -> list[DocumentRecord]:
        names = ", ".join(_DOCUMENT_COLUMNS)
        return [DocumentRecord(*row) for row in self.db.rows(f"SELECT {names} FROM documents ORDER BY registered, id")]

    def fingerprints(self) -> Iterator[tuple[DocumentRecord, np.ndarray, np.ndarray]]:
        """Every document with its fingerprints (keyed hashes) and their positions in its folded text."""
        names = ", ".join(_DOCUMENT_COLUMNS)
        for row in self.db.rows(f"SELECT {names}, hashes, positions FROM documents ORDER BY registered, id"):
            yield DocumentRecord(*row[:-2]), unpack(row[-2], "<u8"), unpack(row[-1], "<u4")

    def set_fingerprints(self, document: str, hashes: np.ndarray, positions: np.ndarray) -> None:
        self.db.execute(
            "UPDATE documents SET hashes = ?, positions = ?, fingerprints = ? WHERE id = ?",
            (pack(hashes, "<u8"), pack(positions, "<u4"), len(hashes), document),
        )

    # -- public text
    def add_public(self, ident: str, source: str, sha256: str, added: str, hashes: np.ndarray) -> None:
        self._insert(
            "public_texts",
            {"id": ident, "source": source, "sha256": sha256, "added": added, "hashes": pack(hashes, "<u8")},
        )

    def public_hashes(self) -> np.ndarray:
        """Every k-gram hash of every public text, sorted, each once."""
        parts = [unpack(blob, "<u8") for (blob,) in self.db.rows("SELECT hashes FROM public_texts")]
        return np.unique(np.concatenate(parts)) if parts else np.zeros(0, np.uint64)

    def public_rows(self) -> list[tuple[str, str, str, str, np.ndarray]]:
        """(id, source, sha256, added, k-gram hashes) of each public text."""
        rows = self.db.rows("SELECT id, source, sha256, added, hashes FROM public_texts ORDER BY added, id")
        return [(i, s, h, a, unpack(blob, "<u8")) for i, s, h, a, blob in rows]

    # -- tables
    def add_table(self, record: TableRecord, cells: TableCells) -> None:
        row = _record_row(record)
        row["columns"] = json.dumps(record.columns, ensure_ascii=False)
        row["shapes"] = json.dumps(record.shapes)
        row["hashes"] = pack(cells.values, "<u8")
        row["cell_rows"] = pack(cells.rows, "<u4")
        row["cell_columns"] = pack(cells.columns, "u1")
        self._insert("registered_tables", row)

    def tables(self) -> list[tuple[TableRecord, TableCells]]:
        names = ", ".join(_TABLE_COLUMNS)
        out = []
        for row in self.db.rows(f"SELECT {names}, hashes, cell_rows, cell_columns FROM registered_tables ORDER BY id"):
            values = dict(zip(_TABLE_COLUMNS, row[:-3], strict=True))
            values["columns"] = json.loads(values["columns"])
            values["shapes"] = json.loads(values["shapes"])
            cells = TableCells(unpack(row[-3], "<u8"), unpack(row[-2], "<u4"), unpack(row[-1], "u1"))
            out.append((TableRecord(**values), cells))
        return out

    # -- both
    def remove(self, ident: str) -> bool:
        """Remove a registered document, table or public text by its id."""
        removed = 0
        for table in ("documents", "registered_tables", "public_texts"):
            removed += self.db.execute(f"DELETE FROM {table} WHERE id = ?", (ident,)).rowcount or 0
        return removed > 0

    def _insert(self, table: str, row: dict[str, Any]) -> None:
        marks = ", ".join("?" * len(row))
        self.db.execute(f"INSERT INTO {table} ({', '.join(row)}) VALUES ({marks})", tuple(row.values()))


def _record_row(record: DocumentRecord | TableRecord) -> dict[str, Any]:
    return {f.name: getattr(record, f.name) for f in fields(record)}


def open_store(location: str) -> Store:
    """The store at a file path (SQLite, created when missing) or a postgresql:// URL."""
    return Store(location)
