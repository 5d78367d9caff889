"""Live reload: the rules a long-running door judges by, replaced while the door runs. Each unit of work (a message,
an upload, a stream, a file) takes the Scanner in force when it starts and keeps it to its end.

SIGHUP, a change of the policy file or of a dictionary, or a door's own command builds new rules in a background
thread and swaps them in at once; a reload that fails keeps the rules in force and says why: in the log, in the
door's `[i18n] language`; in the audit log and a health check, in English for scripts and as a Message for people.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import queue
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

from scanner.audit import Action, AuditLog, Decision
from scanner.database import is_url, shown
from scanner.engine import Scanner
from scanner.i18n import Message, current, msg, render, speaking
from scanner.policy import Config
from scanner.registry.settings import registry_settings
from scanner.ruleset import rule_set
from scanner.titles import os_error

log = logging.getLogger("baomi.reload")

# One save is several events (truncate, write, close; or write elsewhere and rename): they make one reload, once the
# file has been quiet this long, or at the latest after GATHER_SECONDS of a burst.
QUIET_SECONDS = 0.2
GATHER_SECONDS = 2.0
# What a file's writer does; opening and reading it (as each reload does) changes nothing.
_WRITES = frozenset({"created", "deleted", "modified", "moved", "closed"})
_ATTEMPTS = 3  # builds in a row that saw a dictionary change under them before the last one is taken anyway
# A registry in PostgreSQL is no file to watch: a door asks it this often whether a registration or a removal made a
# new generation since its rules were built (a SQLite store is watched as a file).
REGISTRY_POLL_SECONDS = 10.0
_WARM_UP = "预热".encode()


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


Cause = Message | str  # what asks for a reload: msg("the RELOAD command"), or a word said as it is ("SIGHUP")


@dataclass(frozen=True)
class Reload:
    """What one reload did: the rules in force before and after it, and why it failed, if it did."""

    why: Cause  # what asked for it: "SIGHUP", msg("{file} changed", …), msg("the RELOAD command")
    fingerprint: str  # the rule set in force afterwards
    previous: str  # the rule set in force before
    error: Message | str = ""  # why the new rules could not be built ("": they were); the old ones stay in force then
    time: str = field(default_factory=_now)

    @property
    def failed(self) -> bool:
        return bool(self.error)

    @property
    def level(self) -> int:
        """How loud its log line is: a failure an error, a change of rules a warning, the same rules news."""
        if self.failed:
            return logging.ERROR
        return logging.WARNING if self.fingerprint != self.previous else logging.INFO

    def message(self) -> Message:
        """What came of it, for a person: the log line, the health check's `message`, the audit log's text view."""
        if self.failed:
            return msg(
                "reload after {why} failed; the rules in force ({rules}) stay: {error}",
                why=self.why,
                rules=self.previous,
                error=self.error,
            )
        if self.fingerprint != self.previous:
            return msg(
                "rules reloaded after {why}: {rules} (were {previous})",
                why=self.why,
                rules=self.fingerprint,
                previous=self.previous,
            )
        return msg("reloaded after {why}: the rules are unchanged ({rules})", why=self.why, rules=self.fingerprint)

    def decision(self, channel: str) -> Decision:
        """The audit record of a change of rules or of a failed reload (a reload that changed nothing has none): what
        asked for it and why it failed in English, as scripts read them, and the whole as a Message, for `baomi audit`
        to say in its reader's language."""
        return Decision(
            channel=channel,
            source="rules",
            name=render(self.why, "en"),
            size=0,
            sha256="",
            verdict="",
            action=Action.RELOAD_FAILED if self.failed else Action.RELOADED,
            reason=render(self.error, "en") or None,
            extra={"previous": self.previous, "message": self.message().to_dict()},
            time=self.time,
            rule_set=self.fingerprint,
        )

    def to_dict(self) -> dict[str, Any]:
        """For a health check: `why` and `error` in English, stable for scripts; `message` in the current language."""
        return {
            "why": render(self.why, "en"),
            "time": self.time,
            "rule_set": self.fingerprint,
            "error": render(self.error, "en") or None,
            "message": render(self.message()),
        }


def build(load: Callable[[], Config]) -> Scanner:
    """A Scanner from the configuration `load` reads, warmed up, whose fingerprint is that of the dictionaries it
    compiled: a dictionary written while it was read is read again."""
    for _attempt in range(_ATTEMPTS):
        config = load()
        scanner = Scanner(config)
        scanner.scan_bytes(_WARM_UP, "warm-up.txt")
        if rule_set(config).fingerprint == scanner.fingerprint:
            break
    return scanner


class Rules:
    """The rules a door judges by now, as a Scanner: `scanner` is read once per unit of work. Without `load` they
    never change; with it, `reload()` (or `request()`, from any thread or a signal handler) builds them anew.
    `watching()` reloads when the policy file or a dictionary changes, and when the process gets SIGHUP."""

    def __init__(
        self,
        scanner: Scanner,
        load: Callable[[], Config] | None = None,
        watched: Iterable[Path] = (),
        on_reload: Callable[[Reload], None] | None = None,
    ) -> None:
        """`watched`: files read by `load` besides the dictionaries (the policy file). `on_reload` hears of every
        reload that changed the rules or failed."""
        self._scanner = scanner
        self._load = load
        self._watched_files = [Path(p) for p in watched]
        self._on_reload = on_reload
        self.loaded = _now()  # when the rules in force were built
        self.last: Reload | None = None  # the latest reload, whatever came of it
        self._lock = threading.Lock()  # one reload at a time
        self._requests: queue.SimpleQueue[Cause | None] = queue.SimpleQueue()  # put() is safe in a signal handler
        self._observer: Any = None
        self._changes = _Changes(self.request)
        self._watches: dict[str, Any] = {}  # folder → watchdog's watch of it

    @property
    def scanner(self) -> Scanner:
        """The Scanner in force: take it once per unit of work, so that a reload meanwhile does not change its rules
        half-way."""
        return self._scanner

    @property
    def fingerprint(self) -> str:
        return self._scanner.fingerprint

    def reload(self, why: Cause) -> Reload:
        """Build the rules anew and put them in force; if that fails, the rules in force stay and the outcome says
        why. Blocks until done (a reload asked for meanwhile waits for this one). Its log lines speak the
        `[i18n] language` of the rules in force afterwards, else the caller's language."""
        if self._load is None:
            raise RuntimeError("these rules have nothing to reload from")
        with self._lock:
            previous = self._scanner
            try:
                built = build(self._load)
            except Exception as exc:  # bad TOML, an unreadable dictionary, anything: the old rules go on
                outcome = Reload(why, previous.fingerprint, previous.fingerprint, _failure(exc))
            else:
                outcome = Reload(why, built.fingerprint, previous.fingerprint)
                # Swapped even when the fingerprint is the same: what it does not cover (the registry's store) is new.
                self.loaded = outcome.time
                self._scanner = built  # one assignment: every unit of work sees the old rules or the new
            self.last = outcome
            with speaking(self._scanner.config.language or current()):
                log.log(outcome.level, outcome.message())
                self._watch_files()
        if self._on_reload is not None and (outcome.failed or outcome.fingerprint != outcome.previous):
            try:
                self._on_reload(outcome)
            except Exception:  # the reload stands even if its record cannot be written
                with speaking(self._scanner.config.language or current()):
                    log.exception(msg("cannot record the reload"))
        return outcome

    def changed(self) -> bool:
        """Whether the files now say other rules than those in force (a file that cannot be read: yes, and the
        reload it asks for will say why)."""
        if self._load is None:
            return False
        try:
            return rule_set(self._load()).fingerprint != self.fingerprint
        except Exception:
            return True

    def request(self, why: Cause) -> None:
        """Ask for a reload in the background (see `watching`); requests that come together make one reload."""
        self._requests.put(why)

    @contextlib.contextmanager
    def watching(self) -> Iterator[Rules]:
        """While the block runs: a background thread reloads on request, on SIGHUP (when entered in the main
        thread) and when a watched file changes."""
        thread = threading.Thread(target=self._serve_requests, name="baomi-reload", daemon=True)
        thread.start()
        stop = threading.Event()
        poll = threading.Thread(target=self._poll_registry, args=(stop,), name="baomi-registry-poll", daemon=True)
        poll.start()
        self._observer = Observer()
        self._observer.start()
        with self._lock:
            self._watch_files()
        if self._load is not None and self.changed():  # written after the rules in force were read, before the watch
            self.request(msg("a change while the door started"))
        try:
            with _on_hangup(lambda: self.request("SIGHUP")):
                yield self
        finally:
            stop.set()
            self._requests.put(None)
            observer, self._observer = self._observer, None
            stop_observer(observer, timeout=10)
            self._watches.clear()
            poll.join(timeout=30)
            thread.join(timeout=30)

    def status(self) -> dict[str, Any]:
        """For a health check: the rules in force, since when, and the latest reload."""
        return {"rule_set": self.fingerprint, "loaded": self.loaded, "last_reload": self.last and self.last.to_dict()}

    def _serve_requests(self) -> None:
        while (why := self._requests.get()) is not None:
            reasons: list[Cause] = [why]
            until = time.monotonic() + GATHER_SECONDS
            while (left := until - time.monotonic()) > 0:
                try:
                    more = self._requests.get(timeout=min(QUIET_SECONDS, left))
                except queue.Empty:
                    break
                if more is None:
                    return
                reasons.append(more)
            self.reload(functools.reduce(_and, dict.fromkeys(reasons)))

    def _poll_registry(self, stop: threading.Event) -> None:
        """Every REGISTRY_POLL_SECONDS, where the rules in force read a registry in PostgreSQL: a reload when the
        rules that would be built now are others (the store's generation is part of their fingerprint)."""
        unreachable = False
        while not stop.wait(REGISTRY_POLL_SECONDS):
            config = self._scanner.config
            store = registry_settings(config).store
            if self._load is None or not is_url(store):
                continue
            try:
                now = rule_set(config).fingerprint
            except Exception as exc:  # the server is away: the rules in force stay, and it is said once
                if not unreachable:
                    with speaking(config.language or current()):
                        log.warning(msg("cannot ask {store} for new registrations: {error}", store=shown(store),
                                        error=_failure(exc)))  # fmt: skip
                unreachable = True
                continue
            unreachable = False
            if now != self.fingerprint:
                self.request(msg("{file} changed", file=shown(store)))

    def _watch_files(self) -> None:
        """Watch the folders of the policy file, of every dictionary the rules in force read (they may have changed
        with the policy) and of the registry's store; a folder watched already stays so, with no gap."""
        observer = self._observer
        if observer is None:
            return
        rules = rule_set(self._scanner.config)
        files = {*self._watched_files, *(Path(d.path) for d in rules.dictionaries), *rules.registry_files}
        self._changes.files = {str(p) for f in files for p in (f.absolute(), f.resolve())}
        folders = {str(Path(p).parent) for p in self._changes.files}
        for folder in set(self._watches) - folders:
            observer.unschedule(self._watches.pop(folder))
        for folder in sorted(folders - set(self._watches)):
            try:
                self._watches[folder] = observer.schedule(self._changes, folder, recursive=False)
            except OSError as exc:
                unwatched = msg(
                    "cannot watch {folder} for changes ({error}): reload with SIGHUP",
                    folder=folder,
                    error=os_error(exc),
                )
                log.error(unwatched)


class _Changes(FileSystemEventHandler):
    """Asks for a reload when one of `files` is written, created, renamed onto or removed."""

    def __init__(self, request: Callable[[Cause], None]) -> None:
        self.files: set[str] = set()
        self.request = request

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type not in _WRITES:
            return
        for path in (event.src_path, getattr(event, "dest_path", "")):
            name = path.decode() if isinstance(path, bytes) else path
            if name in self.files:
                self.request(msg("{file} changed", file=name))


def stop_observer(observer: Any, timeout: float) -> None:
    """Stop a watchdog observer and wait for it. An event that comes while it stops makes watchdog log an error (its
    inotify emitter reads it after the stop took its queue away: a race of its own, and harmless, since nothing more
    is wanted from the observer); that line is kept out of the door's log."""
    inotify = logging.getLogger("watchdog.observers.inotify")
    inotify.addFilter(_stopping)
    try:
        observer.stop()
        observer.join(timeout=timeout)
    finally:
        inotify.removeFilter(_stopping)


def _stopping(record: logging.LogRecord) -> bool:
    return "called when the thread is inactive" not in record.getMessage()


def _and(earlier: Cause, later: Cause) -> Cause:
    """Two causes of one reload, said together."""
    return msg("{earlier}, {later}", earlier=earlier, later=later)


def _failure(exc: Exception) -> Message | str:
    """Why the rules could not be built, in the reader's language where baomi said it (a ConfigError's Message) or
    the system did (a known OSError), else as the library said it."""
    if exc.args and isinstance(exc.args[0], Message):
        return exc.args[0]
    return os_error(exc) if isinstance(exc, OSError) else str(exc)


@contextlib.contextmanager
def _on_hangup(callback: Callable[[], None]) -> Iterator[None]:
    """SIGHUP calls `callback` while the block runs (in the main thread only: elsewhere signals cannot be set)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    saved = signal.signal(signal.SIGHUP, lambda signum, frame: callback())
    try:
        yield
    finally:
        signal.signal(signal.SIGHUP, saved)


def recorder(audit: AuditLog | None, channel: str) -> Callable[[Reload], None] | None:
    """For `Rules(on_reload=…)`: each change of rules and each failed reload as a record in the door's audit log."""
    return None if audit is None else functools.partial(_record, audit, channel)


def _record(audit: AuditLog, channel: str, outcome: Reload) -> None:
    audit.record(outcome.decision(channel))
