"""The 检查报告 a confidentiality officer files after a scan: collected as the reports stream (collect), written as
HTML or Word by its file's suffix."""

from __future__ import annotations

from pathlib import Path

from scanner import times
from scanner.inspection.collect import CONTEXT_CHARS, FINDINGS_PER_FILE, Inspection, check_report_path

__all__ = ["CONTEXT_CHARS", "FINDINGS_PER_FILE", "Inspection", "check_report_path", "write_report"]


def write_report(inspection: Inspection, path: Path) -> None:
    """Write the report to `path`, as HTML or Word by its suffix (checked first with check_report_path)."""
    inspection.finished = inspection.finished or times.now()
    if path.suffix.lower() == ".docx":
        from scanner.inspection.docx_report import write_docx

        write_docx(inspection, path)
    else:
        from scanner.inspection.html_report import render_html

        path.write_text(render_html(inspection), encoding="utf-8")
