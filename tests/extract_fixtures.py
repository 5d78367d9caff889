"""Helpers the extraction tests share: build containers with the real libraries, and look into an Extraction."""

from __future__ import annotations

import io
import shutil
import subprocess
import tarfile
import zipfile
from pathlib import Path

from scanner.extract import Extraction
from scanner.model import Role, Segment
from tests.conftest import require

MARK = "机密★5年"


def zip_of(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buffer.getvalue()


def tar_of(members: dict[str, bytes], mode: str = "w") -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode=mode) as tf:  # type: ignore[call-overload]
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def holding(extraction: Extraction, text: str) -> list[Segment]:
    """The segments that contain `text`."""
    return [s for s in extraction.segments if text in s.text]


def the_one(extraction: Extraction, text: str) -> Segment:
    found = holding(extraction, text)
    assert len(found) == 1, f"{text!r} in {len(found)} segments: {extraction.segments}"
    return found[0]


def reasons(extraction: Extraction) -> set[str]:
    return {p.reason for p in extraction.problems}


def names(extraction: Extraction) -> list[str]:
    return [s.text for s in extraction.segments if s.role == Role.FILENAME]


def libreoffice(jobs: dict[str, list[Path]], workdir: Path) -> list[Path]:
    """Convert each list of sources to its target format ({"doc": [a.docx, ...]}) with LibreOffice headless, the
    targets at once, each in a private profile and output folder."""
    require(shutil.which("soffice") is not None, "LibreOffice (soffice)")
    runs = []
    for target, sources in jobs.items():
        folder = workdir / target
        command = ["soffice", f"-env:UserInstallation={(folder / 'profile').as_uri()}", "--headless"]
        command += ["--convert-to", target, "--outdir", str(folder), *map(str, sources)]
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        runs.append((process, [folder / f"{s.stem}.{target}" for s in sources]))
    out = []
    for process, paths in runs:
        process.wait(timeout=120)
        assert all(p.exists() for p in paths), f"LibreOffice did not write {paths}"
        out += paths
    return out
