"""Images (png, jpeg, gif, tiff, bmp, webp): not examined by default, which is itself a finding; with OCR,
Tesseract reads Simplified Chinese and English from them."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator

from scanner.extract.base import Context, Unscannable, basename
from scanner.model import Role, Segment

OCR_LANGUAGES = "chi_sim+eng"
# Pictures as documents store them (raster images, Windows metafiles and their compressed forms, SVG, HD Photo).
PICTURE_SUFFIXES = (
    *(".png", ".jpg", ".jpeg", ".jpe", ".gif", ".tif", ".tiff", ".bmp", ".dib", ".webp", ".emf", ".wmf"),
    *(".emz", ".wmz", ".svg", ".wdp", ".jxr", ".pct", ".pict", ".svm"),
)
_NOT_EXAMINED = {
    "image": "an image; its text is not examined without --ocr",
    "other": "a picture in a format OCR cannot read (EMF, WMF, JPEG XR); it is not examined",
    "media": "a media file ({name}) in the document; it is not examined",
}


def read_image(data: bytes, prefix: str, ctx: Context) -> Iterator[Segment]:
    where = prefix.rstrip("!")
    if not ctx.ocr:
        ctx.problem("image", _NOT_EXAMINED["image"], where)
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


def read_other_picture(data: bytes, prefix: str, ctx: Context) -> Iterator[Segment]:
    """A Windows metafile (drawing records) or a JPEG XR photo: Tesseract reads neither, so never examined."""
    ctx.problem("image", _NOT_EXAMINED["other"], prefix.rstrip("!"))
    yield from ()


def read_media(data: bytes, name: str, prefix: str, ctx: Context) -> Iterator[Segment]:
    """A file from a document's media folder: a picture is read like any image file (an `image` finding, or OCR);
    sound and video are named and not examined."""
    if name.lower().endswith(PICTURE_SUFFIXES):
        yield from ctx.descend(data, name, prefix)
        return
    yield Segment(basename(name), prefix + name, Role.FILENAME)
    ctx.problem("image", _NOT_EXAMINED["media"].format(name=basename(name)), prefix + name)
