"""A private Postfix on loopback for the milter's end-to-end tests and benchmark, with a sink SMTP server behind it.

Everything lives under one temporary folder (its own main.cf, master.cf, queue and data directories); the system's
/etc/postfix and port 25 are never touched.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller

from tests.common import free_port, wait_for_port

POSTCONF = shutil.which("postconf") or "/usr/sbin/postconf"
POSTQUEUE = shutil.which("postqueue") or "/usr/sbin/postqueue"
POSTSUPER = shutil.which("postsuper") or "/usr/sbin/postsuper"
SENDMAIL = "/usr/sbin/sendmail"  # Postfix's, by its fixed path: another MTA's sendmail may come first on PATH
# The queue folders Postfix expects (as post-install creates them): name, owner group, mode.
_POSTFIX_ONLY = ("active", "bounce", "corrupt", "defer", "deferred", "flush", "hold", "incoming", "private", "saved")
QUEUE_FOLDERS = [(name, None, 0o700) for name in (*_POSTFIX_ONLY, "trace")]
QUEUE_FOLDERS += [("maildrop", "postdrop", 0o730), ("public", "postdrop", 0o710)]
REPO = Path(__file__).resolve().parent.parent


def postfix_missing_reason() -> str | None:
    """Why the private Postfix cannot run here, or None when it can."""
    if not Path(POSTCONF).exists() or not Path(POSTQUEUE).exists():
        return "postfix is not installed (apt-get install postfix)"
    if os.geteuid() != 0:
        return "a private Postfix instance needs root to start"
    return None


@dataclass
class Delivered:
    sender: str
    recipients: list[str]
    data: bytes

    @property
    def message(self) -> EmailMessage:
        parsed: EmailMessage = message_from_bytes(self.data, policy=policy.default)  # type: ignore[assignment]
        return parsed


@dataclass
class _SinkHandler:
    received: list[Delivered] = field(default_factory=list)
    arrived: threading.Condition = field(default_factory=threading.Condition)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.arrived:
            self.received.append(Delivered(envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content))
            self.arrived.notify_all()
        return "250 OK"


class Sink:
    """The next hop Postfix relays to: an aiosmtpd server that keeps every message it receives."""

    def __init__(self) -> None:
        self.port = free_port()
        self.handler = _SinkHandler()
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)

    def start(self) -> Sink:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()

    @property
    def received(self) -> list[Delivered]:
        return self.handler.received

    def wait_for(self, marker: str, seconds: float = 15.0) -> Delivered | None:
        """The delivered message whose Subject contains `marker`, waiting up to `seconds` for it."""
        return self.wait_until(lambda item: marker in str(item.message.get("Subject", "")), seconds)

    def wait_until(self, wanted: Callable[[Delivered], bool], seconds: float = 15.0) -> Delivered | None:
        """The first delivered message that is `wanted`, waiting up to `seconds` for it."""
        deadline = time.monotonic() + seconds
        with self.handler.arrived:
            while True:
                for item in self.handler.received:
                    if wanted(item):
                        return item
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.handler.arrived.wait(left)


MAIN_CF = """\
compatibility_level = 3.6
queue_directory = {queue}
data_directory = {data}
mail_owner = postfix
setgid_group = postdrop
myhostname = baomi-test.localdomain
mydestination =
local_recipient_maps =
alias_maps =
alias_database =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject
relayhost = [127.0.0.1]:{sink_port}
smtp_tls_security_level = none
smtpd_tls_security_level = none
smtpd_peername_lookup = no
smtputf8_enable = yes
message_size_limit = 52428800
maillog_file = {queue}/maillog
maillog_file_prefixes = {queue}
smtpd_milters = inet:127.0.0.1:{milter_port}
non_smtpd_milters = $smtpd_milters
milter_default_action = tempfail
milter_protocol = 6
milter_connect_timeout = 5s
milter_content_timeout = 120s
milter_end_of_data_macros = i {{mail_addr}}
default_process_limit = 20
"""

# Nothing chrooted (the instance has no chroot tree); two smtpd listeners: the first talks to the milter of main.cf,
# the second to a milter of its own that a test may stop.
MASTER_CF = """\
127.0.0.1:{smtp_port} inet n - n - - smtpd
127.0.0.1:{spare_smtp_port} inet n - n - - smtpd -o smtpd_milters=inet:127.0.0.1:{spare_milter_port}
pickup unix n - n 60 1 pickup
cleanup unix n - n - 0 cleanup
qmgr unix n - n 300 1 qmgr
rewrite unix - - n - - trivial-rewrite
bounce unix - - n - 0 bounce
defer unix - - n - 0 bounce
trace unix - - n - 0 bounce
verify unix - - n - 1 verify
flush unix n - n 1000? 0 flush
proxymap unix - - n - - proxymap
smtp unix - - n - - smtp
relay unix - - n - - smtp
showq unix n - n - - showq
error unix - - n - - error
retry unix - - n - - error
discard unix - - n - - discard
anvil unix - - n - 1 anvil
scache unix - - n - 1 scache
postlog unix-dgram n - n - 1 postlogd
"""


class PrivatePostfix:
    """A Postfix instance of our own relaying everything to a sink.

    Its master daemon runs in the foreground (`master -c DIR -d`) rather than through `postfix -c DIR start`, whose
    script insists on reading the system's /etc/postfix/main.cf, absent where Postfix is installed unconfigured.
    """

    def __init__(self, sink_port: int, milter_port: int, spare_milter_port: int | None = None) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="baomi-postfix-", dir="/tmp"))  # not $TMPDIR: postfix must reach it
        self.root.chmod(0o755)  # the postfix user walks into its queue below it
        self.config = self.root / "etc"
        self.queue = self.root / "queue"
        self.data = self.root / "data"
        for folder in (self.config, self.queue, self.data, self.queue / "pid"):
            folder.mkdir(mode=0o755)
        shutil.chown(self.data, "postfix")
        for name, group, mode in QUEUE_FOLDERS:
            (self.queue / name).mkdir(mode=mode)
            (self.queue / name).chmod(mode)
            shutil.chown(self.queue / name, "postfix", group)
        self.smtp_port = free_port()
        self.spare_smtp_port = free_port()
        self.milter_port = milter_port
        self.spare_milter_port = spare_milter_port or free_port()
        (self.config / "main.cf").write_text(
            MAIN_CF.format(queue=self.queue, data=self.data, sink_port=sink_port, milter_port=milter_port)
        )
        (self.config / "master.cf").write_text(
            MASTER_CF.format(
                smtp_port=self.smtp_port, spare_smtp_port=self.spare_smtp_port, spare_milter_port=self.spare_milter_port
            )
        )
        self.master: subprocess.Popen[bytes] | None = None

    def start(self) -> PrivatePostfix:
        daemons = self.postconf("daemon_directory")
        with (self.root / "master.err").open("ab") as err:
            self.master = subprocess.Popen(
                [f"{daemons}/master", "-c", str(self.config), "-d"],
                env={**os.environ, "MAIL_CONFIG": str(self.config)},
                stdout=subprocess.DEVNULL,
                stderr=err,
                start_new_session=True,
            )
        try:
            wait_for_port(self.smtp_port, self.master, seconds=30)
        except Exception as exc:
            err = (self.root / "master.err").read_text(errors="replace")
            self.stop()
            raise RuntimeError(f"the private Postfix did not start: {exc}\n{err}\n{self.log()}") from exc
        return self

    def run(self, tool: str, *args: str) -> str:
        """A Postfix command-line tool (postconf, postqueue, postsuper) run against this instance; its output."""
        done = subprocess.run(
            [tool, "-c", str(self.config), *args], capture_output=True, text=True, timeout=60, check=False
        )
        if done.returncode:
            raise RuntimeError(f"{tool} {' '.join(args)}: {done.stderr.strip()}")
        return done.stdout

    def postconf(self, name: str) -> str:
        return self.run(POSTCONF, "-h", name).strip()

    def queue_entries(self) -> list[dict[str, Any]]:
        """`postqueue -j`: one JSON object per queued message (queue_name is hold for held mail)."""
        return [json.loads(line) for line in self.run(POSTQUEUE, "-j").splitlines() if line.strip()]

    def sendmail(self, sender: str, recipients: Sequence[str], data: bytes) -> None:
        """Submit a message the way local programs do: the sendmail command, postdrop, pickup, cleanup."""
        done = subprocess.run(
            [SENDMAIL, "-C", str(self.config), "-f", sender, "--", *recipients],
            input=data,
            capture_output=True,
            timeout=60,
            check=False,
        )
        if done.returncode:
            raise RuntimeError(f"sendmail: {done.stderr.decode(errors='replace').strip()}")

    def release(self, queue_id: str) -> None:
        """What an administrator does with held mail: `postsuper -H` moves it to the deferred queue, `postqueue -i`
        delivers it now rather than at the next queue run."""
        self.run(POSTSUPER, "-H", queue_id)
        self.run(POSTQUEUE, "-i", queue_id)

    def log(self) -> str:
        path = self.queue / "maillog"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        if self.master is not None:
            if self.master.poll() is None:
                self.master.terminate()  # the master stops its daemons on SIGTERM
                try:
                    self.master.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(self.master.pid, signal.SIGKILL)
                    self.master.wait()
            self.master = None
        _kill_leftovers(self.queue)
        shutil.rmtree(self.root, ignore_errors=True)


def _kill_leftovers(queue: Path) -> None:
    """Postfix daemons of this instance that outlived their master (they carry our config path on their command
    line only through the master, so match by the queue folder they hold open)."""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            if os.readlink(proc / "cwd").startswith(str(queue)):
                os.kill(int(proc.name), signal.SIGKILL)


class Milter:
    """`baomi milter` as a real subprocess, listening on a free loopback port."""

    def __init__(self, audit: Path, config: Path | None = None, extra: Sequence[str] = (), port: int | None = None):
        self.port = port or free_port()
        self.audit = audit
        self.args = [
            sys.executable,
            "-m",
            "scanner.cli",
            "milter",
            "--listen",
            f"inet:{self.port}@127.0.0.1",
            "--audit",
            str(audit),
            *(["--config", str(config)] if config else []),
            *extra,
        ]
        self.process: subprocess.Popen[bytes] | None = None
        self.returncode: int | None = None
        self.log = audit.parent / f"milter-{self.port}.log"  # a file, not a pipe nobody drains while it runs

    def start(self) -> Milter:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(self.args, cwd=REPO, stdout=subprocess.DEVNULL, stderr=log)
        try:
            wait_for_port(self.port, self.process, seconds=60)
        except Exception as exc:
            err = self.stop()
            raise RuntimeError(f"baomi milter did not start: {exc}\n{err}") from exc
        return self

    def wait_for_log(self, text: str, times: int = 1, seconds: float = 60.0) -> bool:
        """Whether `text` appears `times` times in what the milter has written, waiting up to `seconds` for it."""
        deadline = time.monotonic() + seconds
        while self.log.read_text(errors="replace").count(text) < times:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.1)
        return True

    def stop(self) -> str:
        """Stop it (SIGTERM, then SIGKILL) and give back what it wrote on stderr."""
        if self.process is None:
            return ""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.returncode = self.process.returncode
        self.process = None
        return self.log.read_text(errors="replace")


@contextlib.contextmanager
def mail_gateway(
    audit: Path, config: Path | None = None, extra: Sequence[str] = ()
) -> Iterator[tuple[PrivatePostfix, Milter, Sink]]:
    """Sink, milter (with `extra` options) and Postfix started in that order, and stopped in the reverse order
    whatever happens."""
    sink = Sink().start()
    milter: Milter | None = None
    postfix: PrivatePostfix | None = None
    try:
        milter = Milter(audit, config, extra).start()
        postfix = PrivatePostfix(sink.port, milter.port).start()
        yield postfix, milter, sink
    finally:
        if postfix is not None:
            postfix.stop()
        if milter is not None:
            milter.stop()
        sink.stop()
