"""What the inspection report says, in the reader's language, before it is laid out: headings, tables and charts
that the HTML and the Word renderers lay out alike. Every word of the report is here."""

from __future__ import annotations

from dataclasses import dataclass, field

from scanner import times
from scanner.i18n import _, current, msg, msg_n, render
from scanner.inspection.charts import Bar, Chart
from scanner.inspection.collect import Inspection
from scanner.model import Finding, Verdict
from scanner.titles import category_title, problem_advice, problem_reason, problem_title, verdict_title, where

VERDICT_COLOURS = {Verdict.PASS: "#3a7d44", Verdict.FLAG: "#c98a00", Verdict.BLOCK: "#b3261e"}
CATEGORY_COLOUR = "#4a6fa5"
FOLDER_COLOUR = "#6b5b95"
TOP_FOLDERS = 10
TOP_CATEGORIES = 12
DETAIL_CHARS = 200


@dataclass(frozen=True)
class Highlight:
    """A context with its match set apart: before, match, after."""

    before: str
    match: str
    after: str

    def __str__(self) -> str:
        return f"{self.before}{self.match}{self.after}"


Cell = str | Highlight


@dataclass(frozen=True)
class Group:
    """A row across the whole table naming what the rows below it belong to (a file); `verdict` colours it."""

    text: str
    verdict: Verdict


@dataclass
class Table:
    headers: tuple[str, ...]
    widths: tuple[int, ...]  # relative widths of the columns
    rows: list[tuple[Cell, ...] | Group] = field(default_factory=list)
    key_column: bool = False  # the first column names what the row is about (a label/value table)


@dataclass
class Section:
    heading: str
    intro: str = ""
    tables: list[Table] = field(default_factory=list)
    charts: list[Chart] = field(default_factory=list)


@dataclass
class Content:
    language: str  # zh_CN or en
    title: str
    subtitle: str
    sections: list[Section]
    signatures: tuple[str, ...]  # the labels of the signature lines
    footer: str


def content(inspection: Inspection) -> Content:
    """The report of `inspection`, in the current language (scanner.i18n.speaking)."""
    return Content(
        language=current(),
        title=_("Confidentiality check report"),
        subtitle=render(msg("Checked with baomi {version}", version=inspection.scope.rules.version)),
        sections=[
            _scope(inspection),
            _totals(inspection),
            _charts(inspection),
            _findings(inspection),
            _unscannable(inspection),
        ],
        signatures=(_("Checked by (signature):"), _("Reviewed by (signature):"), _("Date:")),
        footer=_(
            "This report shows only a short context around each match, with personal identifiers masked; it holds "
            "no document's text. Keep and pass it on as the checked files' own classification requires."
        ),
    )


def _scope(inspection: Inspection) -> Section:
    scope, rules = inspection.scope, inspection.scope.rules
    dictionaries = "\n".join(
        render(
            msg_n(
                "{title} ({name}): {count} term, SHA-256 {digest}",
                "{title} ({name}): {count} terms, SHA-256 {digest}",
                each.terms,
                title=category_title(each.category, scope.dictionary_titles),
                name=each.category,
                digest=each.sha256[:12],
            )
        )
        for each in rules.dictionaries
    )
    rows: list[tuple[Cell, ...] | Group] = [
        (_("Checked paths"), "\n".join(scope.paths)),
        (_("Started"), times.shown(scope.started)),
        (_("Finished"), times.shown(inspection.finished or times.now())),
        (_("Run by (account@machine)"), scope.operator),
        (_("Checking tool"), f"baomi {rules.version}"),
        (_("Policy version"), rules.policy),
        (_("Dictionaries"), dictionaries or _("none")),
        (_("Rule-set fingerprint"), rules.fingerprint),
    ]
    return Section(
        _("Scope of the check"),
        _(
            "The rule-set fingerprint covers baomi's version, the policy and every dictionary's content: two checks "
            "with one fingerprint applied the same rules."
        ),
        [Table((_("Item"), _("Value")), (1, 3), rows, key_column=True)],
    )


def _totals(inspection: Inspection) -> Section:
    total = inspection.total
    verdicts = Table((_("Verdict"), _("Files"), _("Share")), (2, 1, 1))
    for verdict in (Verdict.BLOCK, Verdict.FLAG, Verdict.PASS):
        count = inspection.verdicts[verdict]
        verdicts.rows.append((verdict_title(verdict), str(count), f"{100 * count / total:.1f}%" if total else "—"))
    verdicts.rows.append((_("All files"), str(total), "100%" if total else "—"))
    categories = Table((_("Category"), _("Findings"), _("Files")), (2, 1, 1))
    for category, count in inspection.categories.most_common():
        title = category_title(category, inspection.scope.dictionary_titles)
        categories.rows.append((title, str(count), str(inspection.category_files[category])))
    if not inspection.categories:
        categories.rows.append((_("No findings"), "0", "0"))
    intro = render(
        msg_n(
            "{count} file checked: {block} blocked, {flag} to be reviewed, {passed} passed.",
            "{count} files checked: {block} blocked, {flag} to be reviewed, {passed} passed.",
            total,
            block=inspection.verdicts[Verdict.BLOCK],
            flag=inspection.verdicts[Verdict.FLAG],
            passed=inspection.verdicts[Verdict.PASS],
        )
    )
    return Section(_("Results"), intro, [verdicts, categories])


def _charts(inspection: Inspection) -> Section:
    titles = inspection.scope.dictionary_titles
    verdicts = Chart(
        _("Files by verdict"),
        tuple(
            Bar(verdict_title(v), inspection.verdicts[v], VERDICT_COLOURS[v])
            for v in (Verdict.BLOCK, Verdict.FLAG, Verdict.PASS)
        ),
        _("No files"),
    )
    categories = Chart(
        _("Findings by category"),
        tuple(
            Bar(category_title(c, titles), n, CATEGORY_COLOUR)
            for c, n in inspection.categories.most_common(TOP_CATEGORIES)
        ),
        _("No findings"),
    )
    folders = Chart(
        _("Folders with the most findings"),
        tuple(Bar(folder, n, FOLDER_COLOUR) for folder, n in inspection.folders.most_common(TOP_FOLDERS)),
        _("No findings"),
        keep_end=True,
    )
    return Section(_("Charts"), charts=[verdicts, categories, folders])


def _findings(inspection: Inspection) -> Section:
    table = Table((_("Category"), _("Where"), _("Context"), _("Why"), _("Rule")), (3, 4, 6, 6, 3))
    titles = inspection.scope.dictionary_titles
    listed = [entry for entry in inspection.files if entry.findings]
    for number, entry in enumerate(listed, 1):
        table.rows.append(Group(f"{number}. {entry.path} — {verdict_title(entry.verdict)}", entry.verdict))
        for finding in entry.findings:
            table.rows.append(
                (
                    category_title(finding.category, titles),
                    where(finding.location),
                    _highlight(finding),
                    finding.message,
                    finding.rule,
                )
            )
        if entry.more:
            more = msg_n("… and {count} more finding", "… and {count} more findings", entry.more)
            table.rows.append(("", "", "", render(more), ""))
    intro = (
        render(msg_n("{count} file has findings.", "{count} files have findings.", len(listed)))
        if listed
        else _("No file has findings.")
    )
    return Section(_("Files with findings"), intro, [table] if listed else [])


def _unscannable(inspection: Inspection) -> Section:
    table = Table((_("File"), _("Reason"), _("What to do"), _("Details")), (4, 4, 4, 3))
    entries = inspection.unscannable
    for entry in entries:
        for problem in entry.problems:
            reason = problem_reason(problem.rule)
            place = entry.path if problem.location.part == "file" else f"{entry.path} › {problem.location.part}"
            table.rows.append((place, problem_title(reason), problem_advice(reason), _detail(problem)))
    intro = (
        render(
            msg_n(
                "{count} file could not be checked completely. It is never passed: a person must check it.",
                "{count} files could not be checked completely. They are never passed: a person must check them.",
                len(entries),
            )
        )
        if entries
        else _("Every file was read completely.")
    )
    return Section(_("Files that could not be checked"), intro, [table] if entries else [])


def _highlight(finding: Finding) -> Cell:
    context, match = finding.context, finding.text
    at = context.find(match) if match else -1
    if at < 0:
        return context or match
    return Highlight(context[:at], match, context[at + len(match) :])


def _detail(problem: Finding) -> str:
    detail = problem.message
    return detail if len(detail) <= DETAIL_CHARS else detail[: DETAIL_CHARS - 1] + "…"
