"""`baomi scan --cluster`: the scanning processes are the workers of a Dask distributed cluster. The client walks and
submits batches of files; each worker builds its Scanner once, from the compiled dictionaries a worker plugin brings
it, and reads the files at the same paths as the client (a share mounted alike on every host).

Dask runs a lost worker's tasks again elsewhere; a batch that fails is tried again file by file, and a file whose own
task fails twice is reported unscannable, never passed.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from distributed import Client, WorkerPlugin, get_worker

from scanner.dictionaries import Dictionary
from scanner.engine import Scanner
from scanner.extract import Problem
from scanner.i18n import N_, Message, msg
from scanner.index.reuse import Examiner, How, IndexReader, Job, Looked, Outcome
from scanner.index.store import Listing
from scanner.policy import Config
from scanner.ruleset import baomi_version
from scanner.scan import CHUNK, Done, Pending, ScanError
from scanner.titles import os_error

if TYPE_CHECKING:
    from scanner.registry.index import Registry

BATCH = 8  # files per task: few enough that a lost worker costs little, enough that a task is not all overhead
TASKS_PER_THREAD = 4  # tasks in flight for each worker thread the cluster had at the start
CONNECT_SECONDS = 10
WORKERS_SECONDS = 60  # for the first worker to join a scheduler that has none yet

UNREACHABLE = N_("Cannot reach the Dask scheduler at {address}: {error}")
NO_WORKERS = N_("The Dask scheduler at {address} has no workers (none joined within {seconds} s).")
CANNOT_SCAN = N_(
    "These workers cannot scan the paths: {problems}. Every worker must see the paths where this machine sees them, "
    "with the same content (mount the share at the same place on every host), and run the same baomi."
)
OTHER_VERSION = N_("runs baomi {theirs}, this machine {ours}")
CANNOT_SEE = N_("cannot see {root} ({error})")
SEES_OTHER = N_("sees something else at {root} than this machine (a folder where the share is not mounted?)")
LOST = N_(
    "Lost the Dask scheduler at {address}; the reports made so far are kept in the scan index: run the same command "
    "with --resume to go on."
)
FAILED_TWICE = N_("Its scan failed twice on the cluster's workers: {error}")


class ClusterError(ScanError):
    """A cluster that cannot run the scan: unreachable, without workers, or with workers that cannot see the files."""


@dataclass(frozen=True)
class Recipe:
    """What every worker needs to scan as this client would, sent once per worker: the configuration, the compiled
    dictionaries and registry (their files and store may exist only here) and the rule set's fingerprint, the
    channel, whether reports are kept, and the content lookup."""

    config: Config
    dictionary: Dictionary
    registry: Registry | None
    fingerprint: str
    channel: str
    keep: bool
    contents: IndexReader | None


class ScannerPlugin(WorkerPlugin):
    """Builds the worker's Examiner when the worker joins (or when the plugin is registered), once."""

    def __init__(self, recipe: Recipe) -> None:
        self.recipe = recipe
        self.examiner: Examiner | None = None

    def setup(self, worker: Any) -> None:
        recipe = self.recipe
        scanner = Scanner.assembled(recipe.config, recipe.dictionary, recipe.registry, recipe.fingerprint)
        self.examiner = Examiner(scanner, recipe.channel, recipe.keep, recipe.contents)

    def teardown(self, worker: Any) -> None:
        if self.recipe.contents is not None:
            self.recipe.contents.close()


def _scan_batch(plugin: str, jobs: list[Job]) -> list[Outcome]:
    """A task: the outcomes of a batch of jobs, on the worker that runs it."""
    scanning = get_worker().plugins[plugin]
    assert isinstance(scanning, ScannerPlugin) and scanning.examiner is not None
    return [scanning.examiner.examine(job) for job in jobs]


def _look_batch(plugin: str, listings: list[Listing]) -> list[Looked]:
    """A task: the look-ups of a chunk's listings, on the worker that runs it (through the index it reaches)."""
    scanning = get_worker().plugins[plugin]
    assert isinstance(scanning, ScannerPlugin) and scanning.examiner is not None
    assert scanning.examiner.contents is not None
    return scanning.examiner.contents.look(listings)


@dataclass
class _Looking:
    """Look-ups running on a worker; should the task fail twice (its workers lost), they are made here."""

    cluster: Cluster
    reader: IndexReader
    listings: list[Listing]
    future: Any

    def get(self) -> list[Looked]:
        try:
            looked: list[Looked] = self.future.result()
        except Exception:
            self.cluster._still_connected()
            return self.reader.look(self.listings)
        return looked


def glimpse(root: str) -> str:
    """What a path looks like from this host, cheaply: a folder's names, a file's size and time."""
    info = os.stat(root)
    if os.path.isdir(root):
        return hashlib.sha256("\0".join(sorted(os.listdir(root))).encode("utf-8", "surrogateescape")).hexdigest()
    return f"{info.st_size}:{info.st_mtime_ns}"


def _can_scan(roots: dict[str, str], version: str) -> Message | None:
    """Run on each worker at the start: why it cannot scan the paths as the client would, or None."""
    if baomi_version() != version:
        return msg(OTHER_VERSION, theirs=baomi_version(), ours=version)
    for root, seen in roots.items():
        try:
            if glimpse(root) != seen:
                return msg(SEES_OTHER, root=root)
        except OSError as exc:
            return msg(CANNOT_SEE, root=root, error=os_error(exc))
    return None


class Cluster:
    """The workers of the Dask scheduler at `address`, ready to scan `paths` as `examiner` would here."""

    def __init__(self, address: str, examiner: Examiner, paths: Sequence[Path]) -> None:
        self.address, self.examiner = address, examiner
        try:
            self.client = Client(address, timeout=CONNECT_SECONDS, set_as_default=False)
        except (OSError, ValueError) as exc:
            raise ClusterError(msg(UNREACHABLE, address=address, error=str(exc))) from None
        try:
            self._check(paths)
            scanner = examiner.scanner
            detectors = scanner.detectors
            recipe = Recipe(scanner.config, detectors.dictionary, detectors.registry, scanner.fingerprint,
                            examiner.channel, examiner.keep, examiner.contents)  # fmt: skip
            self.plugin = f"baomi-scanner-{uuid.uuid4().hex}"
            self.client.register_plugin(ScannerPlugin(recipe), name=self.plugin)
            threads = sum(self.client.nthreads().values())
            self.ahead = max(2, -(-threads * TASKS_PER_THREAD * BATCH // CHUNK))
        except BaseException:
            self.client.close()
            raise

    def _check(self, paths: Sequence[Path]) -> None:
        try:
            self.client.wait_for_workers(1, timeout=WORKERS_SECONDS)
        except TimeoutError:
            raise ClusterError(msg(NO_WORKERS, address=self.address, seconds=WORKERS_SECONDS)) from None
        roots = {os.path.abspath(path): glimpse(os.path.abspath(path)) for path in paths}
        answers = self.client.run(_can_scan, roots, baomi_version(), on_error="return")
        problems = [f"{worker} {problem}" for worker, problem in sorted(answers.items()) if problem is not None]
        if problems:
            raise ClusterError(msg(CANNOT_SCAN, problems="; ".join(map(str, problems))))

    def look(self, reader: IndexReader, listings: list[Listing]) -> Pending:
        """The look-ups on the workers where they reach the index (PostgreSQL: the workers were given the reader),
        else here (a SQLite index is a file on this machine only): a stat and a row a file, which would otherwise
        set the pace of one client feeding many workers."""
        if reader is not self.examiner.contents:
            return Done(reader.look(listings))
        future = self.client.submit(_look_batch, self.plugin, listings, pure=False, retries=1)
        return _Looking(self, reader, listings, future)

    def submit(self, jobs: list[Job]) -> Iterator[Outcome]:
        batches = [jobs[start : start + BATCH] for start in range(0, len(jobs), BATCH)]
        return self._outcomes(batches, [self._task(batch) for batch in batches])

    def _task(self, jobs: list[Job]) -> Any:
        return self.client.submit(_scan_batch, self.plugin, jobs, pure=False, retries=1)

    def _outcomes(self, batches: list[list[Job]], futures: list[Any]) -> Iterator[Outcome]:
        for batch, future in zip(batches, futures, strict=True):
            try:
                yield from future.result()
            except Exception:
                self._still_connected()
                yield from self._one_by_one(batch)

    def _one_by_one(self, batch: list[Job]) -> Iterator[Outcome]:
        """A failed batch's files, each in a task of its own: the file that made it fail is found and reported."""
        futures = [self._task([job]) for job in batch]
        for job, future in zip(batch, futures, strict=True):
            try:
                yield from future.result()
            except Exception as exc:
                self._still_connected()
                problem = Problem("crash", msg(FAILED_TWICE, error=f"{type(exc).__name__}: {exc}"))
                yield Outcome(self.examiner.scanner.unscanned(job.name, problem, self.examiner.channel), How.UNREAD)

    def _still_connected(self) -> None:
        if self.client.status != "running":
            raise ClusterError(msg(LOST, address=self.address))

    def close(self) -> None:
        with contextlib.suppress(Exception):  # a scheduler gone, a worker leaving: the plugin goes with them
            self.client.unregister_worker_plugin(self.plugin)
        self.client.close()
