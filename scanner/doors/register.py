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

from scanner import times
from scanner.command import UsageError, count
from scanner.i18n import _, msg, msg_n, render
from scanner.policy import load_config
from scanner.registry.registration import LEVELS, Registrar, dump
from scanner.registry.settings import RegistrySettings, read_or_create_key, registry_settings
from scanner.registry.store import open_store
from scanner.walk import walk


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    where = argparse.ArgumentParser(add_help=False, parents=[common])
    where.add_argument(
        "--store",
        metavar=_("STORE"),
        help=_("the store: a SQLite file or a postgresql:// URL (default: [registry] store)"),
    )
    where.add_argument("--key", type=Path, metavar=_("FILE"), help=_("the key file (default: [registry] key)"))
    parser = subparsers.add_parser(
        "register",
        help=_("register secret documents and tables"),
        description=_(
            "Register secret documents and tables so that scans find excerpts of them, marks or not. Only keyed "
            "fingerprints and keyed hashes are stored, never text; the key is a file of its own ([registry] key)."
        ),
    )
    actions = parser.add_subparsers(required=True, metavar=_("ACTION"))
    add = actions.add_parser("add", parents=[where], help=_("register secret documents (any format baomi reads)"))
    add.add_argument("files", nargs="+", type=Path, metavar=_("FILE"), help=_("the documents"))
    add.add_argument("--level", required=True, choices=LEVELS, help=_("the document's classification"))
    add.add_argument("--title", metavar=_("TITLE"), help=_("a title (default: the document's own, else its file name)"))
    add.set_defaults(run=run_add)
    table = actions.add_parser("table", parents=[where], help=_("register the rows of a table (.xlsx or CSV)"))
    table.add_argument("file", type=Path, metavar=_("FILE"), help=_("the table"))
    table.add_argument(
        "--columns",
        required=True,
        metavar=_("COLUMNS"),
        help=_("the header names of the columns to register, with commas"),
    )
    table.add_argument(
        "--min-columns",
        type=count,
        default=2,
        metavar="N",
        help=_("values of this many columns of one row make a match"),
    )
    table.add_argument("--level", required=True, choices=LEVELS, help=_("the table's classification"))
    table.add_argument("--title", metavar=_("TITLE"), help=_("a title (default: the file name)"))
    table.set_defaults(run=run_table)
    public = actions.add_parser("public", parents=[where], help=_("record public text: what it holds is no secret"))
    public.add_argument("paths", nargs="+", type=Path, metavar=_("PATH"), help=_("files and folders of public text"))
    public.set_defaults(run=run_public)
    listing = actions.add_parser("list", parents=[where], help=_("what is registered"))
    listing.add_argument(
        "--format", choices=("text", "json"), default="text", help=_("text for people, json for tools")
    )
    listing.set_defaults(run=run_list)
    remove = actions.add_parser(
        "remove", parents=[where], help=_("remove registered documents, tables or public texts")
    )
    remove.add_argument("ids", nargs="+", metavar=_("ID"), help=_("their ids, as list shows them"))
    remove.set_defaults(run=run_remove)
    export = actions.add_parser("export", parents=[where], help=_("write the whole registry to a file (no key in it)"))
    export.add_argument("file", type=Path, metavar=_("FILE"), help=_("the file to write"))
    export.set_defaults(run=run_export)
    imports = actions.add_parser("import", parents=[where], help=_("add a registry exported under the same key"))
    imports.add_argument("file", type=Path, metavar=_("FILE"), help=_("the exported file"))
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
        raise UsageError(msg("There is no such file or folder: {paths}.", paths=", ".join(missing)))
    entries = list(walk(paths))
    unreadable = [f"{e.path} ({render(e.problem)})" for e in entries if e.problem is not None]
    if unreadable:
        raise UsageError(msg("Cannot register what cannot be read: {paths}.", paths=", ".join(unreadable)))
    return [e.path for e in entries]


def run_add(args: argparse.Namespace) -> int:
    files = _existing(args.files)
    if args.title and len(files) > 1:
        raise UsageError(msg("--title names one document: register the files one by one."))
    with registrar(args) as reg:
        for path in files:
            record = reg.add_document(path, args.level, args.title)
            added = msg(
                "Registered {id}  {level}  {title}  ({chars} characters, {fingerprints} fingerprints)",
                **_said(asdict(record)),
            )
            print(render(added))
    return 0


def run_table(args: argparse.Namespace) -> int:
    (path,) = _existing([args.file])
    columns = [c.strip() for c in args.columns.replace("，", ",").split(",") if c.strip()]
    with registrar(args) as reg:
        record = reg.add_table(path, columns, args.min_columns, args.level, args.title)
    table = {**asdict(record), "columns": ", ".join(record.columns)}
    added = msg(
        "Registered table {id}  {level}  {title}  ({rows} rows, columns {columns}, {min_columns} make a match)",
        **_said(table),
    )
    print(render(added))
    return 0


def run_public(args: argparse.Namespace) -> int:
    files = _existing(args.paths)
    with registrar(args) as reg:
        dropped = reg.add_public(files)
    recorded = msg_n(
        "{count} public file recorded; registered documents dropped {dropped} fingerprints they share with it",
        "{count} public files recorded; registered documents dropped {dropped} fingerprints they share with them",
        len(files),
        dropped=dropped,
    )
    print(render(recorded))
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
        listed = msg(
            "{id}  {level}  {registered}  {title}  ({chars} characters, {fingerprints} fingerprints)",
            **_said({**d, "registered": _shown(d["registered"])}),
        )
        print(render(listed))
    for t in tables:
        listed = msg(
            "{id}  {level}  {registered}  {title}  (table: {rows} rows, columns {columns}, {min_columns} make a match)",
            **_said({**t, "registered": _shown(t["registered"]), "columns": ", ".join(t["columns"])}),
        )
        print(render(listed))
    if public:
        kgrams = sum(p["kgrams"] for p in public)
        print(render(msg("Public text: {count} files, {kgrams} k-grams", count=len(public), kgrams=kgrams)))
    if not (documents or tables or public):
        print(_("Nothing is registered."))
    return 0


def _said(record: dict[str, Any]) -> dict[str, str | int]:
    """A record's values as a message's fields: numbers as they are, the rest as text."""
    return {k: v if isinstance(v, int) else str(v) for k, v in record.items() if isinstance(v, int | str)}


def _shown(stored: str) -> str:
    """A registration time as a person reads it: local, zone named (an unreadable one as it is)."""
    try:
        return times.shown(stored)
    except ValueError:
        return stored


def run_remove(args: argparse.Namespace) -> int:
    status = 0
    with registrar(args) as reg:
        for ident in args.ids:
            if reg.remove(ident):
                print(render(msg("Removed {id}", id=ident)))
            else:
                missing = msg("Nothing registered has the id {id}.", id=ident)
                print(f"baomi: {render(missing)}", file=sys.stderr)
                status = 1
    return status


def run_export(args: argparse.Namespace) -> int:
    with registrar(args) as reg:
        exported = reg.export()
    dump(exported, args.file)
    counts = {k: len(exported[k]) for k in ("documents", "tables", "public")}
    exported_counts = msg(
        "Exported {documents} documents, {tables} tables and {public} public texts to {path}",
        path=str(args.file),
        **counts,
    )
    print(render(exported_counts))
    return 0


def run_import(args: argparse.Namespace) -> int:
    (path,) = _existing([args.file])
    try:
        exported = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise UsageError(msg("{path}: this is not a registry export.", path=str(path))) from None
    with registrar(args) as reg:
        documents, tables, public = reg.import_(exported)
    imported = msg(
        "Imported {documents} documents, {tables} tables and {public} public texts",
        documents=documents,
        tables=tables,
        public=public,
    )
    print(render(imported))
    return 0
