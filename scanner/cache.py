"""Compiled things kept on disk between runs (the automaton, the folding table), keyed by what they were made from.

Written atomically; a cache that cannot be read or written only costs start-up time.
"""

from __future__ import annotations

import os
import pickle
import sys
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


def installed_version(distribution: str) -> str | None:
    """The version of an installed distribution (None: not installed), which the caches' names carry. Read from its
    `NAME-VERSION.dist-info` folder on the path as pip lays it out, the first found as importlib.metadata would find
    it: importing importlib.metadata costs 30 ms of every start. importlib.metadata where there is no such folder."""
    prefix = distribution.replace("-", "_").lower() + "-"
    for entry in sys.path:
        try:
            names = os.listdir(entry or ".")
        except OSError:  # a zip file, a folder gone
            continue
        for name in names:
            if name.endswith(".dist-info") and name.lower().startswith(prefix):
                return name[len(prefix) : -len(".dist-info")]
    import importlib.metadata

    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None
