"""Images (png, jpeg, gif, tiff, bmp, webp): not examined by default, which is itself a finding; with OCR,
Tesseract reads Simplified Chinese and English from them."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator

from scanner.extract.base import Context, Unscannable
from scanner.model import Segment

OCR_LANGUAGES = "chi_sim+eng"


def read_image(data: bytes, prefix: str, ctx: Context) -> Iterator[Segment]:
    where = prefix.rstrip("!")
    if not ctx.ocr:
        ctx.problem("image", "an image; its text is not examined without --ocr", where)
        return
    text = ocr(data, where, ctx.remaining())
    if text.strip():
        yield Segment(text, f"{prefix}ocr")


def ocr(data: bytes, where: str, seconds: float) -> str:
    """The text Tesseract reads in the image `data`."""
    if shutil.which("tesseract") is None:
        raise Unscannable("unsupported", "OCR needs tesseract-ocr and tesseract-ocr-chi-sim", where)
    env = {**os.environ, "OMP_THREAD_LIMIT": "1"}  # one core per file: files are scanned in parallel instead
    try:
        done = subprocess.run(
            ["tesseract", "-", "-", "-l", OCR_LANGUAGES],
            input=data,
            capture_output=True,
            timeout=seconds,
            env=env,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise Unscannable("seconds", f"OCR took more than {seconds:g} s", where) from None
    if done.returncode != 0:
        detail = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise Unscannable("corrupt", f"tesseract could not read the image: {detail[-1] if detail else ''}", where)
    return done.stdout.decode("utf-8", "replace")
