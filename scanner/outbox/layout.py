"""An outbox and the three folders its files leave for: where each verdict sends a file, the names files and their
verdict records get there, and the names of files still being written.
"""

from __future__ import annotations

import contextlib
import errno
import fnmatch
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Any

from scanner.audit import Action
from scanner.config import OutboxTable
from scanner.i18n import N_, msg
from scanner.model import Verdict

SIDECAR_SUFFIX = ".verdict.json"
# Where each verdict sends a file (the route, also the folder's role), and what the audit log calls that.
ROUTES: dict[Verdict, str] = {Verdict.PASS: "released", Verdict.FLAG: "review", Verdict.BLOCK: "quarantine"}
ACTIONS: dict[str, Action] = {"released": Action.RELEASED, "review": Action.HELD, "quarantine": Action.QUARANTINED}
PRIVATE_MODE = 0o700  # quarantine folders: only the service account (and root) may look inside
# Names editors, browsers and copy tools write under before renaming to the final name (or that are lock files).
TEMPORARY = (
    "~$*",  # Office owner files
    "~*.tmp",
    "*.tmp",
    "*.temp",
    "*.part",
    "*.partial",
    "*.crdownload",  # Chrome
    "*.download",  # Safari
    "*.filepart",  # WinSCP
    "*.!ut",
    ".*.sw?",  # vim swap files
    "*.swp",
    "4913",  # vim's probe file
    ".~lock.*#",  # LibreOffice locks
    ".#*",  # Emacs locks
    "#*#",  # Emacs auto-saves
    ".goutputstream-*",  # GLib atomic saves
    ".fuse_hidden*",
    ".nfs*",
    ".syncthing.*",
    "*.baomi-part",  # our own copies in flight
)


class OutboxError(ValueError):
    """An outbox described in a way that could lose or loop files (a destination inside the outbox, ...)."""


# An outbox's folders, as a message names them.
FOLDERS = {"outbox": N_("outbox"), "released": N_("released"), "review": N_("review"), "quarantine": N_("quarantine")}


@dataclass(frozen=True)
class Outbox:
    """A folder people drop files into, and the three folders its files leave for."""

    path: Path
    released: Path
    review: Path
    quarantine: Path
    channel: str = "watch"

    @classmethod
    def of(cls, table: OutboxTable) -> Outbox:
        """The outbox a [[watch.outbox]] table describes."""
        return cls(table.path, table.released, table.review, table.quarantine, table.channel)

    def folder(self, route: str) -> Path:
        return {"released": self.released, "review": self.review, "quarantine": self.quarantine}[route]

    def check(self) -> None:
        """Refuse layouts where a delivered file would land back in an outbox or two routes would share a folder."""
        places = {"outbox": self.path, "released": self.released, "review": self.review, "quarantine": self.quarantine}
        resolved = {name: p.resolve() for name, p in places.items()}
        for a, pa in resolved.items():
            for b, pb in resolved.items():
                if a < b and (pa == pb or pa in pb.parents or pb in pa.parents):
                    apart = msg(
                        "{outbox}: the {first} and {second} folders must be separate ({first_path}, {second_path}).",
                        outbox=str(self.path),
                        first=msg(FOLDERS[a]),
                        second=msg(FOLDERS[b]),
                        first_path=str(pa),
                        second_path=str(pb),
                    )
                    raise OutboxError(apart)


def is_temporary(name: str, patterns: Iterable[str] = TEMPORARY) -> bool:
    lowered = name.lower()
    return any(fnmatch.fnmatchcase(lowered, p.lower()) for p in patterns)


def display_name(name: str | os.PathLike[str]) -> str:
    """Text for logs, reports and the audit log. Names that are not UTF-8 (GBK from old Windows shares) are decoded
    as GB 18030, so their words are scanned too; what still does not decode becomes U+FFFD, never a lone surrogate."""
    text = os.fspath(name)
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        raw = os.fsencode(text)
    for encoding in ("gb18030", "big5"):
        with contextlib.suppress(UnicodeDecodeError):
            return raw.decode(encoding)
    return raw.decode("utf-8", "replace")


def sidecar_of(held: Path) -> Path:
    return held.with_name(held.name + SIDECAR_SUFFIX)


def is_sidecar(path: Path) -> bool:
    """A verdict record sits beside the file it describes (or outlived it, when a release was cut short); a user's
    own `x.verdict.json` has no `x` beside it and is not one of our records."""
    if not path.name.endswith(SIDECAR_SUFFIX):
        return False
    return os.path.lexists(path.with_name(path.name[: -len(SIDECAR_SUFFIX)])) or read_record(path) is not None


def read_record(sidecar: Path) -> dict[str, Any] | None:
    """The verdict record at `sidecar`, or None if there is none (or it is not one of ours)."""
    try:
        record = json.loads(sidecar.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and "move" in record and "verdict" in record else None


def free_name(folder: Path, rel: PurePath, held: bool) -> Path:
    """`folder/rel`, or `name (2).ext`, `name (3).ext`, ... when that name (or its verdict record) is taken."""
    first = folder / rel
    for number in range(1, 1_000_000):
        candidate = first.with_name(numbered(first.name, number))
        if os.path.lexists(candidate) or is_sidecar(candidate):
            continue
        if held and os.path.lexists(sidecar_of(candidate)):
            continue
        return candidate
    raise FileExistsError(errno.EEXIST, "no free name left", str(first))


def numbered(name: str, number: int) -> str:
    """The `number`th name to try for a file called `name`: `name` itself, then `name (2).ext`, `name (3).ext`, ..."""
    if number == 1:
        return name
    stem, suffix = _split_suffix(name)
    return f"{stem} ({number}){suffix}"


def _split_suffix(name: str) -> tuple[str, str]:
    if name.startswith(".") and name.count(".") == 1:
        return name, ""
    for double in (".tar.gz", ".tar.bz2", ".tar.xz", ".tar.zst"):
        if name.lower().endswith(double) and len(name) > len(double):
            return name[: -len(double)], name[-len(double) :]
    stem, dot, ext = name.rpartition(".")
    return (stem, dot + ext) if stem else (name, "")


def make_folder(folder: Path, private: bool) -> None:
    """Create `folder` and its parents; a private folder (quarantine) and the folders made below it get mode 0700."""
    if folder.is_dir():
        return
    missing = [p for p in (folder, *folder.parents) if not p.exists()]
    for part in reversed(missing):
        with contextlib.suppress(FileExistsError):
            part.mkdir(mode=PRIVATE_MODE if private else 0o777)
    if private and missing:
        for part in missing:
            os.chmod(part, PRIVATE_MODE)
