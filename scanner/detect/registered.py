"""Registered secrets found in a file: passages of registered documents and rows of registered tables, looked for
in the folded text of all of a file's segments at once (a passage may run across pages and paragraphs).
"""

from __future__ import annotations

import numpy as np

from scanner.detect.view import SegmentView
from scanner.i18n import msg, msg_n
from scanner.model import Finding, Role, Verdict
from scanner.registry.documents import Match
from scanner.registry.fingerprint import Folded, K, fold_texts
from scanner.registry.index import Registry
from scanner.registry.tables import TableMatch

DOCUMENT_RULE = "registered.document"
TABLE_RULE = "registered.table"


def find(registry: Registry, views: list[SegmentView]) -> list[Finding]:
    views = [v for v in views if v.segment.role != Role.FILENAME]
    if not views:
        return []
    findings = []
    if len(registry.documents):
        folded = fold_texts([v.normal.text for v in views])
        matches = registry.documents.matches(folded.codes, registry.keyed, registry.settings.min_chars)
        findings += [_document_finding(m, folded, views) for m in matches]
    if registry.tables:
        folded = fold_texts([v.normal.text for v in views], separators=True)
        for table in registry.tables:
            found = table.matches(folded, registry.settings.table_window)
            if found is not None:
                findings.append(_table_finding(found, folded, views))
    return findings


def _document_finding(match: Match, folded: Folded, views: list[SegmentView]) -> Finding:
    doc = match.document
    view, start, end = _place(folded, views, match.start, match.start + K)
    return Finding(
        category="registered",
        rule=DOCUMENT_RULE,
        action=Verdict.BLOCK,
        text=view.text(start, end),
        location=view.location(start, end),
        context=view.context(start, end),
        reason=msg(
            "About {chars} characters from here match the registered document “{title}” ({level}, id {id}, "
            "registered {date}): {fingerprints} fingerprints, its characters {first}–{last}.",
            chars=match.chars,
            title=doc.title,
            level=doc.level,
            id=doc.id,
            date=doc.registered[:10],
            fingerprints=match.fingerprints,
            first=match.registered_start + 1,
            last=match.registered_end,
        ),
    )


def _table_finding(match: TableMatch, folded: Folded, views: list[SegmentView]) -> Finding:
    table = match.table
    view, start, end = _place(folded, views, match.start, match.end)
    return Finding(
        category="registered-table",
        rule=TABLE_RULE,
        action=Verdict.BLOCK,
        text="",
        location=view.location(start, end),
        context=view.context(start, end),
        reason=msg_n(
            "{count} row of the registered table “{title}” ({level}, id {id}): values of {least} or more of the "
            "columns {columns} of one row stand together.",
            "{count} rows of the registered table “{title}” ({level}, id {id}): values of {least} or more of the "
            "columns {columns} of one row stand together.",
            match.rows,
            title=table.title,
            level=table.level,
            id=table.id,
            least=table.min_columns,
            columns=", ".join(table.columns),
        ),
    )


def _place(folded: Folded, views: list[SegmentView], start: int, end: int) -> tuple[SegmentView, int, int]:
    """The segment and the normalised span of folded characters [start, end), cut at the end of that segment."""
    first, last = folded.source[start], folded.source[min(end, len(folded.source)) - 1]
    segment = int(np.searchsorted(folded.starts, first, "right")) - 1
    offset = int(folded.starts[segment])
    view = views[segment]
    return view, int(first) - offset, min(int(last) - offset + 1, len(view.normal.text))
