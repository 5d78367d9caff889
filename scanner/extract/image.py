"""Images (png, jpeg, gif, tiff, bmp, webp): not examined by default, which is itself a finding; with OCR,
Tesseract reads Simplified Chinese and English from them."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass

from scanner.extract.base import Context, Unscannable, basename
from scanner.i18n import Message, msg
from scanner.model import Role, Segment

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
    doubt: Message | None  # why the reading is poor, or None


# Pictures as documents store them (raster images, Windows metafiles and their compressed forms, SVG, HD Photo).
PICTURE_SUFFIXES = (
    *(".png", ".jpg", ".jpeg", ".jpe", ".gif", ".tif", ".tiff", ".bmp", ".dib", ".webp", ".emf", ".wmf"),
    *(".emz", ".wmz", ".svg", ".wdp", ".jxr", ".pct", ".pict", ".svm"),
)


def read_image(data: bytes, prefix: str, ctx: Context) -> Iterator[Segment]:
    where = prefix.rstrip("!")
    if not ctx.ocr:
        ctx.problem("image", msg("An image: its text was not examined."), where)
        return
    text = ocr_text(data, where, ctx)
    if text.strip():
        yield Segment(text, f"{prefix}ocr")


def ocr_text(data: bytes, where: str, ctx: Context) -> str:
    """The text Tesseract reads in the image `data`. OCR never passes an image: read poorly, it keeps its `image`
    problem; read well, it gets an `ocr` one, since OCR cannot see a seal, handwriting or a mark drawn as a picture.
    Its text can only add findings (a mark read in a scan blocks)."""
    recognised = recognise(data, where, ctx.remaining())
    if recognised.doubt:
        poorly = msg("Its text was read poorly ({doubt}): a person should look at it.", doubt=recognised.doubt)
        ctx.problem("image", poorly, where)
    else:
        ctx.problem("ocr", msg("Its text was read by OCR, which cannot see seals, handwriting or drawn marks."), where)
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


def _doubt(text: str, confidences: list[float], area: int) -> Message | None:
    cjk = len(_CJK.findall(text))
    if not confidences:
        return msg("no text was recognised")
    mean = sum(confidences) / len(confidences)
    if mean < _MEAN_CONFIDENCE:
        return msg("the mean confidence is {mean} %", mean=f"{mean:.0f}")
    unsure = sum(1 for c in confidences if c < _WORD_CONFIDENCE)
    if unsure:
        return msg(
            "{unsure} of {count} words were read with a confidence under {least} %",
            unsure=unsure,
            count=len(confidences),
            least=f"{_WORD_CONFIDENCE:.0f}",
        )
    if cjk < 2 or cjk < _CJK_PER_MEGAPIXEL * area / 1e6:
        return msg("{count} Chinese characters for {area} megapixels", count=cjk, area=f"{area / 1e6:.1f}")
    return None


def ocr(data: bytes, where: str, seconds: float, output: str = "txt") -> str:
    """What Tesseract reads in the image `data`: its text, or with output "tsv" each word with its confidence."""
    if shutil.which("tesseract") is None:
        raise Unscannable(
            "unsupported", msg("OCR needs the Debian packages tesseract-ocr and tesseract-ocr-chi-sim."), where
        )
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
        raise Unscannable("seconds", msg("OCR took more than {seconds} s.", seconds=f"{seconds:g}"), where) from None
    if done.returncode != 0:
        detail = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise Unscannable("corrupt", msg("Tesseract could not read the image."), where, detail[-1] if detail else "")
    return done.stdout.decode("utf-8", "replace")


def read_other_picture(data: bytes, prefix: str, ctx: Context) -> Iterator[Segment]:
    """A Windows metafile (drawing records) or a JPEG XR photo: Tesseract reads neither, so never examined."""
    other = msg("A picture in a format OCR cannot read (EMF, WMF, JPEG XR): it was not examined.")
    ctx.problem("image", other, prefix.rstrip("!"))
    yield from ()


def read_media(data: bytes, name: str, prefix: str, ctx: Context) -> Iterator[Segment]:
    """A file from a document's media folder: a picture is read like any image file (an `image` finding, or OCR);
    sound and video are named and not examined."""
    if name.lower().endswith(PICTURE_SUFFIXES):
        yield from ctx.descend(data, name, prefix)
        return
    yield Segment(basename(name), prefix + name, Role.FILENAME)
    media = msg("A media file ({name}) in the document: it was not examined.", name=basename(name))
    ctx.problem("image", media, prefix + name)
