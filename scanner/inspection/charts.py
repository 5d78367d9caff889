"""Horizontal bar charts for the inspection report, laid out once and drawn twice: as SVG for the HTML report and
as a PNG (Pillow) for the Word report, so both show the same bars with the same labels."""

from __future__ import annotations

import functools
import html
import io
import shutil
import subprocess
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

WIDTH = 640  # the chart's width in CSS pixels; the PNG is drawn at SCALE times that
SCALE = 2
TITLE_HEIGHT = 34
ROW = 26
BAR = 16
LABEL_END = 176  # labels are right-aligned here
BAR_START = 184
VALUE_ROOM = 56
FONT_SIZE = 13
FONT_FAMILY = "'Noto Sans CJK SC', 'Source Han Sans SC', 'Microsoft YaHei', 'PingFang SC', sans-serif"
# Fonts with Chinese glyphs for the PNG, where fontconfig cannot say (fonts-noto-cjk, fonts-wqy-*).
CJK_FONTS = (
    ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", 2),
    ("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc", 0),
    ("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc", 0),
)


@dataclass(frozen=True)
class Bar:
    label: str
    value: int
    colour: str = "#4a6fa5"


@dataclass(frozen=True)
class Chart:
    title: str
    bars: tuple[Bar, ...]
    empty: str  # said instead of bars when there are none
    keep_end: bool = False  # a label too long keeps its end (a folder's path) rather than its start


@dataclass(frozen=True)
class _Row:
    label: str
    value: str
    top: int  # of the bar, from the chart's top
    length: float
    colour: str


def height(chart: Chart) -> int:
    return TITLE_HEIGHT + ROW * max(len(chart.bars), 1) + 10


def _rows(chart: Chart) -> list[_Row]:
    most = max((bar.value for bar in chart.bars), default=0) or 1
    room = WIDTH - BAR_START - VALUE_ROOM
    return [
        _Row(
            _fit(bar.label, LABEL_END - 8, chart.keep_end),
            str(bar.value),
            TITLE_HEIGHT + ROW * index + (ROW - BAR) // 2,
            max(room * bar.value / most, 1.0 if bar.value else 0.0),
            bar.colour,
        )
        for index, bar in enumerate(chart.bars)
    ]


def svg(chart: Chart) -> str:
    """The chart as an inline SVG element, with its title for screen readers."""
    esc = html.escape
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" viewBox="0 0 {WIDTH} {height(chart)}" '
        f'width="{WIDTH}" height="{height(chart)}" font-family="{esc(FONT_FAMILY)}" font-size="{FONT_SIZE}">',
        f"<title>{esc(chart.title)}</title>",
        f'<text x="0" y="{TITLE_HEIGHT - 14}" font-size="{FONT_SIZE + 2}" font-weight="bold">{esc(chart.title)}</text>',
    ]
    if not chart.bars:
        parts.append(f'<text x="{BAR_START}" y="{TITLE_HEIGHT + 17}" fill="#666">{esc(chart.empty)}</text>')
    for row in _rows(chart):
        middle = row.top + BAR // 2 + 4
        parts += [
            f'<text x="{LABEL_END}" y="{middle}" text-anchor="end">{esc(row.label)}</text>',
            f'<rect x="{BAR_START}" y="{row.top}" width="{row.length:.1f}" height="{BAR}" fill="{row.colour}"/>',
            f'<text x="{BAR_START + row.length + 6:.1f}" y="{middle}">{esc(row.value)}</text>',
        ]
    parts.append("</svg>")
    return "".join(parts)


def png(chart: Chart) -> bytes:
    """The chart as a PNG at SCALE times its CSS size, for documents that take no SVG (Word)."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (WIDTH * SCALE, height(chart) * SCALE), "white")
    draw = ImageDraw.Draw(image)
    font, title_font = _font(FONT_SIZE * SCALE), _font((FONT_SIZE + 2) * SCALE)
    draw.text((0, (TITLE_HEIGHT - 14) * SCALE), chart.title, font=title_font, fill="black", anchor="ls")
    if not chart.bars:
        draw.text((BAR_START * SCALE, (TITLE_HEIGHT + 17) * SCALE), chart.empty, font=font, fill="#666", anchor="ls")
    for row in _rows(chart):
        middle = (row.top + BAR // 2) * SCALE
        draw.text((LABEL_END * SCALE, middle), row.label, font=font, fill="black", anchor="rm")
        if row.length:
            box = (BAR_START * SCALE, row.top * SCALE, (BAR_START + row.length) * SCALE, (row.top + BAR) * SCALE)
            draw.rectangle(box, fill=row.colour)
        draw.text(((BAR_START + row.length + 6) * SCALE, middle), row.value, font=font, fill="black", anchor="lm")
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()


def _fit(label: str, room: float, keep_end: bool) -> str:
    """`label`, shortened with an ellipsis to about `room` pixels (a Chinese character is a full em wide)."""
    if _width(label) <= room:
        return label
    kept = label
    while kept and _width(kept) + FONT_SIZE > room:
        kept = kept[1:] if keep_end else kept[:-1]
    return f"…{kept}" if keep_end else f"{kept}…"


def _width(text: str) -> float:
    return sum(FONT_SIZE if unicodedata.east_asian_width(c) in "WF" else FONT_SIZE * 0.6 for c in text)


@functools.cache
def _font_file() -> tuple[str, int] | None:
    """A font with Chinese glyphs: fontconfig's choice for Simplified Chinese, else one of the usual Debian ones."""
    fc_match = shutil.which("fc-match")
    if fc_match:
        answer = subprocess.run(
            [fc_match, "-f", "%{file}\t%{index}\t%{lang}", "sans-serif:lang=zh-cn"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.split("\t")
        if len(answer) == 3 and "zh-cn" in answer[2].split("|"):  # fontconfig falls back to fonts without Chinese
            return answer[0], int(answer[1] or 0)
    return next(((path, index) for path, index in CJK_FONTS if Path(path).exists()), None)


def _font(size: int) -> Any:
    from PIL import ImageFont

    found = _font_file()
    if found is None:
        return ImageFont.load_default(size)  # no Chinese glyphs: install fonts-noto-cjk
    return ImageFont.truetype(found[0], size, index=found[1])
