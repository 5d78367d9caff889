"""What every sub-command shares: the common options (--config, --dict), the error that ends a command with a message
and status 2, the types of numeric options, the log format, and the configuration and Scanner those options make.
The command line and the doors import this module; it imports neither.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

from scanner import times
from scanner.audit import AuditLog
from scanner.config import refusal
from scanner.engine import Scanner
from scanner.i18n import _, msg, pgettext
from scanner.policy import Config, load_config
from scanner.reloading import Rules, recorder
from scanner.report import printable

T = TypeVar("T")


class UsageError(Exception):
    """A command line that cannot be carried out; the command prints the message (a Message, said in the reader's
    language) and exits with status 2."""


def common_options() -> argparse.ArgumentParser:
    """The options every sub-command takes, as a parent parser."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", type=Path, metavar=_("FILE"), help=_("a TOML file laid over the default policy"))
    common.add_argument(
        "--dict", type=Path, action="append", default=[], metavar=_("FILE"), help=_("a file of more dictionary terms")
    )
    return common


def count(text: str) -> int:
    """An option's whole number, 1 or more (--jobs, --workers, --limit)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(_("“%s” is not a whole number") % text) from None
    if value < 1:
        raise argparse.ArgumentTypeError(_("expected 1 or more, not %s") % text)
    return value


def whole_number(text: str) -> int:
    """An option's whole number of any size (a port, a number of bytes), checked where it is used."""
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(_("“%s” is not a whole number") % text) from None


def seconds(text: str) -> float:
    """An option's number of seconds (--settle, --timeout)."""
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(_("“%s” is not a number of seconds") % text) from None


def config_of(args: argparse.Namespace) -> Config:
    """The configuration from --config, with --dict's dictionaries and --ocr; a ConfigError ends the command."""
    config = load_config(args.config).with_dictionaries(getattr(args, "dict", []))
    if getattr(args, "ocr", False):
        config.ocr = True
    return config


def build_scanner(args: argparse.Namespace) -> Scanner:
    """A Scanner from --config, --dict and --ocr."""
    return Scanner(config_of(args))


def reloadable(args: argparse.Namespace, scanner: Scanner, audit: AuditLog | None, channel: str) -> Rules:
    """A long-running door's rules: `scanner` (built from these options) to begin with, built again from the same
    options on a reload; each change and each failed reload is recorded in `audit` under `channel`."""
    return Rules(scanner, lambda: config_of(args), [args.config] if args.config else [], recorder(audit, channel))


def overridden(table: T, **options: Any) -> T:
    """A door's table with the command-line options that were given laid over it; a value the table refuses is a
    usage error naming the option."""
    given = {key: value for key, value in options.items() if value is not None}
    try:
        return replace(table, **given)  # type: ignore[type-var]
    except ValueError as exc:
        key, why = refusal(exc)
        raise UsageError(msg("{option}: {why}", option=f"--{key.replace('_', '-')}", why=why)) from None


class OneLineFormatter(logging.Formatter):
    """Each log message on one line: what it quotes (a file name, an address, a URL) is escaped by `printable`, so a
    name with a newline or an escape sequence in it cannot forge or hide a line of the log. Times are local with the
    zone named (scanner.times), levels are said in the current language (%(level)s)."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = printable(record.message)
        record.level = level_name(record.levelno)
        return super().formatMessage(record)

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return times.shown(times.moment(record.created))


def level_name(level: int) -> str:
    """A log level as a reader says it: information, warning, error."""
    if level >= logging.ERROR:
        return pgettext("log level", "ERROR")
    if level >= logging.WARNING:
        return pgettext("log level", "WARNING")
    return pgettext("log level", "INFO")


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
