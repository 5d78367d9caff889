"""Reading a configuration file's tables into typed records, and the tables of the doors: [audit], [index], [watch],
[mail], [web], [icap], [clamd]. A table is a frozen dataclass whose fields' types say what the file may hold.

`read_table` refuses unknown keys and values of the wrong type with a ConfigError naming the file, the table and the
key. A new door adds its table here, in one place: a dataclass registered with @door_table.
"""

from __future__ import annotations

import difflib
import enum
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from dataclasses import MISSING, dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

from scanner import i18n
from scanner.database import is_url
from scanner.i18n import N_, Message, msg

T = TypeVar("T")


class ConfigError(ValueError):
    """A configuration file that cannot be used as it is; the message (a Message, shown in the reader's language)
    says what and where."""


class Invalid(ValueError):
    """A value a table's own check refuses (raised in __post_init__): the key, and why, for a person. A plain
    ValueError("key: why") is taken too, and shown as it is."""

    def __init__(self, key: str, why: Message) -> None:
        super().__init__(f"{key}: {i18n.render(why, 'en')}" if key else i18n.render(why, "en"))
        self.key, self.why = key, why


def refusal(exc: ValueError) -> tuple[str, Message | str]:
    """(key, why) of a table's refusal: an Invalid, or a plain ValueError("key: why") (said in English)."""
    if isinstance(exc, Invalid):
        return exc.key, exc.why
    key, colon, why = str(exc).partition(":")
    return (key.strip(), why.strip()) if colon else ("", str(exc))


@dataclass(frozen=True)
class Origin:
    """The file a table came from: errors name it, and relative paths in it are relative to its folder."""

    file: Path | None = None  # None: baomi's defaults alone

    @property
    def base(self) -> Path:
        return self.file.parent if self.file is not None else Path.cwd()

    def __str__(self) -> str:
        return i18n.render(self.named)

    @property
    def named(self) -> Message | str:
        return str(self.file) if self.file is not None else msg("the default configuration")


def read_table(schema: type[T], raw: object, table: str, origin: Origin) -> T:
    """The table `raw` (parsed TOML) as a `schema` record; `table` is its name ("" for the file's top level). Its keys
    must be the record's fields, its values of their types; a check in the record's __post_init__ (a ValueError
    "key: why") becomes a ConfigError too."""
    if not isinstance(raw, Mapping):
        problem = msg("[{table}] must be a table, not {value}.", table=table, value=_shown(raw))
        raise ConfigError(msg("{origin}: {problem}", origin=origin.named, problem=problem))
    known = [f.name for f in fields(schema)]  # type: ignore[arg-type]
    for key in raw:
        if key not in known:
            what = (
                msg("[{table}] has an unknown key “{key}”.", table=table, key=key)
                if table
                else msg("There is no table [{table}].", table=key)
            )
            raise ConfigError(
                msg("{origin}: {problem} {hint}", origin=origin.named, problem=what, hint=did_you_mean(key, known))
            )
    hints = typing.get_type_hints(schema)
    values: dict[str, Any] = {}
    for item in fields(schema):  # type: ignore[arg-type]
        if item.name in raw:
            values[item.name] = _value(hints[item.name], raw[item.name], table, item.name, origin)
        elif item.default is MISSING and item.default_factory is MISSING:
            needs = msg("[{table}] needs {key}.", table=table, key=item.name)
            raise ConfigError(msg("{origin}: {problem}", origin=origin.named, problem=needs))
    try:
        return schema(**values)
    except ValueError as exc:
        key, why = refusal(exc)
        where = _where(table, key) if key else f"[{table}]" if table else ""
        refused = msg("{where}: {why}", where=where, why=why) if where else why
        raise ConfigError(msg("{origin}: {problem}", origin=origin.named, problem=refused)) from None


def check_tables(raw: Mapping[str, object], known: Iterable[str], origin: Origin) -> None:
    """A ConfigError for the first top-level table that is none of `known` (a typo such as [actoins])."""
    names = list(known)
    for key in raw:
        if key not in names:
            what = msg("There is no table [{table}].", table=key)
            raise ConfigError(
                msg("{origin}: {problem} {hint}", origin=origin.named, problem=what, hint=did_you_mean(key, names))
            )


def did_you_mean(key: str, known: list[str]) -> Message:
    """The end of a message about an unknown name: the closest known one, and all of them."""
    close = difflib.get_close_matches(key, known, n=1)
    names = ", ".join(sorted(known))
    if close:
        return msg("Did you mean “{close}”? Known: {known}.", close=close[0], known=names)
    return msg("Known: {known}.", known=names)


def _value(kind: Any, value: object, table: str, key: str, origin: Origin) -> Any:
    """`value` checked (and converted) as a `kind`: bool, int, float, str, Path, a Literal, X | None, tuple[X, ...],
    dict[str, X], a table record, or a class with a `parse(str)` (Verdict)."""
    origin_type = typing.get_origin(kind)
    args = typing.get_args(kind)
    inner = f"{table}.{key}" if table else key  # the name of a table nested at this key
    if origin_type in (typing.Union, types.UnionType):
        return _value(next(a for a in args if a is not type(None)), value, table, key, origin)
    if origin_type is Literal:
        if value in args:
            return value
    elif origin_type is tuple:
        if isinstance(value, Mapping) and is_dataclass(args[0]):
            value = [value]  # [watch.outbox] written as one table instead of [[watch.outbox]]
        if isinstance(value, list):
            if is_dataclass(args[0]):
                row: Any = args[0]
                return tuple(read_table(row, item, f"{inner} #{n}", origin) for n, item in enumerate(value, 1))
            return tuple(_value(args[0], item, table, f"{key} #{n}", origin) for n, item in enumerate(value, 1))
    elif origin_type is dict:
        if isinstance(value, Mapping):
            return {str(k): _value(args[1], v, inner, str(k), origin) for k, v in value.items()}
    elif is_dataclass(kind):
        return read_table(kind, value, inner, origin)  # type: ignore[arg-type]
    elif kind is bool:
        if isinstance(value, bool):
            return value
    elif kind is int or kind is float:
        if isinstance(value, int | float) and not isinstance(value, bool) and (kind is float or isinstance(value, int)):
            return kind(value)
    elif kind is str or kind is Path:
        if isinstance(value, str):
            return origin.base / Path(value).expanduser() if kind is Path else value
    elif callable(getattr(kind, "parse", None)) and isinstance(value, str):
        try:
            return kind.parse(value)
        except ValueError as exc:
            problem = msg(
                "{where}: {why}",
                where=_where(table, key),
                why=refusal(exc)[1] if isinstance(exc, Invalid) else exc.args[0],
            )
            raise ConfigError(msg("{origin}: {problem}", origin=origin.named, problem=problem)) from None
    expected = msg(
        "{where}: expected {kind}, not {value}.", where=_where(table, key), kind=_describe(kind), value=_shown(value)
    )
    raise ConfigError(msg("{origin}: {problem}", origin=origin.named, problem=expected))


def _where(table: str, key: str) -> str:
    return f"[{table}] {key}" if table else f"[{key}]"


# What a value of each simple type is called in a message.
_KINDS = {
    bool: N_("true or false"),
    int: N_("a whole number"),
    float: N_("a number"),
    str: N_("a string"),
    Path: N_("a path"),
}
# `at_least`'s message, by the unit of the value.
_AT_LEAST = {
    "": N_("expected {lowest} or more, not {value}."),
    " seconds": N_("expected {lowest} seconds or more, not {value}."),
    " bytes": N_("expected {lowest} bytes or more, not {value}."),
}


def _describe(kind: Any) -> Message | str:
    origin_type, args = typing.get_origin(kind), typing.get_args(kind)
    if origin_type in (typing.Union, types.UnionType):
        return _describe(next(a for a in args if a is not type(None)))
    if origin_type is Literal:
        return _either([repr(a) for a in args])
    if origin_type is tuple:
        return msg("a list (each {kind})", kind=_describe(args[0]))
    if origin_type is dict or is_dataclass(kind):
        return msg("a table")
    if isinstance(kind, type) and issubclass(kind, enum.Enum):
        return _either([repr(member.name.lower()) for member in kind])
    if kind in _KINDS:
        return msg(_KINDS[kind])
    return getattr(kind, "__name__", str(kind))


def _either(words: list[str]) -> Message:
    return msg("{words} or {last}", words=", ".join(words[:-1]), last=words[-1])


def _shown(value: object) -> Message | str:
    if isinstance(value, Mapping):
        return msg("a table")
    if isinstance(value, list):
        return msg("a list")
    return repr(value)


def at_least(value: float | None, lowest: float, key: str, unit: str = "") -> None:
    """For __post_init__ checks: Invalid naming `key` when `value` is below `lowest` (None: not set, no check);
    `unit` is "", " seconds" or " bytes"."""
    if value is not None and value < lowest:
        raise Invalid(key, msg(_AT_LEAST.get(unit, _AT_LEAST[""]), lowest=f"{lowest:g}", value=repr(value)))


# The doors' tables. Each default is what a door does when its table (or the key) is not in the file.

DOOR_TABLES: dict[str, type] = {}


def door_table(name: str) -> Callable[[type[T]], type[T]]:
    """Register a record as the schema of the top-level table `name`."""

    def register(schema: type[T]) -> type[T]:
        DOOR_TABLES[name] = schema
        return schema

    return register


@door_table("i18n")
@dataclass(frozen=True)
class LanguageTable:
    """What services (serve, icap, milter, watch) speak when the reader says nothing."""

    language: str = ""  # zh_CN or en; "" follows LANG / LC_MESSAGES / LANGUAGE, as the command line does

    def __post_init__(self) -> None:
        if self.language and i18n.normalise(self.language) is None:
            why = msg(
                "“{value}” is not a language baomi speaks: expected one of {known}.",
                value=self.language,
                known=", ".join(i18n.LANGUAGES),
            )
            raise Invalid("language", why)


@door_table("registry")
@dataclass(frozen=True)
class RegistryTable:
    """Registered secrets (baomi register): where the store is, the key that makes its hashes unreadable, and how much
    must match. Relative paths are relative to the configuration file."""

    store: str | None = None  # a SQLite file or a postgresql:// URL (default: registry.db beside the policy file)
    key: Path | None = None  # default: $BAOMI_REGISTRY_KEY, else registry.key beside a SQLite store
    min_chars: int = 80  # folded characters (letters and digits) of a registered document that make a finding
    table_window: int = 120  # folded characters within which the values of one row of a registered table must stand

    def __post_init__(self) -> None:
        at_least(self.min_chars, 1, "min_chars")
        at_least(self.table_window, 1, "table_window")


@dataclass(frozen=True)
class DatabaseTable:
    """Where a table's records live: a SQLite file (relative: to the configuration file), or a PostgreSQL database
    that several hosts share (url = "postgresql://user@host/db"; the password in ~/.pgpass or $PGPASSWORD)."""

    path: Path | None = None
    url: str | None = None

    def __post_init__(self) -> None:
        if self.url is not None and not is_url(self.url):
            raise Invalid("url", msg("expected a postgresql:// URL, not {value}.", value=repr(self.url)))
        if self.path is not None and self.url is not None:
            raise Invalid("url", msg("Give path (a SQLite file) or url (PostgreSQL), not both."))


@door_table("audit")
@dataclass(frozen=True)
class AuditTable(DatabaseTable):
    """The decision log every door writes (default: the user's state folder)."""


@door_table("index")
@dataclass(frozen=True)
class IndexTable(DatabaseTable):
    """The scan index of `baomi scan` (default: index.db in baomi's cache folder)."""


@dataclass(frozen=True)
class OutboxTable:
    """One [[watch.outbox]]: the folder people drop files into, the three its files leave for, and the channel whose
    policy decides."""

    path: Path
    released: Path
    review: Path
    quarantine: Path
    channel: str = "watch"


@door_table("watch")
@dataclass(frozen=True)
class WatchTable:
    outbox: tuple[OutboxTable, ...] = ()
    settle: float = 2.0  # seconds a file's size and time must stay unchanged when no close-after-write was seen
    jobs: int | None = None  # files scanned at once (default: cores)
    temporary: tuple[str, ...] = ()  # names to leave alone until renamed, on top of the built-in list
    # Seconds between walks of the outboxes: for events the kernel dropped, for network file systems whose remote
    # writers inotify cannot see, and instead of events when inotify cannot be had at all.
    rescan: float = 60.0
    journal: Path | None = None  # moves in progress (default: beside the audit log)
    log: Path | None = None  # default: standard error
    processes: bool = True  # scan in processes rather than threads of the watcher

    def __post_init__(self) -> None:
        at_least(self.settle, 0, "settle", " seconds")
        at_least(self.rescan, 0.1, "rescan", " seconds")
        at_least(self.jobs, 1, "jobs")


@door_table("mail")
@dataclass(frozen=True)
class MailTable:
    listen: str = "inet:10025@127.0.0.1"
    # Mail whose every recipient is in one of these domains (or below one) is judged by the mail-internal channel.
    internal_domains: tuple[str, ...] = ()
    max_message_bytes: int = 50 * 1024 * 1024
    scan_seconds: float = 150.0  # per message, from the end of its data to the answer
    slow_seconds: float = 5.0  # a scan running longer is set aside, freeing its place for the next message
    on_error: Literal["tempfail", "reject"] = "tempfail"  # timeouts and internal errors
    on_oversize: Literal["tempfail", "reject"] = "tempfail"
    pass_header: bool = True

    def __post_init__(self) -> None:
        at_least(self.max_message_bytes, 1, "max_message_bytes", " bytes")
        at_least(self.scan_seconds, 0, "scan_seconds", " seconds")
        at_least(self.slow_seconds, 0, "slow_seconds", " seconds")


@dataclass(frozen=True)
class TokenTable:
    """One [[web.token]]: a client of the scan API, by name, and the bearer token it shows."""

    name: str
    token: str = field(repr=False)  # never in a log line

    def __post_init__(self) -> None:
        if len(self.token) < 16:
            raise Invalid("token", msg("A token has at least 16 characters."))


@door_table("web")
@dataclass(frozen=True)
class WebTable:
    max_bytes: int = 64 * 1024 * 1024  # per request body, counted as it arrives
    max_files: int = 20  # per multipart request
    upload_seconds: int = 600  # for a whole body to arrive: a client trickling bytes cannot hold a request forever
    read_seconds: int = 60  # the longest silence while a body arrives
    header_seconds: int = 20  # for a request's head to arrive, from the connection's opening or the last answer
    max_connections: int = 64  # open at once; connections waiting for a head give way, past it 503
    max_requests_per_client: int = 16  # in progress at once from one address; past it 429
    workers: int | None = None  # files scanned at once (default: cores)
    token: tuple[TokenTable, ...] = ()  # none (and no token_file): the service is open
    token_file: Path | None = None  # lines `name token`
    # Reverse proxies whose X-Forwarded-For names the client in the audit log; anyone else could forge it.
    trusted_proxies: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        keys = ("max_bytes", "max_files", "upload_seconds", "read_seconds", "header_seconds", "max_connections")
        for key in (*keys, "max_requests_per_client", "workers"):
            at_least(getattr(self, key), 1, key)


@door_table("icap")
@dataclass(frozen=True)
class IcapTable:
    host: str = "127.0.0.1"
    port: int = 1344
    max_body: int = 64 * 1024 * 1024  # bytes of one request body; over it the upload is blocked unread
    timeout: float = 60.0  # seconds a client may go quiet in the middle of a request
    header_timeout: float = 30.0  # seconds a request's heads may take from their first byte
    deadline: float = 900.0  # seconds one request (a slow upload relayed by Squid) may take in all
    idle_timeout: float = 120.0  # seconds an idle persistent connection is kept
    max_connections: int = 64  # advertised to Squid; idle ones give way to new ones, past it 503
    max_requests_per_client: int = 16  # uploads in progress at once from one browser (X-Client-IP); past it 429
    workers: int | None = None  # uploads scanned at once (default: cores); the others wait
    preview: int = 4096  # bytes Squid sends before waiting for 100 Continue
    options_ttl: int = 3600  # seconds Squid may keep the OPTIONS answer

    def __post_init__(self) -> None:
        for key in ("max_body", "max_connections", "max_requests_per_client", "options_ttl", "workers"):
            at_least(getattr(self, key), 1, key)
        at_least(self.preview, 0, "preview", " bytes")
        for key in ("timeout", "header_timeout", "deadline", "idle_timeout"):
            at_least(getattr(self, key), 0.001, key, " seconds")
        if not 0 < self.port < 65536:
            raise Invalid("port", msg("expected 1 to 65535, not {value}.", value=self.port))


@door_table("clamd")
@dataclass(frozen=True)
class ClamdTable:
    """`baomi clamd`: the clamd protocol for file clouds. The names after `#` are clamd.conf's for the same thing."""

    listen: str = "tcp:127.0.0.1:3310"  # or unix:/run/baomi/clamd.sock
    socket_mode: int = 0o660  # of a unix socket (the file cloud's user in the socket's group)
    stream_max_length: int = 100 * 1024 * 1024  # StreamMaxLength: bytes of one INSTREAM
    roots: tuple[Path, ...] = ()  # folders SCAN and CONTSCAN may read (none: they are refused)
    command_seconds: float = 30.0  # CommandReadTimeout: for the first command after connecting
    read_seconds: float = 120.0  # ReadTimeout: the longest silence later (inside a stream, between session commands)
    stream_seconds: float = 600.0  # for a whole INSTREAM to arrive, however it trickles
    connection_seconds: float = 3600.0  # for a whole connection (an IDSESSION of many files)
    max_connections: int = 64  # open at once; connections waiting for a command give way to new ones
    workers: int | None = None  # files scanned at once (default: cores); the others wait

    def __post_init__(self) -> None:
        for key in ("stream_max_length", "max_connections", "workers"):
            at_least(getattr(self, key), 1, key)
        for key in ("command_seconds", "read_seconds", "stream_seconds", "connection_seconds"):
            at_least(getattr(self, key), 0.001, key, " seconds")
