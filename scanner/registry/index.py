"""The registry as a scan uses it: loaded once per Scanner from the store, the documents' index cached on disk under
the store's generation (keyed hashes only, like the store), the tables rebuilt from their hashed cells.
"""

from __future__ import annotations

import hashlib
from dataclasses import astuple, dataclass

from scanner import cache
from scanner.registry.documents import DocumentIndex
from scanner.registry.fingerprint import Keyed, key_id
from scanner.registry.settings import RegistryError, RegistrySettings, read_key
from scanner.registry.store import FORMAT, DocumentRecord, Store, open_store
from scanner.registry.tables import RegisteredTable

DOCUMENTS = "documents"  # the purpose the documents' fingerprint key is derived for
INDEX_FORMAT = 7  # bump when the way the index is built changes


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
            raise RegistryError(f"{store.location} was made with another key than {settings.key}")
        documents = _document_index(store, secret)
        tables = [RegisteredTable.build(record, cells, secret) for record, cells in store.tables()]
    finally:
        store.close()
    return Registry(settings, Keyed(secret, DOCUMENTS), documents, tables)


def _document_index(store: Store, secret: bytes) -> DocumentIndex:
    """Sorting ten million fingerprints takes a second: done once per generation of the store, then cached."""
    name = hashlib.sha256(f"{FORMAT}\0{store.location}\0{key_id(secret)}".encode()).hexdigest()[:24]
    name = f"registry-{INDEX_FORMAT}-{name}-{store.generation()}.pickle"
    cached = cache.load(name)
    if cached is not None:
        documents, *arrays = cached
        return DocumentIndex([DocumentRecord(*d) for d in documents], *arrays)
    index = DocumentIndex.build(list(store.fingerprints()))
    fields = astuple(index)
    cache.save(name, ([astuple(d) for d in index.documents], *fields[1:]))
    return index
