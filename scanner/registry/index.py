"""The registry as a scan uses it: loaded once per Scanner from the store, the documents' index cached on disk under
the store's generation (keyed hashes only, like the store), the tables rebuilt from their hashed cells.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import shutil
import tempfile
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from scanner import cache
from scanner.i18n import msg
from scanner.registry.documents import DocumentIndex
from scanner.registry.fingerprint import Keyed, key_id
from scanner.registry.settings import RegistryError, RegistrySettings, read_key
from scanner.registry.store import FORMAT, DocumentRecord, Store, open_store
from scanner.registry.tables import RegisteredTable

DOCUMENTS = "documents"  # the purpose the documents' fingerprint key is derived for
INDEX_FORMAT = 11  # bump when the way the index is built changes


@dataclass
class Registry:
    settings: RegistrySettings
    keyed: Keyed
    documents: DocumentIndex
    tables: list[RegisteredTable]


def open_registry(settings: RegistrySettings) -> Registry:
    """The registry of an existing store, with its key."""
    secret = read_key(settings.key)
    store = open_store(settings.store)
    try:
        stored = store.meta("key_id")
        if stored is not None and stored != key_id(secret):
            other = msg("{store} was made with another key than {key}.", store=store.location, key=str(settings.key))
            raise RegistryError(other)
        documents = _document_index(store, secret)
        tables = [RegisteredTable.build(record, cells, secret) for record, cells in store.tables()]
    finally:
        store.close()
    return Registry(settings, Keyed(secret, DOCUMENTS), documents, tables)


def _document_index(store: Store, secret: bytes) -> DocumentIndex:
    """Sorting ten million fingerprints takes seconds: done once per generation of the store, then kept in the cache
    as arrays that later scans map into memory (no load time; forked workers share the pages)."""
    store_name = hashlib.sha256(f"{FORMAT}\0{store.location}\0{key_id(secret)}".encode()).hexdigest()[:24]
    folder = cache.cache_dir() / f"registry-{INDEX_FORMAT}-{store_name}-{store.generation()}"
    index = _load_index(folder)
    if index is None:
        index = DocumentIndex.build(list(store.fingerprints()))
        _save_index(folder, index)
        for old in folder.parent.glob(f"registry-*-{store_name}-*"):  # earlier generations of this store
            if old != folder:
                shutil.rmtree(old, ignore_errors=True)
    return index


_ARRAYS = [f.name for f in fields(DocumentIndex) if f.name not in ("documents", "bits")]


def _load_index(folder: Path) -> DocumentIndex | None:
    try:
        with open(folder / "documents.pickle", "rb") as fh:
            documents, bits = pickle.load(fh)
        # Plain arrays over the mapped memory: indexing a np.memmap goes through Python code, ten times slower.
        arrays = {name: np.asarray(np.load(folder / f"{name}.npy", mmap_mode="r")) for name in _ARRAYS}
    except (OSError, ValueError, EOFError, pickle.UnpicklingError):
        return None
    return DocumentIndex([DocumentRecord(*d) for d in documents], bits=bits, **arrays)


def _save_index(folder: Path, index: DocumentIndex) -> None:
    """Written to a temporary folder and renamed: a concurrent reader finds the whole index or none."""
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        temporary = Path(tempfile.mkdtemp(dir=folder.parent, prefix=".tmp-"))
    except OSError:
        return
    try:
        for name in _ARRAYS:
            np.save(temporary / f"{name}.npy", getattr(index, name))
        documents = [tuple(getattr(d, f.name) for f in fields(d)) for d in index.documents]
        with open(temporary / "documents.pickle", "wb") as fh:
            pickle.dump((documents, index.bits), fh, protocol=5)
        os.replace(temporary, folder)
    except OSError:
        shutil.rmtree(temporary, ignore_errors=True)
