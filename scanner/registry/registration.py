"""Registering: documents read with the scan's own readers and folded the scan's own way, reduced to their winnowed
keyed fingerprints; tables reduced to keyed, salted hashes of their cells; public text, whose fingerprints no
registered document keeps. Also the export and import of a whole registry between stores sharing a key.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import uuid
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from scanner.extract import Limits, extract
from scanner.i18n import msg
from scanner.model import Role
from scanner.normalize import normalize
from scanner.registry.fingerprint import (
    K,
    Keyed,
    fingerprint_positions,
    fold_texts,
    key_id,
    kgram_hashes,
    small_positions,
)
from scanner.registry.index import DOCUMENTS
from scanner.registry.settings import RegistryError, unread
from scanner.registry.store import FORMAT, DocumentRecord, Store, TableCells, TableRecord, pack, unpack
from scanner.registry.tables import hash_rows, read_rows

LEVELS = ("绝密", "机密", "秘密", "工作秘密", "商业秘密", "内部")


@dataclass(frozen=True)
class ReadText:
    """A file's text as fingerprints see it, and a title for it."""

    codes: np.ndarray
    title: str


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def new_id() -> str:
    return uuid.uuid4().hex[:12]


def check_level(level: str) -> str:
    if level not in LEVELS:
        raise RegistryError(
            msg("Unknown level “{level}”: expected one of {known}.", level=level, known=", ".join(LEVELS))
        )
    return level


def read_folded(data: bytes, name: str, limits: Limits) -> ReadText:
    """The folded text of every part of a file, as a scan folds it; a file not read completely is refused."""
    extraction = extract(data, name, limits)
    if extraction.problems:
        problem = extraction.problems[0]
        raise RegistryError(unread(name, problem))
    segments = [s for s in extraction.segments if s.role != Role.FILENAME]
    title = next((s.text.strip() for s in segments if s.role == Role.TITLE and s.text.strip()), Path(name).stem)
    return ReadText(fold_texts([normalize(s.text).text for s in segments]).codes, title)


class Registrar:
    """Changes to one store, under one key."""

    def __init__(self, store: Store, secret: bytes, limits: Limits | None = None) -> None:
        self.store = store
        self.secret = secret
        self.limits = limits or Limits()
        self.keyed = Keyed(secret, DOCUMENTS)
        store.check_key(key_id(secret))
        self._public: np.ndarray | None = None

    def public(self) -> np.ndarray:
        if self._public is None:
            self._public = self.store.public_hashes()
        return self._public

    def add_document(self, path: Path, level: str, title: str | None = None) -> DocumentRecord:
        data = path.read_bytes()
        folded = read_folded(data, str(path), self.limits)
        if len(folded.codes) < K:
            raise RegistryError(msg("{path}: there is no text to register.", path=str(path)))
        hashes = kgram_hashes(folded.codes, self.keyed.base)
        positions = fingerprint_positions(hashes)
        values, positions = _without_public(self.keyed(hashes[positions]), positions, self.public())
        record = DocumentRecord(
            new_id(), title or folded.title, check_level(level), now(), str(path), _sha256(data), len(folded.codes)
        )
        with self.store.change():
            self.store.add_document(record, values, positions)
        return replace(record, fingerprints=len(values))

    def add_public(self, paths: list[Path]) -> int:
        """Record public texts; every registered document drops the fingerprints it shares with them. Returns how
        many fingerprints the registered documents dropped."""
        read = []
        for path in paths:
            data = path.read_bytes()
            codes = read_folded(data, str(path), self.limits).codes
            hashes = kgram_hashes(codes, self.keyed.base)
            read.append((str(path), _sha256(data), np.unique(self.keyed(np.unique(hashes[small_positions(hashes)])))))
        public = np.unique(np.concatenate([hashes for _, _, hashes in read])) if read else np.zeros(0, np.uint64)
        dropped = 0
        with self.store.change():
            for source, sha256, hashes in read:
                self.store.add_public(new_id(), source, sha256, now(), hashes)
            for record, values, positions in self.store.fingerprints():
                kept, kept_positions = _without_public(values, positions, public)
                if len(kept) < len(values):
                    dropped += len(values) - len(kept)
                    self.store.set_fingerprints(record.id, kept, kept_positions)
        self._public = None
        return dropped

    def add_table(
        self, path: Path, columns: list[str], min_columns: int, level: str, title: str | None = None
    ) -> TableRecord:
        if not 1 <= min_columns <= len(columns):
            between = msg("--min-columns must be between 1 and the {count} columns named.", count=len(columns))
            raise RegistryError(between)
        data = path.read_bytes()
        rows = read_rows(data, str(path), columns, self.limits)
        salt = secrets.token_hex(16)
        cells, shapes = hash_rows(rows, Keyed(self.secret, f"table {salt}"))
        record = TableRecord(
            new_id(),
            title or path.stem,
            check_level(level),
            now(),
            str(path),
            _sha256(data),
            columns,
            min_columns,
            salt,
            len(rows),
            shapes,
        )
        with self.store.change():
            self.store.add_table(record, cells)
        return record

    def remove(self, ident: str) -> bool:
        with self.store.change():
            removed = self.store.remove(ident)
        return removed

    def export(self) -> dict[str, Any]:
        """The whole registry as JSON: records and hashes, and the id of the key they need (never the key)."""
        return {
            "format": FORMAT,
            "key_id": key_id(self.secret),
            "documents": [
                {**asdict(record), "hashes": _b64(pack(v, "<u8")), "positions": _b64(pack(p, "<u4"))}
                for record, v, p in self.store.fingerprints()
            ],
            "tables": [
                {
                    **asdict(record),
                    "hashes": _b64(pack(cells.values, "<u8")),
                    "cell_rows": _b64(pack(cells.rows, "<u4")),
                    "cell_columns": _b64(pack(cells.columns, "u1")),
                }
                for record, cells in self.store.tables()
            ],
            "public": [
                {"id": i, "source": s, "sha256": h, "added": a, "hashes": _b64(pack(v, "<u8"))}
                for i, s, h, a, v in self.store.public_rows()
            ],
        }

    def import_(self, exported: dict[str, Any]) -> tuple[int, int, int]:
        """Add what an export holds that this store lacks (by id): (documents, tables, public texts) added."""
        if exported.get("format") != FORMAT:
            raise RegistryError(msg("This is not a registry export of format {format}.", format=FORMAT))
        if exported.get("key_id") != key_id(self.secret):
            other = msg("The export was made with another key: copy the key file of the registry it came from.")
            raise RegistryError(other)
        have = {d.id for d in self.store.documents()} | {t.id for t, _ in self.store.tables()}
        have |= {row[0] for row in self.store.public_rows()}
        added = [0, 0, 0]
        with self.store.change():
            for item in exported.get("documents", []):
                if item["id"] not in have:
                    record = DocumentRecord(**{k: v for k, v in item.items() if k not in ("hashes", "positions")})
                    self.store.add_document(
                        record, unpack(_unb64(item["hashes"]), "<u8"), unpack(_unb64(item["positions"]), "<u4")
                    )
                    added[0] += 1
            for item in exported.get("tables", []):
                if item["id"] not in have:
                    table = TableRecord(
                        **{k: v for k, v in item.items() if k not in ("hashes", "cell_rows", "cell_columns")}
                    )
                    cells = TableCells(
                        unpack(_unb64(item["hashes"]), "<u8"),
                        unpack(_unb64(item["cell_rows"]), "<u4"),
                        unpack(_unb64(item["cell_columns"]), "u1"),
                    )
                    self.store.add_table(table, cells)
                    added[1] += 1
            for item in exported.get("public", []):
                if item["id"] not in have:
                    hashes = unpack(_unb64(item["hashes"]), "<u8")
                    self.store.add_public(item["id"], item["source"], item["sha256"], item["added"], hashes)
                    added[2] += 1
        return added[0], added[1], added[2]


def _without_public(values: np.ndarray, positions: np.ndarray, public: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Fingerprints that occur in public text are boilerplate, not secrets."""
    if not len(public) or not len(values):
        return values, positions
    at = np.minimum(np.searchsorted(public, values), len(public) - 1)
    keep = public[at] != values
    return values[keep], positions[keep]


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text)


def dump(exported: dict[str, Any], path: Path) -> None:
    path.write_text(json.dumps(exported, ensure_ascii=False), encoding="utf-8")
