"""A compound file written from streams: an object that Word or Excel 97 keeps as a storage inside its own file is
handed to the readers (and to xls2csv) as the file it was before it was embedded.

Version 3 of MS-CFB: 512-byte sectors, streams under 4096 bytes in the mini stream, up to 109 sectors of allocation
table (about 7 MB), which no embedded object here comes near; a larger one is refused.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable

_SECTOR, _MINI_SECTOR, _CUTOFF = 512, 64, 4096
_END, _FREE, _FAT_SECTOR, _NONE = 0xFFFFFFFE, 0xFFFFFFFF, 0xFFFFFFFD, 0xFFFFFFFF
_STORAGE, _STREAM, _ROOT = 1, 2, 5
_SIGNATURE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


class TooLarge(ValueError):
    """More than one header's worth of allocation table."""


def compound_file(streams: dict[tuple[str, ...], bytes], clsid: bytes = bytes(16)) -> bytes:
    """A compound file holding `streams`, each by its path of storage names ending in the stream's name."""
    sectors: list[bytes] = []
    fat: list[int] = []

    def store(data: bytes) -> int:
        """Put `data` in whole sectors, chained in the allocation table; its first sector."""
        if not data:
            return _END
        start = len(sectors)
        sectors.extend(data[i : i + _SECTOR].ljust(_SECTOR, b"\x00") for i in range(0, len(data), _SECTOR))
        fat.extend([*range(start + 1, len(sectors)), _END])
        return start

    mini = bytearray()
    mini_fat: list[int] = []
    starts: dict[tuple[str, ...], int] = {}
    for path, data in streams.items():
        if len(data) >= _CUTOFF:
            starts[path] = store(data)
        elif data:
            first = len(mini) // _MINI_SECTOR
            count = -(-len(data) // _MINI_SECTOR)
            mini += data.ljust(count * _MINI_SECTOR, b"\x00")
            mini_fat.extend([*range(first + 1, first + count), _END])
            starts[path] = first
        else:
            starts[path] = _END
    mini_start = store(bytes(mini))
    mini_fat_start = store(b"".join(struct.pack("<I", link) for link in mini_fat))
    directory = _directory(streams, starts, mini_start, len(mini), clsid)
    directory_start = store(directory)
    fat_sectors = 1
    while len(sectors) + fat_sectors > fat_sectors * (_SECTOR // 4):
        fat_sectors += 1
    if fat_sectors > 109:
        raise TooLarge(f"{fat_sectors} sectors of allocation table")
    fat_start = len(sectors)
    fat.extend([_FAT_SECTOR] * fat_sectors)
    table = b"".join(struct.pack("<I", link) for link in fat).ljust(fat_sectors * _SECTOR, b"\xff")
    difat = [fat_start + i for i in range(fat_sectors)] + [_FREE] * (109 - fat_sectors)
    mini_fat_sectors = -(-len(mini_fat) * 4 // _SECTOR)
    header = (
        _SIGNATURE
        + bytes(16)
        + struct.pack("<HHHHH", 0x3E, 3, 0xFFFE, 9, 6)
        + bytes(6)
        + struct.pack(
            "<IIIIIIIII", 0, fat_sectors, directory_start, 0, _CUTOFF, mini_fat_start, mini_fat_sectors, _END, 0
        )
        + b"".join(struct.pack("<I", sector) for sector in difat)
    )
    return header + b"".join(sectors) + table


def _directory(
    streams: dict[tuple[str, ...], bytes],
    starts: dict[tuple[str, ...], int],
    mini_start: int,
    mini_size: int,
    clsid: bytes,
) -> bytes:
    """The directory: the root, every storage on the streams' paths and every stream, each storage's children
    chained as right siblings (a tree readers walk; none needs it balanced)."""
    paths = sorted({path[:depth] for path in streams for depth in range(1, len(path) + 1)}, key=_order)
    numbers = {(): 0, **{path: number for number, path in enumerate(paths, 1)}}
    children: dict[tuple[str, ...], list[tuple[str, ...]]] = {}
    for path in paths:
        children.setdefault(path[:-1], []).append(path)

    def links(path: tuple[str, ...]) -> tuple[int, int]:
        """(right sibling, first child) of `path` by their directory numbers."""
        siblings = children.get(path[:-1], []) if path else []
        after = siblings.index(path) + 1 if path else 0
        right = numbers[siblings[after]] if path and after < len(siblings) else _NONE
        first = numbers[children[path][0]] if children.get(path) else _NONE
        return right, first

    entries = [_entry("Root Entry", _ROOT, *links(()), clsid, mini_start if mini_size else _END, mini_size)]
    for path in paths:
        right, first = links(path)
        if path in streams:
            entries.append(_entry(path[-1], _STREAM, right, first, bytes(16), starts[path], len(streams[path])))
        else:
            entries.append(_entry(path[-1], _STORAGE, right, first, bytes(16), _END, 0))
    return b"".join(entries)


def _order(path: Iterable[str]) -> list[tuple[int, str]]:
    """CFB's order of names: shorter first, then by upper case."""
    return [(len(name), name.upper()) for name in path]


def _entry(name: str, kind: int, right: int, child: int, clsid: bytes, start: int, size: int) -> bytes:
    raw = (name[:31] + "\x00").encode("utf-16-le")
    return (
        raw.ljust(64, b"\x00")
        + struct.pack("<HBB", len(raw), kind, 1)
        + struct.pack("<III", _NONE, right, child)
        + clsid
        + bytes(4 + 16)
        + struct.pack("<IQ", start, size)
    )
