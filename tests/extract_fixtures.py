"""Helpers the extraction tests share: build containers with the real libraries, and look into an Extraction."""

from __future__ import annotations

import io
import shutil
import struct
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


def ole_of(streams: dict[str, bytes], clsid: bytes = bytes(16)) -> bytes:
    """A compound file (MS-CFB version 3) holding these streams at its root, as Office writes oleObject1.bin. No
    library writes new compound files, so this does the least the format asks: each stream in whole 512-byte sectors,
    then the directory, then the allocation table. A stream shorter than 4096 bytes is padded with NULs to that
    length (so that none goes to the mini stream): what it holds must say its own length."""
    end, free, fat_mark = 0xFFFFFFFE, 0xFFFFFFFF, 0xFFFFFFFD
    sectors: list[bytes] = []
    chains: list[int] = []
    entries = [_directory_entry("Root Entry", 5, child=1 if streams else free, clsid=clsid, start=end, size=0)]
    for number, (name, data) in enumerate(streams.items(), 1):
        padded = data.ljust(max(4096, -(-len(data) // 512) * 512), b"\x00")
        start = len(sectors)
        sectors += [padded[i : i + 512] for i in range(0, len(padded), 512)]
        chains += [*range(start + 1, len(sectors)), end]
        right = number + 1 if number < len(streams) else free
        entries.append(_directory_entry(name, 2, right=right, start=start, size=max(4096, len(data))))
    directory = b"".join(entries).ljust(-(-len(entries) // 4) * 512, b"\x00")
    first_directory = len(sectors)
    sectors += [directory[i : i + 512] for i in range(0, len(directory), 512)]
    chains += [*range(first_directory + 1, len(sectors)), end]
    fat_sectors = -(-(len(sectors) + 1) // 128)
    while -(-(len(sectors) + fat_sectors) // 128) > fat_sectors:
        fat_sectors += 1
    first_fat = len(sectors)
    chains += [fat_mark] * fat_sectors
    fat = b"".join(struct.pack("<I", c) for c in chains).ljust(fat_sectors * 512, b"\xff")
    difat = [first_fat + i for i in range(fat_sectors)] + [free] * (109 - fat_sectors)
    header = (
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
        + bytes(16)
        + struct.pack("<HHHHH", 0x3E, 3, 0xFFFE, 9, 6)
        + bytes(6)
        + struct.pack("<IIIIIIIII", 0, fat_sectors, first_directory, 0, 4096, end, 0, end, 0)
        + b"".join(struct.pack("<I", d) for d in difat)
    )
    return header + b"".join(sectors) + fat


def _directory_entry(
    name: str,
    kind: int,
    *,
    right: int = 0xFFFFFFFF,
    child: int = 0xFFFFFFFF,
    clsid: bytes = bytes(16),
    start: int,
    size: int,
) -> bytes:
    raw = (name + "\x00").encode("utf-16-le")
    return (
        raw.ljust(64, b"\x00")
        + struct.pack("<HBB", len(raw), kind, 1)
        + struct.pack("<III", 0xFFFFFFFF, right, child)
        + clsid
        + bytes(4 + 16)
        + struct.pack("<IQ", start, size)
    )
