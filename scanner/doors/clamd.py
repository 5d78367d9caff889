"""`baomi clamd`: the file cloud's door. Nextcloud, ownCloud, Seafile and anything else that hands uploads to a virus
scanner over the clamd protocol hand them to baomi instead: a block answers `stream: Baomi.<category>.<rule> FOUND`,
a pass `stream: OK`, under the `clamd` channel's policy (a flag is a block there unless it says otherwise).

It answers as ClamAV's clamd does (scanner.doors.clamd_protocol), and never answers OK for what it did not read.
SCAN and CONTSCAN read only below the folders of `[clamd] roots`, and follow no link out of them.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import re
import socket
import socketserver
import stat
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from scanner.audit import Action, AuditLog, Decision, audit_location
from scanner.command import UsageError, build_scanner, count, logging_to, overridden, reloadable
from scanner.config import AuditTable, ClamdTable
from scanner.doors import clamd_protocol as wire
from scanner.doors.admission import Admission
from scanner.doors.listening import Listener
from scanner.doors.stopping import StopSignal
from scanner.engine import NOT_REGULAR, Scanner
from scanner.extract.base import Detail, Problem
from scanner.i18n import N_, _, msg, msg_n, speaking
from scanner.model import FileReport, Verdict
from scanner.reloading import Rules
from scanner.ruleset import baomi_version
from scanner.titles import os_error

log = logging.getLogger("baomi.clamd")

CHANNEL = "clamd"
SPOOL_IN_MEMORY = 1024 * 1024  # a stream stays in memory up to this size and goes to a temporary file past it
ADMIT_SECONDS = 1.0  # how long a new connection waits for room when every connection is in the middle of a command
SEND_SECONDS = 30.0  # for a reply to leave
MAX_DEPTH = 256  # folders inside folders below a SCAN path (each holds a descriptor while its sub-folders are read)
ACTIONS = {True: Action.REFUSED, False: Action.ALLOWED}  # by whether the answer was FOUND
OUTSIDE = b"Access denied. ERROR"  # what a path outside the roots gets: clamd's answer to a file it may not read
# Why a file below a SCAN path was not read (its unscannable finding); the replies themselves are clamd's, in English.
LINK_OUT = msg("A link out of the folders baomi may read ([clamd] roots): not followed.")
LOOP = msg("A link back to a folder above it: following it would never end.")
TOO_DEEP = msg("A folder more than {depth} folders deep.", depth=MAX_DEPTH)


def virus_name(report: FileReport) -> bytes:
    """`Baomi.<category>.<rule>` of the report's worst finding, as clamd names a virus: no spaces, colons or control
    characters, which clients would take for the end of the name."""
    worst = max(report.findings, key=lambda f: f.action)
    return re.sub(r"[\s:\x00-\x1f\x7f]+", "_", f"Baomi.{worst.category}.{worst.rule}").encode()


def answer(report: FileReport) -> tuple[bytes, bool]:
    """The reply's text for a report, and whether it is FOUND: only a block is, and pass and a flag the policy let
    through are OK (the policy never lets through what could not be read)."""
    if report.verdict == Verdict.BLOCK:
        return virus_name(report) + b" FOUND", True
    return b"OK", False


class Refused(Exception):
    """A path SCAN may not read: outside the roots, or through a link out of them."""


class Missing(Exception):
    """A path that cannot be opened; the message says why in the system's words (strerror)."""


@dataclass(frozen=True)
class Item:
    """One file below a SCAN path: its name in replies, and a descriptor (O_PATH) to read it by, or why not."""

    shown: bytes
    fd: int | None
    problem: Detail = ""


class Roots:
    """The folders SCAN and CONTSCAN may read, by their real paths. A path is checked twice: as written, before
    anything is opened, and as the kernel opened it (/proc/self/fd), so no link or rename leads out unseen."""

    def __init__(self, folders: tuple[Path, ...]) -> None:
        self.folders = tuple(os.path.realpath(f) for f in folders)

    def holds(self, path: str) -> bool:
        return any(path == root or path.startswith(root.rstrip("/") + "/") for root in self.folders)

    def open(self, path: bytes) -> int:
        """An O_PATH descriptor of `path` (links followed), which must lie below a root as written and as opened."""
        text = os.fsdecode(path)
        if not os.path.isabs(text) or not self.holds(os.path.normpath(text)):
            raise Refused(text)
        try:
            fd = os.open(text, os.O_PATH | os.O_CLOEXEC)
        except OSError as exc:
            raise Missing(exc.strerror or str(exc)) from None
        return self._inside(fd, text)

    def open_below(self, name: str, folder: int) -> int:
        fd = os.open(name, os.O_PATH | os.O_CLOEXEC, dir_fd=folder)
        return self._inside(fd, name)

    def _inside(self, fd: int, name: str) -> int:
        if not self.holds(os.readlink(f"/proc/self/fd/{fd}")):
            os.close(fd)
            raise Refused(name)
        return fd

    def walk(self, top: int, shown: bytes) -> Iterator[Item]:
        """The files at or below the opened path `top`, named from `shown`, each folder's in the order of their names;
        what cannot be read comes with its reason, never skipped in silence. Each descriptor yielded is the
        caller's to close; the others are closed here, however early the caller stops."""
        info = os.fstat(top)
        if not stat.S_ISDIR(info.st_mode):
            yield Item(shown, top)
            return
        pending = [(top, shown, frozenset({(info.st_dev, info.st_ino)}))]
        try:
            while pending:
                folder, name, above = pending.pop()
                found: list[tuple[int, bytes, frozenset[tuple[int, int]]]] = []
                try:
                    yield from self._entries(folder, name, above, found)
                finally:
                    os.close(folder)
                    pending.extend(reversed(found))
        finally:
            for folder, _name, _above in pending:
                os.close(folder)

    def _entries(
        self,
        folder: int,
        name: bytes,
        above: frozenset[tuple[int, int]],
        found: list[tuple[int, bytes, frozenset[tuple[int, int]]]],
    ) -> Iterator[Item]:
        """The files of one folder; its sub-folders, opened, go into `found`."""
        try:
            listing = os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=folder)
            try:
                names = sorted(os.listdir(listing), key=os.fsencode)
            finally:
                os.close(listing)
        except OSError as exc:
            yield Item(name, None, msg("A folder that cannot be listed: {error}.", error=os_error(exc)))
            return
        for entry in names:
            child = name.rstrip(b"/") + b"/" + os.fsencode(entry)
            try:
                opened = self.open_below(entry, folder)
            except Refused:
                yield Item(child, None, LINK_OUT)
                continue
            except OSError as exc:
                yield Item(child, None, msg("It cannot be opened: {error}.", error=os_error(exc)))
                continue
            info = os.fstat(opened)
            key = (info.st_dev, info.st_ino)
            if not stat.S_ISDIR(info.st_mode):
                yield Item(child, opened)
            elif key in above or len(above) >= MAX_DEPTH:
                os.close(opened)
                yield Item(child, None, LOOP if key in above else TOO_DEEP)
            else:
                found.append((opened, child, above | {key}))


class ClamdService:
    """Turns clamd commands into engine calls and verdicts into clamd's answers; one instance serves every thread."""

    def __init__(self, rules: Rules, audit: AuditLog, settings: ClamdTable) -> None:
        self.rules = rules
        self.audit = audit
        self.settings = settings
        self.roots = Roots(settings.roots)
        self._scanning = threading.BoundedSemaphore(settings.workers or os.cpu_count() or 2)
        self._connections: Admission[wire.Connection] = Admission(settings.max_connections, ADMIT_SECONDS)

    # -- connections

    def serve_connection(self, sock: socket.socket, peer: str) -> None:
        conn = wire.Connection(sock, self.settings.connection_seconds)
        if not self._connections.admit(conn):
            log.warning(msg("{client}: refused, every connection is in the middle of a command", client=peer))
            return
        try:
            self._serve(conn, peer)
        except wire.Gone as exc:
            log.debug(msg("{client}: {problem}", client=peer, problem=exc.args[0]))
        except wire.TimedOut as exc:
            log.info(msg("{client}: timed out ({problem})", client=peer, problem=exc.args[0]))
            with contextlib.suppress(wire.Gone):
                conn.send(wire.TIMED_OUT, SEND_SECONDS)
        except wire.TooLong as exc:
            log.warning(msg("{client}: {problem}; closed", client=peer, problem=exc.args[0]))
        finally:
            self._connections.leave(conn)

    def _serve(self, conn: wire.Connection, peer: str) -> None:
        """clamd's command loop: one command, or an IDSESSION of several whose replies carry their numbers."""
        number = 0  # of the command in an IDSESSION (0: none, and replies carry no number)
        term = b"\n"  # of the last command: what a reply to none in particular ends with
        timeout = self.settings.command_seconds
        while (command := conn.command(timeout)) is not None:
            timeout = self.settings.read_seconds
            if number and command.oldstyle:
                conn.send(
                    wire.reply(term, number, b"Only nCMDS\\n and zCMDS\\0 are accepted inside IDSESSION. ERROR")
                    + wire.reply(term, number, b"Error processing command. ERROR"),
                    SEND_SECONDS,
                )
                return
            term = command.term
            if number and command.name not in wire.IN_SESSION:
                conn.send(wire.reply(term, number, b"Command invalid inside IDSESSION. ERROR"), SEND_SECONDS)
                return
            if command.name != "IDSESSION" and not (self._execute(conn, command, number, peer) and number):
                return  # outside an IDSESSION one command is all; inside, END or an error ends it
            number += 1
            conn.idle = True  # until its next command comes: it may give way to a new connection meanwhile
            self._connections.went_idle()

    def _execute(self, conn: wire.Connection, command: wire.Command, number: int, peer: str) -> bool:
        """Carry out one command and reply; whether the connection goes on (inside an IDSESSION only)."""
        term = command.term
        name = command.name
        if name == "PING":
            conn.send(wire.reply(term, number, b"PONG"), SEND_SECONDS)
            return True
        if name == "VERSION":
            conn.send(wire.reply(term, number, self._version()), SEND_SECONDS)
            return True
        if name == "VERSIONCOMMANDS":
            commands = b" ".join(n.encode() for n in wire.COMMAND_NAMES)
            conn.send(wire.reply(term, number, self._version() + b"| COMMANDS: " + commands), SEND_SECONDS)
            return True
        if name == "INSTREAM":
            return self._instream(conn, term, number, peer)
        if name in ("SCAN", "CONTSCAN", "MULTISCAN", "ALLMATCHSCAN"):  # each FOUND file once, in one thread
            assert command.argument is not None
            self._scan_path(conn, command.argument, name == "SCAN", term, number, peer)
            return True
        if name == "RELOAD":
            self.rules.request(msg("the RELOAD command"))
            conn.send(wire.reply(term, 0, b"RELOADING"), SEND_SECONDS)
        elif name == "SELFCHECK":
            changed = self.rules.changed()
            if changed:
                self.rules.request(msg("the SELFCHECK command"))
            conn.send(wire.reply(term, 0, b"RELOADING" if changed else b"DBUPTODATE"), SEND_SECONDS)
        elif name in ("SHUTDOWN", "STATS"):
            conn.send(wire.reply(term, number, b"COMMAND UNAVAILABLE"), SEND_SECONDS)
        elif name == "FILDES":
            conn.send(wire.reply(term, number, b"FILDES support not compiled in. ERROR"), SEND_SECONDS)
        elif name == "END" and number:
            pass  # the end of an IDSESSION
        elif name not in ("DETSTATS", "DETSTATSCLEAR"):  # which clamd no longer keeps, and says nothing
            unknown = msg("{client}: unknown command {command}", client=peer, command=repr(command.text[:60]))
            log.info(unknown)  # or END outside an IDSESSION
            conn.send(wire.reply(term, number, b"UNKNOWN COMMAND"), SEND_SECONDS)
        return False

    def _version(self) -> bytes:
        """As clamd's `ClamAV 1.4.2/27500/Tue Jan  7 09:30:42 2025`: the program, the rule set and when it was put in
        force, in local time."""
        loaded = time.ctime(datetime.fromisoformat(self.rules.loaded).timestamp())
        return f"baomi {baomi_version()}/{self.rules.fingerprint}/{loaded}".encode()

    # -- INSTREAM

    def _instream(self, conn: wire.Connection, term: bytes, number: int, peer: str) -> bool:
        """Receive the chunks of a stream (a 4-byte big-endian length, then that many bytes; a length of 0 ends
        it), scan it and reply; whether the connection goes on."""
        scanner = self.rules.scanner  # the rules in force when the stream began judge it
        settings = self.settings
        deadline = time.monotonic() + settings.stream_seconds
        left = settings.stream_max_length
        with tempfile.SpooledTemporaryFile(SPOOL_IN_MEMORY) as spool:
            while size := int.from_bytes(conn.exactly(4, settings.read_seconds, deadline), "big"):
                if size > left:
                    asked = N_("{client}: INSTREAM size limit reached (asked for {size} more bytes, {left} left)")
                    log.warning(msg(asked, client=peer, size=size, left=left))
                    over = msg("The stream is over StreamMaxLength ({limit} bytes).", limit=settings.stream_max_length)
                    problem = Problem("too-large", over)
                    self._record(scanner.unscanned(wire.STREAM.decode(), problem, CHANNEL), peer, "INSTREAM", False)
                    conn.send(wire.reply(term, number, b"INSTREAM size limit exceeded. ERROR"), SEND_SECONDS)
                    return False
                left -= size
                conn.copy(size, spool, settings.read_seconds, deadline)
            received = settings.stream_max_length - left
            spool.seek(0)
            data = spool.read()
        if received and not left:
            # A client cuts a larger file at its StreamMaxLength and sends the piece as if it were the whole.
            why = msg(
                "The stream filled StreamMaxLength ({size} bytes): the client may have cut the file there.",
                size=received,
            )
            report = scanner.unscanned(wire.STREAM.decode(), Problem("too-large", why), CHANNEL, data=data)
        else:
            with self._scanning:
                report = scanner.scan_bytes(data, wire.STREAM.decode(), CHANNEL)
        text, found = answer(report)
        ref = self._record(report, peer, "INSTREAM", found)
        said = text.decode(errors="replace")
        log.info(
            msg_n(
                "{client}: a stream of {count} byte: {answer} (reference {reference})",
                "{client}: a stream of {count} bytes: {answer} (reference {reference})",
                received,
                client=peer,
                answer=said,
                reference=ref,
            )
        )
        conn.send(wire.reply(term, number, wire.STREAM, text), SEND_SECONDS)
        return True

    # -- SCAN, CONTSCAN

    def _scan_path(
        self, conn: wire.Connection, path: bytes, first_only: bool, term: bytes, number: int, peer: str
    ) -> None:
        """Scan a file, or every file below a folder, and reply as clamd does: a line for each file FOUND, then
        `path: OK` if none was (SCAN stops at the first)."""
        scanner = self.rules.scanner
        try:
            top = self.roots.open(path)
        except Refused as exc:
            roots = ", ".join(self.roots.folders) or "-"
            log.warning(
                msg(
                    "{client}: SCAN of {path} refused: not below [clamd] roots ({roots})",
                    client=peer,
                    path=str(exc),
                    roots=roots,
                )
            )
            conn.send(wire.reply(term, number, path, OUTSIDE), SEND_SECONDS)
            return
        except Missing as exc:
            failure = f"File path check failure: {exc}. ERROR".encode()
            conn.send(wire.reply(term, number, path, failure), SEND_SECONDS)
            return
        found = files = 0
        for item in self.roots.walk(top, path):
            files += 1
            report = self._scan_item(scanner, item)
            if item.shown == path and item.fd is not None and not report.size and not report.findings:
                conn.send(wire.reply(term, number, path, b"Empty file"), SEND_SECONDS)
            text, is_found = answer(report)
            self._record(report, peer, "SCAN", is_found)
            if is_found:
                found += 1
                conn.send(wire.reply(term, number, item.shown, text), SEND_SECONDS)
                if first_only:
                    break
        log.info(
            msg_n(
                "{client}: {path}: {count} file scanned, {found} FOUND",
                "{client}: {path}: {count} files scanned, {found} FOUND",
                files,
                client=peer,
                path=os.fsdecode(path),
                found=found,
            )
        )
        if not found:
            conn.send(wire.reply(term, number, path, b"OK"), SEND_SECONDS)

    def _scan_item(self, scanner: Scanner, item: Item) -> FileReport:
        shown = os.fsdecode(item.shown)
        if item.fd is None:
            return scanner.unscanned(shown, Problem("unreadable", item.problem), CHANNEL)
        try:
            if not stat.S_ISREG(os.fstat(item.fd).st_mode):
                return scanner.unscanned(shown, Problem("unreadable", NOT_REGULAR), CHANNEL)
            with self._scanning:
                # The descriptor's own link: the file opened and checked, whatever happens to its name meanwhile.
                return replace(scanner.scan_path(f"/proc/self/fd/{item.fd}", CHANNEL), path=shown)
        finally:
            os.close(item.fd)

    def _record(self, report: FileReport, peer: str, command: str, found: bool) -> int | str:
        try:
            return self.audit.record(Decision.of(report, CHANNEL, peer, ACTIONS[found], command=command))
        except Exception:  # the answer stands even when the log cannot be written
            log.exception(msg("cannot write the audit log"))
            return "-"


def parse_listen(spec: str) -> tuple[int, str | tuple[str, int]]:
    """`tcp:HOST:PORT` (`tcp:[::1]:PORT`) or `unix:/path` → (address family, address)."""
    kind, _colon, rest = spec.partition(":")
    if kind == "unix" and rest:
        return socket.AF_UNIX, rest
    if kind == "tcp" and rest:
        host, _colon, port = rest.rpartition(":")
        if host and port.isdigit() and int(port) < 65536:  # port 0: any free port
            family = socket.AF_INET6 if host.startswith("[") else socket.AF_INET
            return family, (host.strip("[]"), int(port))
    raise ValueError(msg("expected tcp:HOST:PORT or unix:/path, not “{spec}”", spec=spec))


class _Handler(socketserver.BaseRequestHandler):
    server: _Server

    def handle(self) -> None:
        sock: socket.socket = self.request
        if sock.family != socket.AF_UNIX:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            peer = f"{self.client_address[0]}:{self.client_address[1]}"
        else:
            peer = "local"
        service = self.server.service
        with speaking(service.rules.scanner.config.language):  # [i18n] language: its log lines'
            service.serve_connection(sock, peer)


class _Server(Listener):
    def __init__(self, listen: str, service: ClamdService, socket_mode: int) -> None:
        self.service = service
        family, address = parse_listen(listen)
        super().__init__(family, address, _Handler, socket_mode, what="clamd")


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "clamd",
        parents=[common],
        help=_("file cloud: answer the clamd protocol Nextcloud and Seafile use to scan uploads"),
        description=_(
            "A clamd-compatible service: INSTREAM and SCAN answer FOUND for a file that may not be stored "
            "(Baomi.<category>.<rule>) and OK for one that may, under the policy's clamd channel."
        ),
    )
    parser.add_argument(
        "--listen", metavar=_("SOCKET"), help=_("tcp:HOST:PORT or unix:/path (default %s)") % ClamdTable.listen
    )
    parser.add_argument("--audit", type=Path, metavar=_("PATH"), help=_("the decision log (default: [audit] path)"))
    parser.add_argument("--workers", type=count, metavar="N", help=_("files scanned at once (default: cores)"))
    parser.add_argument("--quiet", "-q", action="store_true", help=_("log only problems, not every verdict"))
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    level = logging.WARNING if args.quiet else logging.INFO
    # First, so that a SIGTERM while the scanner loads still ends in an orderly stop (status 0).
    with StopSignal() as stop, logging_to("baomi clamd: %(message)s", level):
        scanner = build_scanner(args)
        with speaking(scanner.config.language):  # [i18n] language, for the log lines of this thread
            _serve(args, scanner, stop.wait)
    return 0


def _serve(args: argparse.Namespace, scanner: Scanner, stopped: Callable[[], None]) -> None:
    settings = overridden(scanner.config.table(ClamdTable), listen=args.listen, workers=args.workers)
    audit = AuditLog(audit_location(scanner.config.table(AuditTable), args.audit))
    rules = reloadable(args, scanner, audit, CHANNEL)
    service = ClamdService(rules, audit, settings)
    try:
        server = _Server(settings.listen, service, settings.socket_mode)
    except (OSError, ValueError) as exc:
        audit.close()
        why = os_error(exc) if isinstance(exc, OSError) else exc.args[0]
        raise UsageError(msg("Cannot listen on {address}: {error}.", address=settings.listen, error=why)) from None
    with rules.watching():
        log.warning(msg("listening on {address} (rules {rules})", address=settings.listen, rules=rules.fingerprint))
        server.serve_until(stopped, "clamd")
    audit.close()
    log.info(msg("stopped"))
