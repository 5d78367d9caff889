"""Where the registry lives and the secret that keys it: the [registry] table of the configuration, with defaults.

The key is a file of its own, never in the store: exports, database backups and the database server hold keyed
hashes only, which nobody can test a guess against without the key.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from scanner.config import RegistryTable
from scanner.database import is_url
from scanner.extract.base import Problem
from scanner.i18n import Message, msg
from scanner.policy import Config, ConfigError
from scanner.titles import os_error

KEY_BYTES = 32


class RegistryError(ConfigError):
    """A registry that cannot be used as configured (no key, another key, a store that will not open)."""


@dataclass(frozen=True)
class RegistrySettings:
    store: str  # a SQLite file or a postgresql:// URL
    key: Path
    min_chars: int = 80  # folded characters of a registered document that make a finding
    table_window: int = 120  # folded characters within which the values of one row must stand

    def exists(self) -> bool:
        """Whether there is a store to read (a scan never creates one)."""
        return is_url(self.store) or Path(self.store).is_file()


def registry_settings(config: Config) -> RegistrySettings:
    """[registry] store (default: registry.db next to the policy file, else $BAOMI_REGISTRY, else the user's data
    folder), key (default: $BAOMI_REGISTRY_KEY, else registry.key beside a SQLite store), min_chars, table_window."""
    table = config.table(RegistryTable)
    data = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share") / "baomi"
    beside_policy = config.origin.base / "registry.db" if config.origin.file is not None else None
    store = table.store or beside_policy or os.environ.get("BAOMI_REGISTRY") or data / "registry.db"
    if isinstance(store, str) and not is_url(store) and not Path(store).is_absolute():
        store = config.origin.base / store
    if table.key is not None:
        key = table.key
    elif os.environ.get("BAOMI_REGISTRY_KEY"):
        key = Path(os.environ["BAOMI_REGISTRY_KEY"])
    else:
        key = data / "registry.key" if is_url(str(store)) else Path(store).with_name("registry.key")
    return RegistrySettings(str(store), key, table.min_chars, table.table_window)


def unread(name: str, problem: Problem) -> Message:
    """Why a file is not registered: it could not be read completely (a registry is only what was read)."""
    return msg("{name}: it could not be read completely: {why}", name=name, why=problem.detail)


def read_key(path: Path) -> bytes:
    """The secret in the key file (hexadecimal)."""
    try:
        secret = bytes.fromhex(path.read_text(encoding="ascii").strip())
    except FileNotFoundError:
        missing = msg(
            "The registry's key file {path} is missing: copy it from where the store was made.", path=str(path)
        )
        raise RegistryError(missing) from None
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        why = os_error(exc) if isinstance(exc, OSError) else msg("it does not hold a key in hexadecimal")
        raise RegistryError(
            msg("Cannot read the registry's key file {path}: {error}.", path=str(path), error=why)
        ) from None
    if len(secret) < 16:
        short = msg(
            "The registry's key file {path} holds {size} bytes, fewer than 16.", path=str(path), size=len(secret)
        )
        raise RegistryError(short)
    return secret


def read_or_create_key(path: Path) -> bytes:
    """The secret, made (random, readable by its owner only) the first time something is registered."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return read_key(path)  # another process made it first
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(secrets.token_hex(KEY_BYTES) + "\n")
    return read_key(path)
