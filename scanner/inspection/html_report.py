"""The inspection report as one self-contained HTML page: inline CSS and SVG charts, no script, printable on A4.

Everything that came from a scanned file (names, contexts) is escaped: it goes into the page as text, never as HTML.
"""

from __future__ import annotations

from html import escape

from scanner.inspection.charts import svg
from scanner.inspection.collect import Inspection
from scanner.inspection.content import Cell, Content, Group, Highlight, Section, Table, content

STYLE = """
@page { size: A4; margin: 18mm 15mm; }
body { font-family: 'Noto Sans CJK SC', 'Source Han Sans SC', 'Microsoft YaHei', 'PingFang SC', sans-serif;
       color: #1d1d1f; max-width: 1000px; margin: 2em auto; padding: 0 1.5em; line-height: 1.5; }
h1 { text-align: center; font-size: 1.8em; margin-bottom: 0.1em; letter-spacing: 0.1em; }
.subtitle { text-align: center; color: #555; margin-top: 0; }
h2 { border-bottom: 2px solid #1d1d1f; padding-bottom: 0.2em; margin-top: 1.8em; }
table { border-collapse: collapse; width: 100%; margin: 0.8em 0; font-size: 0.9em; }
th, td { border: 1px solid #999; padding: 0.35em 0.5em; vertical-align: top; text-align: left;
         white-space: pre-line; overflow-wrap: anywhere; }
th { background: #eceff3; }
td.key { background: #f7f7f9; font-weight: bold; }
tr.group td { background: #f2f2f2; font-weight: bold; }
tr.group.block td { border-left: 6px solid #b3261e; }
tr.group.flag td { border-left: 6px solid #c98a00; }
mark { background: #ffe08a; padding: 0 0.1em; }
.charts { display: flex; flex-wrap: wrap; gap: 1.5em; }
.charts svg { max-width: 100%; height: auto; }
.signatures { display: flex; justify-content: space-between; gap: 2em; margin-top: 3em; }
.signatures div { flex: 1; border-bottom: 1px solid #1d1d1f; padding-bottom: 2.2em; }
footer { margin-top: 3em; font-size: 0.85em; color: #555; }
@media print { body { margin: 0; max-width: none; } h2 { break-after: avoid; } tr { break-inside: avoid; } }
"""


def render_html(inspection: Inspection) -> str:
    return html_of(content(inspection))


def html_of(report: Content) -> str:
    lang = "zh-CN" if report.language == "zh_CN" else "en"
    parts = [
        f'<!DOCTYPE html>\n<html lang="{lang}">\n<head>\n<meta charset="utf-8">\n'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escape(report.title)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n",
        f'<h1>{escape(report.title)}</h1>\n<p class="subtitle">{escape(report.subtitle)}</p>\n',
    ]
    parts += [_section(section) for section in report.sections]
    parts.append('<div class="signatures">')
    parts += [f"<div>{escape(label)}</div>" for label in report.signatures]
    parts.append(f"</div>\n<footer>{escape(report.footer)}</footer>\n</body>\n</html>\n")
    return "".join(parts)


def _section(section: Section) -> str:
    parts = [f"<section>\n<h2>{escape(section.heading)}</h2>\n"]
    if section.intro:
        parts.append(f"<p>{escape(section.intro)}</p>\n")
    if section.charts:
        parts.append('<div class="charts">' + "".join(f"<figure>{svg(c)}</figure>" for c in section.charts) + "</div>")
    parts += [_table(table) for table in section.tables]
    parts.append("</section>\n")
    return "".join(parts)


def _table(table: Table) -> str:
    total = sum(table.widths)
    columns = "".join(f'<col style="width:{100 * w / total:.0f}%">' for w in table.widths)
    head = "".join(f"<th>{escape(h)}</th>" for h in table.headers)
    rows = []
    for row in table.rows:
        if isinstance(row, Group):
            rows.append(
                f'<tr class="group {row.verdict}"><td colspan="{len(table.headers)}">{escape(row.text)}</td></tr>'
            )
            continue
        cells = [
            f'<td class="key">{_cell(cell)}</td>' if table.key_column and index == 0 else f"<td>{_cell(cell)}</td>"
            for index, cell in enumerate(row)
        ]
        rows.append(f"<tr>{''.join(cells)}</tr>")
    return (
        f"<table><colgroup>{columns}</colgroup><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>\n"
    )


def _cell(cell: Cell) -> str:
    if isinstance(cell, Highlight):
        return f"{escape(cell.before)}<mark>{escape(cell.match)}</mark>{escape(cell.after)}"
    return escape(cell)
