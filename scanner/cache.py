"""Compiled things kept on disk between runs (the automaton, the folding table), keyed by what they were made from.

Written atomically; a cache that cannot be read or written only costs start-up time.
"""

from __future__ import annotations

import os
import pickle
import tempfile
from pathlib import Path
from typing import Any


def cache_dir() -> Path:
    """$BAOMI_CACHE, else baomi/ in the user's cache folder."""
    if os.environ.get("BAOMI_CACHE"):
        return Path(os.environ["BAOMI_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "baomi"


def load(name: str) -> Any | None:
    """What `save(name, …)` stored, or None when there is nothing usable."""
    try:
        with open(cache_dir() / name, "rb") as fh:
            return pickle.load(fh)
    except (OSError, EOFError, ValueError, TypeError, AttributeError, pickle.UnpicklingError):
        return None


def save(name: str, value: Any) -> None:
    """Written to a temporary name and renamed, so a concurrent reader sees the old value or the new, never half."""
    folder = cache_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-")
        with os.fdopen(fd, "wb") as fh:
            pickle.dump(value, fh, protocol=5)
        os.replace(tmp, folder / name)
    except OSError:
        pass
