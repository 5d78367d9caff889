"""What every sub-command shares: the common options (--config, --dict), the error that ends a command with a message
and status 2, and the configuration and Scanner those options make. The command line and the doors import this
module; it imports neither.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from importlib import metadata
from pathlib import Path
from typing import Any, TypeVar

from scanner.engine import Scanner
from scanner.policy import Config, load_config
from scanner.report import printable

T = TypeVar("T")


class UsageError(Exception):
    """A command line that cannot be carried out; the command prints the message and exits with status 2."""


def version() -> str:
    """baomi's version, as installed."""
    try:
        return metadata.version("baomi")
    except metadata.PackageNotFoundError:
        return "0"


def common_options() -> argparse.ArgumentParser:
    """The options every sub-command takes, as a parent parser."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", type=Path, help="a TOML file laid over the default policy")
    common.add_argument("--dict", type=Path, action="append", default=[], metavar="FILE", help="more dictionary terms")
    return common


def config_of(args: argparse.Namespace) -> Config:
    """The configuration from --config, with --dict's dictionaries and --ocr; a ConfigError ends the command."""
    config = load_config(args.config).with_dictionaries(getattr(args, "dict", []))
    if getattr(args, "ocr", False):
        config.ocr = True
    return config


def build_scanner(args: argparse.Namespace) -> Scanner:
    """A Scanner from --config, --dict and --ocr."""
    return Scanner(config_of(args))


def overridden(table: T, **options: Any) -> T:
    """A door's table with the command-line options that were given laid over it; a value the table refuses is a
    usage error naming the option."""
    given = {key: value for key, value in options.items() if value is not None}
    try:
        return replace(table, **given)  # type: ignore[type-var]
    except ValueError as exc:
        key, _, why = str(exc).partition(":")
        raise UsageError(f"--{key.replace('_', '-')}:{why}") from None


class OneLineFormatter(logging.Formatter):
    """Each log message on one line: what it quotes (a file name, an address, a URL) is escaped by `printable`, so a
    name with a newline or an escape sequence in it cannot forge or hide a line of the log."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = printable(record.message)
        return super().formatMessage(record)


@contextmanager
def logging_to(fmt: str, level: int, path: Path | None = None, logger: str = "") -> Iterator[logging.Handler]:
    """While the block runs, the log lines of `logger` (the root: every module) at `level` and above go to `path`
    (reopened after logrotate moves it) or to standard error, each on one line."""
    handler: logging.Handler
    if path is not None:
        from logging.handlers import WatchedFileHandler

        handler = WatchedFileHandler(path, encoding="utf-8")
    else:
        handler = logging.StreamHandler()
    handler.setFormatter(OneLineFormatter(fmt))
    target = logging.getLogger(logger)
    saved = target.level
    target.addHandler(handler)
    target.setLevel(level)
    try:
        yield handler
    finally:
        target.removeHandler(handler)
        target.setLevel(saved)
        handler.close()
