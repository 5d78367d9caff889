"""SQLite databases (.db, .sqlite on a share): the schema, and every table's rows as lines of their values.

The database is opened in memory from the bytes scanned (never from the file on disk), read only, and stopped at the
file's deadline; files stored in it as blobs are read through the dispatcher when they are of a known format.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Iterator

from scanner.extract.base import Context, Unscannable, decode_name
from scanner.extract.sniff import sniff
from scanner.i18n import msg
from scanner.model import Role, Segment

# Blobs of these formats are files kept in the database (documents, archives, pictures): read like attachments.
_FILE_FORMATS = frozenset(
    {"docx", "xlsx", "pptx", "pdf", "ofd", "odf", "rtf", "zip", "7z", "rar", "gzip", "ole-doc", "ole-xls", "ole-ppt"}
    | {"wps", "png", "jpeg", "gif", "tiff", "bmp", "webp", "eml", "msg"}
)
NOT_SQLITE = msg("This is not a readable SQLite database.")


def read_sqlite(data: bytes, prefix: str, ctx: Context) -> Iterator[Segment]:
    where = prefix.rstrip("!")
    connection = sqlite3.connect(":memory:", check_same_thread=False)
    connection.text_factory = decode_name  # text columns in GBK, as older Chinese software writes them, too
    with contextlib.closing(connection):
        deadline = time.monotonic() + ctx.remaining()
        # Called every few thousand steps of the virtual machine: a non-zero answer interrupts the query.
        connection.set_progress_handler(lambda: int(time.monotonic() > deadline), 10_000)
        try:
            connection.deserialize(data)
            connection.execute("PRAGMA query_only = 1")
            tables = connection.execute(
                "SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
            ).fetchall()
            schema = "\n".join(f"{name}: {sql}" for name, sql in tables)
            if schema:
                yield Segment(schema, f"{prefix}schema", Role.METADATA)
            for table, _sql in tables:
                yield from _table(connection, str(table), prefix, ctx)
        except sqlite3.OperationalError as exc:
            if time.monotonic() > deadline:
                late = msg("Reading the database ran out of the file's time.")
                raise Unscannable("seconds", late, where) from None
            raise Unscannable("corrupt", NOT_SQLITE, where, str(exc)) from None
        except sqlite3.DatabaseError as exc:
            raise Unscannable("corrupt", NOT_SQLITE, where, str(exc)) from None


def _table(connection: sqlite3.Connection, table: str, prefix: str, ctx: Context) -> Iterator[Segment]:
    part = f"{prefix}table:{table}"
    quoted = '"' + table.replace('"', '""') + '"'
    cursor = connection.execute(f"SELECT * FROM {quoted}")
    columns = [column[0] for column in cursor.description or ()]
    lines = ["\t".join(columns)]
    binary = 0
    for number, row in enumerate(cursor, 1):
        values = []
        for column, value in zip(columns, row, strict=False):
            if isinstance(value, bytes):
                fmt = sniff(value, column)
                if fmt in _FILE_FORMATS:
                    yield from ctx.descend(value, f"row{number}.{column}", part + "!")
                elif value.strip(b"\x00"):
                    binary += 1
                continue
            values.append("" if value is None else str(value))
        line = "\t".join(values)
        ctx.charge(len(line), part)
        lines.append(line)
    yield Segment("\n".join(lines), part, Role.CELL)
    if binary:
        binaries = msg(
            "{count} binary values of no known format in table {table} were not read.", count=binary, table=table
        )
        ctx.problem("unsupported", binaries, part)
