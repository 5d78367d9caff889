"""Helpers for the reader tests: run one reader with the dispatcher's own Context, and pick segments by text."""

from __future__ import annotations

from scanner.extract import Reading
from scanner.extract.base import Limits, Reader
from scanner.model import Segment


def context(limits: Limits | None = None, ocr: bool = False) -> Reading:
    """The Context the dispatcher gives a reader: embedded files are read by content, problems are collected."""
    return Reading(limits or Limits(), ocr, "test")


def segments_of(reader: Reader, data: bytes, ctx: Reading | None = None) -> list[Segment]:
    return list(reader(data, "", ctx or context()))


def find(segments: list[Segment], text: str) -> list[Segment]:
    """The segments that contain `text`."""
    return [segment for segment in segments if text in segment.text]
