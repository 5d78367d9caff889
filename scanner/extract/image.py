"""Images (png, jpeg, gif, tiff, bmp, webp): not examined by default, which is itself a finding; with OCR,
Tesseract reads Simplified Chinese and English from them."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass

from scanner.extract.base import Context, Unscannable, time_left
from scanner.model import Segment

OCR_LANGUAGES = "chi_sim+eng"
# OCR must never make a file less safe: an image whose text was read poorly keeps its "image" finding (flag), so a
# person looks at what Tesseract may have misread (a mark in a seal, a star read as 女).
_MEAN_CONFIDENCE = 75.0  # per cent, over the words read
_WORD_CONFIDENCE = 50.0  # any word below this is a word it was unsure of
_CJK_PER_MEGAPIXEL = 1.0  # fewer Chinese characters than this for the area: a picture, not a text (an A4 page
# rendered at 300 dpi is 8.7 megapixels: one line of a title on it is about 1.3 a megapixel)
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]")


@dataclass(frozen=True)
class Recognised:
    text: str
    doubt: str | None  # why the reading is poor, or None


def read_image(data: bytes, prefix: str, ctx: Context) -> Iterator[Segment]:
    where = prefix.rstrip("!")
    if not ctx.ocr:
        ctx.problem("image", "an image; its text is not examined without --ocr", where)
        return
    text = ocr_text(data, where, ctx)
    if text.strip():
        yield Segment(text, f"{prefix}ocr")


def ocr_text(data: bytes, where: str, ctx: Context) -> str:
    """The text Tesseract reads in the image `data`; a poor reading is also recorded as the image's problem."""
    recognised = recognise(data, where, time_left(ctx))
    if recognised.doubt:
        ctx.problem("image", f"its text was read poorly ({recognised.doubt}); a person should look at it", where)
    return recognised.text


def recognise(data: bytes, where: str, seconds: float) -> Recognised:
    """Tesseract's words (TSV: one row per word with its confidence), as lines, and how sure it was of them."""
    lines: dict[tuple[str, str, str], list[str]] = {}
    confidences: list[float] = []
    area = 0
    for row in ocr(data, where, seconds, "tsv").splitlines()[1:]:
        cells = row.split("\t")
        if len(cells) < 12:
            continue
        if cells[0] == "1":
            area = int(cells[8]) * int(cells[9])
        if cells[0] == "5" and cells[11].strip():
            lines.setdefault((cells[2], cells[3], cells[4]), []).append(cells[11])
            confidences.append(float(cells[10]))
    text = "\n".join(" ".join(words) for words in lines.values())
    return Recognised(text, _doubt(text, confidences, area))


def _doubt(text: str, confidences: list[float], area: int) -> str | None:
    cjk = len(_CJK.findall(text))
    if not confidences:
        return "no text recognised"
    mean = sum(confidences) / len(confidences)
    if mean < _MEAN_CONFIDENCE:
        return f"mean confidence {mean:.0f} %"
    unsure = sum(1 for c in confidences if c < _WORD_CONFIDENCE)
    if unsure:
        return f"{unsure} of {len(confidences)} words read with a confidence under {_WORD_CONFIDENCE:.0f} %"
    if cjk < 2 or cjk < _CJK_PER_MEGAPIXEL * area / 1e6:
        return f"{cjk} Chinese characters for {area / 1e6:.1f} megapixels"
    return None


def ocr(data: bytes, where: str, seconds: float, output: str = "txt") -> str:
    """What Tesseract reads in the image `data`: its text, or with output "tsv" each word with its confidence."""
    if shutil.which("tesseract") is None:
        raise Unscannable("unsupported", "OCR needs tesseract-ocr and tesseract-ocr-chi-sim", where)
    env = {**os.environ, "OMP_THREAD_LIMIT": "1"}  # one core per file: files are scanned in parallel instead
    try:
        done = subprocess.run(
            ["tesseract", "-", "-", "-l", OCR_LANGUAGES, *([output] if output != "txt" else [])],
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
