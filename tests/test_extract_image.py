"""Images: without OCR an image is a problem named "image" (the policy flags it); with OCR Tesseract reads it."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFont

from scanner.extract import extract
from tests.conftest import require
from tests.extract_fixtures import MARK, zip_of

FONT = "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"


def _picture(text: str, fmt: str = "PNG") -> bytes:
    image = Image.new("RGB", (640, 120), "white")
    require(Path(FONT).is_file(), f"fonts-noto-cjk ({FONT})")
    font = ImageFont.truetype(FONT, 48)
    ImageDraw.Draw(image).text((20, 30), text, fill="black", font=font)
    buffer = io.BytesIO()
    image.save(buffer, fmt)
    return buffer.getvalue()


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "GIF", "TIFF", "BMP"])
def test_an_image_is_not_examined_without_ocr(fmt: str) -> None:
    extraction = extract(_picture(MARK, fmt), f"scan.{fmt.lower()}")
    assert extraction.format == fmt.lower()
    assert [(p.reason, p.part) for p in extraction.problems] == [("image", "")]


def test_an_image_inside_an_archive_is_named_in_its_problem() -> None:
    extraction = extract(zip_of({"扫描件/第1页.png": _picture(MARK)}), "资料.zip")
    assert [(p.reason, p.part) for p in extraction.problems] == [("image", "扫描件/第1页.png")]


def test_with_ocr_tesseract_reads_chinese_from_the_image() -> None:
    require(shutil.which("tesseract") is not None, "tesseract-ocr with chi_sim")
    extraction = extract(_picture("机密 关于预算的通知"), "scan.png", ocr=True)
    assert [p.reason for p in extraction.problems] == ["ocr"]  # read well, and still a person's to confirm
    assert "机密" in "".join(s.text for s in extraction.segments if s.part == "ocr").replace(" ", "")
