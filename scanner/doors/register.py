"""`baomi register`: the confidentiality officer's registry of secret documents and tables, and of public text.

add, table, public, list, remove, export, import; the store and its key come from [registry] of --config.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from scanner.command import UsageError
from scanner.policy import load_config
from scanner.registry.registration import LEVELS, Registrar, dump
from scanner.registry.settings import RegistrySettings, read_or_create_key, registry_settings
from scanner.registry.store import open_store
from scanner.walk import walk

DESCRIPTION = (
    "Register secret documents and tables so that scans find excerpts of them, marks or not. Only keyed "
    "fingerprints and keyed hashes are stored, never text; the key is a file of its own ([registry] key)."
)
MISSING = "no such file or folder: {}"
ADDED = "registered {id}  {level}  {title}  ({chars} characters, {fingerprints} fingerprints)"
TABLE_ADDED = "registered table {id}  {level}  {title}  ({rows} rows, columns {columns}, {min_columns} make a match)"
PUBLIC_ADDED = "{count} public files recorded; registered documents dropped {dropped} fingerprints they share with them"
REMOVED = "removed {id}"
NOT_FOUND = "nothing registered has the id {id}"
EXPORTED = "exported {documents} documents, {tables} tables and {public} public texts to {path}"
IMPORTED = "imported {documents} documents, {tables} tables and {public} public texts"
EMPTY = "nothing is registered"


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    where = argparse.ArgumentParser(add_help=False, parents=[common])
    where.add_argument("--store", help="the store: a SQLite file or a postgresql:// URL (default: [registry] store)")
    where.add_argument("--key", type=Path, help="the key file (default: [registry] key)")
    parser = subparsers.add_parser("register", help="register secret documents and tables", description=DESCRIPTION)
    actions = parser.add_subparsers(required=True, metavar="ACTION")
    add = actions.add_parser("add", parents=[where], help="register secret documents (any format baomi reads)")
    add.add_argument("files", nargs="+", type=Path, metavar="FILE")
    add.add_argument("--level", required=True, choices=LEVELS, help="the document's classification")
    add.add_argument("--title", help="a title (default: the document's own, else its file name)")
    add.set_defaults(run=run_add)
    table = actions.add_parser("table", parents=[where], help="register the rows of a table (.xlsx or CSV)")
    table.add_argument("file", type=Path, metavar="FILE")
    table.add_argument("--columns", required=True, help="the header names of the columns to register, with commas")
    table.add_argument("--min-columns", type=int, default=2, help="values of this many columns of one row make a match")
    table.add_argument("--level", required=True, choices=LEVELS)
    table.add_argument("--title", help="a title (default: the file name)")
    table.set_defaults(run=run_table)
    public = actions.add_parser("public", parents=[where], help="record public text: what it holds is no secret")
    public.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    public.set_defaults(run=run_public)
    listing = actions.add_parser("list", parents=[where], help="what is registered")
    listing.add_argument("--format", choices=("text", "json"), default="text")
    listing.set_defaults(run=run_list)
    remove = actions.add_parser("remove", parents=[where], help="remove registered documents, tables or public texts")
    remove.add_argument("ids", nargs="+", metavar="ID")
    remove.set_defaults(run=run_remove)
    export = actions.add_parser("export", parents=[where], help="write the whole registry to a file (no key in it)")
    export.add_argument("file", type=Path, metavar="FILE")
    export.set_defaults(run=run_export)
    imports = actions.add_parser("import", parents=[where], help="add a registry exported under the same key")
    imports.add_argument("file", type=Path, metavar="FILE")
    imports.set_defaults(run=run_import)


def settings_of(args: argparse.Namespace) -> RegistrySettings:
    settings = registry_settings(load_config(args.config))
    if args.store:
        settings = replace(settings, store=args.store)
    if args.key:
        settings = replace(settings, key=args.key)
    return settings


@contextmanager
def registrar(args: argparse.Namespace) -> Iterator[Registrar]:
    settings = settings_of(args)
    store = open_store(settings.store)
    try:
        config = load_config(args.config)
        yield Registrar(store, read_or_create_key(settings.key), config.limits)
    finally:
        store.close()


def _existing(paths: list[Path]) -> list[Path]:
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise UsageError(MISSING.format(", ".join(missing)))
    entries = list(walk(paths))
    unreadable = [f"{e.path} ({e.problem})" for e in entries if e.problem is not None]
    if unreadable:
        raise UsageError(f"cannot register what cannot be read: {', '.join(unreadable)}")
    return [e.path for e in entries]


def run_add(args: argparse.Namespace) -> int:
    files = _existing(args.files)
    if args.title and len(files) > 1:
        raise UsageError("--title names one document: register the files one by one")
    with registrar(args) as reg:
        for path in files:
            record = reg.add_document(path, args.level, args.title)
            print(ADDED.format(**asdict(record)))
    return 0


def run_table(args: argparse.Namespace) -> int:
    (path,) = _existing([args.file])
    columns = [c.strip() for c in args.columns.replace("，", ",").split(",") if c.strip()]
    with registrar(args) as reg:
        record = reg.add_table(path, columns, args.min_columns, args.level, args.title)
    print(TABLE_ADDED.format(**{**asdict(record), "columns": ", ".join(record.columns)}))
    return 0


def run_public(args: argparse.Namespace) -> int:
    files = _existing(args.paths)
    with registrar(args) as reg:
        dropped = reg.add_public(files)
    print(PUBLIC_ADDED.format(count=len(files), dropped=dropped))
    return 0


def run_list(args: argparse.Namespace) -> int:
    with registrar(args) as reg:
        documents = [asdict(d) for d in reg.store.documents()]
        tables = [{k: v for k, v in asdict(t).items() if k not in ("salt", "shapes")} for t, _ in reg.store.tables()]
        public: list[dict[str, Any]] = [
            {"id": i, "source": s, "sha256": h, "added": a, "kgrams": len(v)}
            for i, s, h, a, v in reg.store.public_rows()
        ]
    if args.format == "json":
        print(json.dumps({"documents": documents, "tables": tables, "public": public}, ensure_ascii=False, indent=2))
        return 0
    for d in documents:
        print(
            f"{d['id']}  {d['level']:4}  {d['registered'][:16].replace('T', ' ')}  {d['title']}  "
            f"({d['chars']} characters, {d['fingerprints']} fingerprints)"
        )
    for t in tables:
        print(
            f"{t['id']}  {t['level']:4}  {t['registered'][:16].replace('T', ' ')}  {t['title']}  "
            f"(table: {t['rows']} rows, columns {', '.join(t['columns'])}, {t['min_columns']} make a match)"
        )
    if public:
        print(f"public text: {len(public)} files, {sum(p['kgrams'] for p in public)} k-grams")
    if not (documents or tables or public):
        print(EMPTY)
    return 0


def run_remove(args: argparse.Namespace) -> int:
    status = 0
    with registrar(args) as reg:
        for ident in args.ids:
            if reg.remove(ident):
                print(REMOVED.format(id=ident))
            else:
                print(f"baomi: {NOT_FOUND.format(id=ident)}", file=sys.stderr)
                status = 1
    return status


def run_export(args: argparse.Namespace) -> int:
    with registrar(args) as reg:
        exported = reg.export()
    dump(exported, args.file)
    counts = {k: len(exported[k]) for k in ("documents", "tables", "public")}
    print(EXPORTED.format(**counts, path=args.file))
    return 0


def run_import(args: argparse.Namespace) -> int:
    (path,) = _existing([args.file])
    try:
        exported = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UsageError(f"{path}: not a registry export ({exc})") from None
    with registrar(args) as reg:
        documents, tables, public = reg.import_(exported)
    print(IMPORTED.format(documents=documents, tables=tables, public=public))
    return 0
