"""Live reload under load: a client streams to `baomi clamd` without pause while the dictionary changes three times.
No request fails, every verdict is the one the rule set named in its audit record gives, and once the door says the
new rules are in force (VERSION names them), the next scan judges by them.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from pathlib import Path

from scanner.audit import Action, AuditLog
from scanner.policy import load_config
from scanner.ruleset import rule_set
from tests.clamd_rig import BaomiClamd, instream

FOUND = b"stream: Baomi.codenames.term.codenames FOUND\0"
OK = b"stream: OK\0"
# The dictionary's three changes: a term added, another added, the first removed.
VERSIONS: list[tuple[str, ...]] = [(), ("甲号工程",), ("甲号工程", "乙号工程"), ("乙号工程",)]
DOCUMENTS = {"甲号工程": "关于甲号工程进度的汇报".encode(), "乙号工程": "关于乙号工程选址的意见".encode()}


def write_dictionary(folder: Path, terms: tuple[str, ...]) -> str:
    """Save the codenames as an editor does (a new file renamed over the old); the fingerprint of the rules now."""
    temporary = folder / ".codenames.txt.tmp"
    temporary.write_text("# title: 项目代号\n" + "".join(f"{t}\tblock\n" for t in terms), encoding="utf-8")
    os.replace(temporary, folder / "codenames.txt")
    return rule_set(load_config(folder / "baomi.toml")).fingerprint


def version_of(service: BaomiClamd) -> str:
    """The rule set VERSION names: `baomi 0.1.0/<fingerprint>/<when>`."""
    return service.ask(b"zVERSION\0").split(b"/")[1].decode()


def wait_for_rules(service: BaomiClamd, fingerprint: str, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while version_of(service) != fingerprint:
        assert time.monotonic() < deadline, f"the rules {fingerprint} were not in force after {seconds:g} s"
        time.sleep(0.02)


class Client(threading.Thread):
    """Streams both documents in turn, each on a connection of its own, until told to stop; keeps every answer."""

    def __init__(self, service: BaomiClamd) -> None:
        super().__init__(name="clamd-client", daemon=True)
        self.service = service
        self.answers: list[bytes] = []
        self.failures: list[str] = []
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            for document in DOCUMENTS.values():
                try:
                    self.answers.append(self.service.ask(instream(document), timeout=60))
                except OSError as exc:
                    self.failures.append(repr(exc))
                time.sleep(0.005)  # a connection a stream: leave the loopback's ports time to come free


def test_verdicts_follow_the_dictionary_through_three_changes_under_load(tmp_path: Path) -> None:
    (tmp_path / "baomi.toml").write_text('[dictionaries]\nfiles = ["codenames.txt"]\n', encoding="utf-8")
    terms_of = {write_dictionary(tmp_path, VERSIONS[0]): set(VERSIONS[0])}
    service = BaomiClamd(tmp_path)
    client = Client(service)
    try:
        client.start()
        for terms in VERSIONS[1:]:
            fingerprint = write_dictionary(tmp_path, terms)
            terms_of[fingerprint] = set(terms)
            wait_for_rules(service, fingerprint)
            for term, document in DOCUMENTS.items():  # the very next scan judges by the new rules
                assert service.ask(instream(document)) == (FOUND if term in terms else OK)
            time.sleep(1.0)  # the client goes on under these rules for a while
    finally:
        client.stopping.set()
        client.join(timeout=120)
        service.stop()
    assert client.failures == [] and set(client.answers) <= {FOUND, OK}
    assert len(client.answers) >= 8
    log = AuditLog(service.audit)
    decisions = log.query(limit=None)
    log.close()
    scans = [d for d in decisions if d.name == "stream"]
    assert len(scans) == len(client.answers) + 2 * (len(VERSIONS) - 1)
    term_by_hash = {hashlib.sha256(doc).hexdigest(): term for term, doc in DOCUMENTS.items()}
    for decision in scans:
        assert decision.rule_set in terms_of, decision
        expected = "block" if term_by_hash[decision.sha256] in terms_of[decision.rule_set] else "pass"
        assert decision.verdict == expected, decision
    reloads = [d for d in reversed(decisions) if d.action == Action.RELOADED]
    assert [d.rule_set for d in reloads] == list(terms_of)[1:]
