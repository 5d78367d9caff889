"""Registered secrets: fingerprints of classified documents and keyed hashes of the rows of registered tables, kept
in a store that reveals nothing without the installation's key, and the index a scan looks them up in.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from scanner.policy import Config
from scanner.registry.settings import registry_settings

if TYPE_CHECKING:
    from scanner.registry.index import Registry


def load_registry(config: Config) -> Registry | None:
    """The registry the configuration names, or None when nothing was ever registered there."""
    settings = registry_settings(config)
    if not settings.exists():
        return None
    from scanner.registry.index import open_registry  # numpy and the index only where something is registered

    return open_registry(settings)
