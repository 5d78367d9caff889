"""Registered tables (exact data match): the rows of a roster read from a spreadsheet or CSV file, each cell kept as
a keyed, salted hash of its folded value, and the search of a scanned text for values of one row standing together.
"""

from __future__ import annotations

import csv
import io
import re
from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from scanner.extract import Limits, extract
from scanner.extract.base import Unscannable
from scanner.extract.sniff import sniff
from scanner.extract.text import decode_text
from scanner.i18n import msg
from scanner.model import Role
from scanner.normalize import normalize
from scanner.registry.fingerprint import SEPARATOR, Folded, Keyed, fold_texts, substring_hashes
from scanner.registry.settings import unread
from scanner.registry.store import RegistryError, TableCells, TableRecord

_CELL = re.compile(r"sheet:(?P<sheet>.*)!(?P<column>[A-Z]{1,3})(?P<row>\d+)$")
_ASCII = np.zeros(0x80, dtype=bool)
_ASCII[[*range(0x30, 0x3A), *range(0x61, 0x7B)]] = True
HEADER_ROWS = 10  # the header row is looked for among a sheet's first rows
MIN_VALUE = 2  # folded characters: a one-character cell (性别 男) matches everywhere and tells nothing


@dataclass(frozen=True)
class TableMatch:
    table: TableRecord
    rows: int  # rows of the table whose values stand together in the scanned text
    start: int  # in the folded stream: the first value of the first row found
    end: int


def read_rows(data: bytes, name: str, columns: list[str], limits: Limits) -> list[list[str]]:
    """The values of the named columns, row by row, from an .xlsx workbook or a CSV file whose header row names
    them (the first sheet that has them all)."""
    fmt = sniff(data, name)
    if fmt == "xlsx":
        grids = _workbook_grids(data, name, limits)
    elif fmt == "text":
        grids = [_csv_grid(data, name)]
    else:
        wrong = msg(
            "{name}: a table is registered from an .xlsx workbook or a CSV file, not {format}.", name=name, format=fmt
        )
        raise RegistryError(wrong)
    for grid in grids:
        header = next((i for i, row in enumerate(grid[:HEADER_ROWS]) if _indexes(row, columns) is not None), None)
        if header is not None:
            wanted = _indexes(grid[header], columns)
            assert wanted is not None
            return [[row[i] if i < len(row) else "" for i in wanted] for row in grid[header + 1 :]]
    no_header = msg("{name}: no header row names all of the columns {columns}.", name=name, columns=", ".join(columns))
    raise RegistryError(no_header)


def _indexes(row: list[str], columns: list[str]) -> list[int] | None:
    names = [cell.strip() for cell in row]
    return [names.index(c) for c in columns] if all(c in names for c in columns) else None


def _workbook_grids(data: bytes, name: str, limits: Limits) -> list[list[list[str]]]:
    extraction = extract(data, name, limits)
    if extraction.problems:
        raise RegistryError(unread(name, extraction.problems[0]))
    cells: dict[str, dict[int, dict[int, str]]] = defaultdict(lambda: defaultdict(dict))
    for segment in extraction.segments:
        found = _CELL.search(segment.part) if segment.role == Role.CELL else None
        if found:
            column = 0
            for letter in found["column"]:
                column = column * 26 + ord(letter) - 64
            cells[found["sheet"]][int(found["row"])][column - 1] = segment.text
    grids = []
    for rows in cells.values():
        width = max((max(r) + 1 for r in rows.values()), default=0)
        grids.append([[rows[r].get(c, "") for c in range(width)] for r in sorted(rows)])
    return grids


def _csv_grid(data: bytes, name: str) -> list[list[str]]:
    try:
        text = decode_text(data).text
    except Unscannable as exc:
        raise RegistryError(msg("{name}: {why}", name=name, why=exc.detail)) from None
    try:
        dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(text[:65536], delimiters=",;\t|，")
    except csv.Error:
        dialect = csv.excel
    return list(csv.reader(io.StringIO(text), dialect))


def fold_value(value: str) -> np.ndarray:
    """A cell's value as the scan sees it: folded, with the separators inside it and none around it."""
    codes = fold_texts([normalize(value).text], separators=True).codes
    inside = np.flatnonzero(codes != SEPARATOR)
    return codes[inside[0] : inside[-1] + 1] if len(inside) else codes[:0]


def hash_rows(rows: list[list[str]], keyed: Keyed) -> tuple[TableCells, list[list[int]]]:
    """The keyed hash of every usable cell, and the shapes (length, plain ASCII, column) a scan must look for."""
    values, row_numbers, column_numbers, shapes = [], [], [], set()
    for number, row in enumerate(rows):
        for column, value in enumerate(row):
            codes = fold_value(value)
            if len(codes) < MIN_VALUE:
                continue
            values.append(int(substring_hashes(codes, len(codes))[0]))
            row_numbers.append(number)
            column_numbers.append(column)
            shapes.add((len(codes), int(_plain(codes).all()), column))
    raw = np.array(values, dtype=np.uint64)
    cells = TableCells(keyed(raw), np.array(row_numbers, np.uint32), np.array(column_numbers, np.uint8))
    return cells, [list(s) for s in sorted(shapes)]


def _plain(codes: np.ndarray) -> np.ndarray:
    """Letters and digits of ASCII (or separators between them): such a value must be a whole word of the text."""
    return (codes == SEPARATOR) | ((codes < 0x80) & _ASCII[np.minimum(codes, 0x7F)])


@dataclass
class RegisteredTable:
    record: TableRecord
    keyed: Keyed
    values: np.ndarray  # sorted keyed hashes
    rows: np.ndarray
    columns: np.ndarray

    @classmethod
    def build(cls, record: TableRecord, cells: TableCells, secret: bytes) -> RegisteredTable:
        order = np.argsort(cells.values, kind="stable")
        keyed = Keyed(secret, f"table {record.salt}")
        return cls(record, keyed, cells.values[order], cells.rows[order], cells.columns[order])

    def matches(self, folded: Folded, window: int) -> TableMatch | None:
        """Rows with values of min_columns or more of their columns within `window` characters of each other."""
        codes = folded.codes
        plain = _plain(codes) & (codes != SEPARATOR)
        # A plain value is a whole word: it starts after, and ends before, something that is not plain.
        word_start = plain.copy()
        word_start[1:] &= ~plain[:-1]
        hits = [
            self._hits(codes, np.flatnonzero(word_start), length, plain) for length, is_plain, _ in self._shapes(True)
        ]
        others = {column for _, is_plain, column in self.record.shapes if not is_plain}
        anywhere = len(others) >= self.record.min_columns
        near = np.sort(np.concatenate([h[0] for h in hits])) if hits else np.zeros(0, np.int64)
        if others and (anywhere or len(near)):
            content = np.flatnonzero(codes != SEPARATOR)
            if not anywhere:  # a row needs a plain value too: look for the others only around the plain ones found
                content = content[_within(content, near, window)]
            hits += [self._hits(codes, content, length, None) for length, _, _ in self._shapes(False)]
        if not hits:
            return None
        at, length, row, column = (np.concatenate(parts) for parts in zip(*hits, strict=True))
        return self._rows(at, at + length, row, column, window)

    def _shapes(self, plain: bool) -> list[tuple[int, bool, int]]:
        lengths = {length for length, is_plain, _ in self.record.shapes if bool(is_plain) == plain}
        return [(length, plain, 0) for length in sorted(lengths)]

    def _hits(
        self, codes: np.ndarray, starts: np.ndarray, length: int, plain: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        starts = starts[starts + length <= len(codes)]
        if plain is not None:  # a plain value ends where its word ends
            ends = starts + length
            starts = starts[(ends == len(codes)) | ~plain[np.minimum(ends, len(codes) - 1)]]
        else:
            starts = starts[codes[starts + length - 1] != SEPARATOR]
        hashes = self.keyed(_hashes_at(codes, starts, length))
        left = np.searchsorted(self.values, hashes, "left")
        count = np.searchsorted(self.values, hashes, "right") - left
        at = np.repeat(starts, count)
        entry = np.repeat(left, count) + np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count)
        return at, np.full(len(at), length), self.rows[entry], self.columns[entry]

    def _rows(
        self, at: np.ndarray, end: np.ndarray, row: np.ndarray, column: np.ndarray, window: int
    ) -> TableMatch | None:
        need = self.record.min_columns
        found = 0
        first: tuple[int, int] | None = None
        order = np.lexsort((at, row))
        at, end, row, column = at[order], end[order], row[order], column[order]
        bounds = np.flatnonzero(np.diff(row)) + 1
        for lo, hi in zip(np.concatenate(([0], bounds)), np.concatenate((bounds, [len(row)])), strict=True):
            if hi - lo < need or len(set(column[lo:hi].tolist())) < need:
                continue
            place = _together(at[lo:hi], end[lo:hi], column[lo:hi], need, window)
            if place is not None:
                found += 1
                if first is None or place[0] < first[0]:
                    first = place
        return TableMatch(self.record, found, *first) if first is not None else None


def _hashes_at(codes: np.ndarray, starts: np.ndarray, length: int) -> np.ndarray:
    if not len(starts):
        return np.zeros(0, np.uint64)
    return substring_hashes(codes, length)[starts]


def _within(positions: np.ndarray, anchors: np.ndarray, window: int) -> np.ndarray:
    """Which positions lie within `window` of some anchor (anchors sorted)."""
    if not len(anchors):
        return np.zeros(len(positions), dtype=bool)
    i = np.clip(np.searchsorted(anchors, positions), 1, len(anchors)) - 1
    j = np.minimum(i + 1, len(anchors) - 1)
    return (np.abs(positions - anchors[i]) <= window) | (np.abs(positions - anchors[j]) <= window)


def _together(at: np.ndarray, end: np.ndarray, column: np.ndarray, need: int, window: int) -> tuple[int, int] | None:
    """The first place where values of `need` different columns stand within `window` characters."""
    for i in range(len(at)):
        inside = (at >= at[i]) & (at <= at[i] + window)
        if len(set(column[inside].tolist())) >= need:
            return int(at[i]), int(end[inside].max())
    return None
