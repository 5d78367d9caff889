"""Engine benchmark (issues 2 and 17): baomi against ripgrep, one process, side by side in interleaved rounds.

Run: `.venv/bin/python bench/engine.py [--rounds 5] [--only laws,terms,small,sweep,dense,startup,json,matchers]`
(needs ../shared/corpora/laws, ripgrep and GNU time: Debian's ripgrep and time). Prints the Markdown tables of
bench/README.md's engine section. In each round every command of a table runs once, in turn (rg first, then baomi,
the order rotating), so a machine others share slows them alike; the tables show medians of wall and CPU seconds
and the ratios to rg -j1 of both (ratio = rg's time / baomi's: 0.5 is half rg's speed).
"""

from __future__ import annotations

import argparse
import os
import random
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAWS = ROOT.parent / "shared" / "corpora" / "laws"
BAOMI = [sys.executable, "-m", "scanner.cli", "scan", "--jobs", "1", "--no-index"]  # the engine alone
SECTIONS = ("laws", "terms", "small", "sweep", "dense", "startup", "json", "matchers")


# --- What is scanned ---


def jieba_words() -> list[str]:
    """jieba's dictionary with each word's frequency, as the Python package ships it."""
    import jieba

    with open(Path(jieba.__file__).parent / "dict.txt", encoding="utf-8") as fh:
        return [line.rstrip("\n") for line in fh]


def rare_words(count: int, seed: int = 7) -> list[str]:
    """Rare words of jieba's own dictionary (frequency ≤ 5, 3 to 6 characters): codenames are rare in prose."""
    words = []
    for line in jieba_words():
        word, freq, *_ = line.split()
        if int(freq) <= 5 and 3 <= len(word) <= 6 and re.fullmatch(r"[\u4e00-\u9fff]+", word):
            words.append(word)
    random.Random(seed).shuffle(words)
    return words[:count]


def many_terms(count: int, seed: int = 7) -> list[str]:
    """`count` distinct terms of two jieba words each (4 to 8 characters): names of projects, customers, people."""
    words = [w for w in (line.split()[0] for line in jieba_words()) if re.fullmatch(r"[\u4e00-\u9fff]{2,4}", w)]
    rng = random.Random(seed)
    out: set[str] = set()
    while len(out) < count:
        out.add(rng.choice(words) + rng.choice(words))
    return sorted(out)


def laws_texts() -> list[Path]:
    return sorted(LAWS.rglob("*.md"))


def corpus(folder: Path, copies: int) -> int:
    """The laws copied `copies` times into `folder`; their size in bytes."""
    total = 0
    for i in range(copies):
        for path in laws_texts():
            target = folder / f"copy{i}" / path.relative_to(LAWS)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
            total += path.stat().st_size
    return total


def prose(size: int) -> bytes:
    """`size` bytes of the laws, one after another (cut at a character's end)."""
    laws = b"".join(path.read_bytes() for path in laws_texts())
    data = laws * (size // len(laws) + 1)
    return data[:size].decode("utf-8", errors="ignore").encode("utf-8")


def small_files(folder: Path, count: int, size: int = 1024) -> None:
    """`count` files of about `size` bytes of the laws, a thousand to a folder."""
    text = prose(4 << 20).decode("utf-8")
    chars = size // 3
    for i in range(count):
        sub = folder / f"d{i // 1000:03d}"
        if i % 1000 == 0:
            sub.mkdir(parents=True, exist_ok=True)
        at = (i * chars) % (len(text) - chars)
        (sub / f"f{i:06d}.txt").write_text(text[at : at + chars], encoding="utf-8")


def builtin_terms() -> list[str]:
    return [
        term
        for path in sorted((ROOT / "dictionaries").glob("*.txt"))
        for line in path.read_text(encoding="utf-8").splitlines()
        if (term := line.split("\t")[0].split("#")[0].strip())
    ]


def write_lines(path: Path, lines: Iterable[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# --- Running and timing ---


@dataclass(frozen=True)
class Run:
    wall: float
    cpu: float  # user + system, of the command and its children
    rss: float  # peak resident MiB (GNU time)


def measure(command: list[str], env: dict[str, str] | None = None) -> Run:
    with tempfile.NamedTemporaryFile("r") as usage:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        done = subprocess.run(
            ["/usr/bin/time", "-f", "%M", "-o", usage.name, *command],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            check=False,
        )
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        rss = int(usage.read().strip().splitlines()[-1]) / 1024
    if done.returncode not in (0, 1):
        raise SystemExit(f"{command[:6]} failed: {done.stderr[-2000:]!r}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return Run(wall, cpu, rss)


Commands = dict[str, tuple[list[str], dict[str, str] | None]]


def interleaved(commands: Commands, rounds: int) -> dict[str, list[Run]]:
    """Each command once a round, the order rotating, after one run of each to warm caches."""
    for command, env in commands.values():
        measure(command, env)
    runs: dict[str, list[Run]] = {name: [] for name in commands}
    names = list(commands)
    for r in range(rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            runs[name].append(measure(*commands[name]))
    return runs


def median(runs: list[Run], field: str) -> float:
    return statistics.median(getattr(run, field) for run in runs)


def ratio_table(runs: dict[str, list[Run]], reference: str, amount: float, unit: str) -> str:
    """A table of medians: wall, CPU, `unit` per wall second, peak RSS, and the ratios to `reference`."""
    lines = [
        f"| command | wall s | CPU s | {unit}/s | peak RSS MiB | ratio to rg (wall) | (CPU) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    ref_wall, ref_cpu = median(runs[reference], "wall"), median(runs[reference], "cpu")
    for name, measured in runs.items():
        wall, cpu = median(measured, "wall"), median(measured, "cpu")
        lines.append(
            f"| {name} | {wall:.2f} | {cpu:.2f} | {amount / wall:,.1f} | {median(measured, 'rss'):.0f} "
            f"| {ref_wall / wall:.2f} | {ref_cpu / cpu:.2f} |"
        )
    return "\n".join(lines)


# --- The tables ---


@dataclass
class Bench:
    work: Path
    rounds: int
    env: dict[str, str]

    def cached(self, name: str) -> dict[str, str]:
        """The environment with a cache folder of its own (a dictionary compiled once per folder)."""
        return {**self.env, "BAOMI_CACHE": str(self.work / f"cache-{name}")}

    def laws(self) -> str:
        corpus_dir, size = self.corpus()
        terms = write_lines(self.work / "terms10k.txt", rare_words(100_000)[:10_000])
        rg_terms = write_lines(self.work / "rg-terms10k.txt", [*builtin_terms(), *rare_words(100_000)[:10_000]])
        env = self.cached("10k")
        rg = ["rg", "-j1", "-F", "-c", "-f", str(rg_terms), str(corpus_dir)]
        scan = [*BAOMI, "--dict", str(terms), str(corpus_dir)]
        runs = interleaved(
            {
                "rg -j1 -F -c -f terms.txt": (rg, None),
                "baomi scan --jobs 1": (scan, env),
                "baomi scan --jobs 2": ([*scan[:-3], "--jobs", "2", *scan[-3:]], env),
                "baomi scan --jobs 1 --format json": ([*scan, "--format", "json"], env),
                "baomi scan --jobs 1 --format sarif": ([*scan, "--format", "sarif"], env),
            },
            self.rounds,
        )
        return (
            f"laws ×3 ({size / 1e6:.1f} MB, {self.files(corpus_dir):,} files), the default dictionaries + 10,000 rare "
            f"words, the default text report to a pipe; {self.rounds} interleaved rounds, medians:\n\n"
            + ratio_table(runs, "rg -j1 -F -c -f terms.txt", size / 1e6, "MB")
        )

    def terms(self) -> str:
        corpus_dir, size = self.corpus()
        words = rare_words(100_000)
        terms = write_lines(self.work / "terms100k.txt", words)
        rg_terms = write_lines(self.work / "rg-terms100k.txt", [*builtin_terms(), *words])
        runs = interleaved(
            {
                "rg -j1 -F -c -f terms.txt": (["rg", "-j1", "-F", "-c", "-f", str(rg_terms), str(corpus_dir)], None),
                "baomi scan --jobs 1": ([*BAOMI, "--dict", str(terms), str(corpus_dir)], self.cached("100k")),
            },
            self.rounds,
        )
        return (
            f"laws ×3 with the default dictionaries + {len(words):,} rare words; {self.rounds} rounds:\n\n"
            + ratio_table(runs, "rg -j1 -F -c -f terms.txt", size / 1e6, "MB")
        )

    def small(self, count: int = 50_000) -> str:
        folder = self.work / "small"
        if not folder.exists():
            small_files(folder, count)
        terms = write_lines(self.work / "terms10k.txt", rare_words(100_000)[:10_000])
        rg_terms = write_lines(self.work / "rg-terms10k.txt", [*builtin_terms(), *rare_words(100_000)[:10_000]])
        runs = interleaved(
            {
                "rg -j1 -F -c -f terms.txt": (["rg", "-j1", "-F", "-c", "-f", str(rg_terms), str(folder)], None),
                "baomi scan --jobs 1": ([*BAOMI, "--dict", str(terms), str(folder)], self.cached("10k")),
            },
            self.rounds,
        )
        return f"{count:,} files of 1 KB (laws), 1,000 a folder; {self.rounds} rounds:\n\n" + ratio_table(
            runs, "rg -j1 -F -c -f terms.txt", count, "files"
        )

    def sweep(self, max_mb: float) -> str:
        """One text file of each size: MB/s should not fall as the file grows (cost linear in its size). A scan of a
        tiny file runs in the same rounds, so the MB/s beyond start-up can be shown as well."""
        config = self.work / "large.toml"
        config.write_text("[limits]\nmax_bytes = 4294967296\nmax_total_bytes = 4294967296\nseconds = 3600.0\n")
        tiny = self.work / "tiny.txt"
        tiny.write_text("关于做好年度工作的通知\n", encoding="utf-8")
        lines = [
            "| file | rg -j1 MB/s | baomi MB/s | beyond start-up | ratio (wall) | (CPU) | peak RSS MiB | RSS / size |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        size_mb = 2.5
        while size_mb <= max_mb:
            path = self.work / f"prose-{size_mb:g}MB.txt"
            path.write_bytes(prose(int(size_mb * 1e6)))
            env = self.cached("default")
            runs = interleaved(
                {
                    "rg": (["rg", "-j1", "-F", "-c", "-f", str(self.work / "rg-terms-builtin.txt"), str(path)], None),
                    "baomi": ([*BAOMI, "--config", str(config), str(path)], env),
                    "start-up": ([*BAOMI, "--config", str(config), str(tiny)], env),
                },
                self.rounds if size_mb < 100 else max(1, self.rounds // 2),
            )
            rg, baomi = runs["rg"], runs["baomi"]
            wall, rss = median(baomi, "wall"), median(baomi, "rss")
            beyond = size_mb / max(1e-3, wall - median(runs["start-up"], "wall"))
            lines.append(
                f"| {size_mb:g} MB | {size_mb / median(rg, 'wall'):.1f} | {size_mb / wall:.1f} | {beyond:.1f} "
                f"| {median(rg, 'wall') / wall:.2f} | {median(rg, 'cpu') / median(baomi, 'cpu'):.2f} "
                f"| {rss:.0f} | {rss / size_mb:.1f} |"
            )
            path.unlink()
            size_mb *= 2
        return "One text file of the laws run together, the default dictionaries:\n\n" + "\n".join(lines)

    def dense(self) -> str:
        """机密★ over and over on one line: every hit a mark candidate. Per character it should cost the same at
        every length (each candidate judged by its neighbours, never by the whole line)."""
        lines = ["| line | characters | baomi wall s | CPU s | µs per candidate (CPU) |", "|---|---:|---:|---:|---:|"]
        for repeats in (10_000, 40_000, 160_000, 640_000):
            path = self.work / f"dense-{repeats}.txt"
            path.write_text("机密★" * repeats, encoding="utf-8")
            runs = interleaved({"baomi": ([*BAOMI, str(path)], self.cached("default"))}, self.rounds)["baomi"]
            cpu = median(runs, "cpu")
            lines.append(
                f"| 机密★ × {repeats:,} | {3 * repeats:,} | {median(runs, 'wall'):.2f} | {cpu:.2f} "
                f"| {1e6 * cpu / repeats:.1f} |"
            )
        return "\n".join(lines) + "\n\n(start-up, about 0.2 s, is in every row)"

    def startup(self) -> str:
        small = self.work / "small.txt"
        small.write_text("关于做好年度工作的通知\n各单位：请按时报送。\n", encoding="utf-8")
        lines = ["| dictionaries | cold: compiled, s | peak RSS MiB | warm, s (median) | peak RSS MiB | cache MB |"]
        lines.append("|---|---:|---:|---:|---:|---:|")
        for name, count in (("default", 0), ("10k", 10_000), ("100k", 100_000), ("1M", 1_000_000)):
            terms = many_terms(count) if count > 100_000 else rare_words(100_000)[:count]
            dicts = ["--dict", str(write_lines(self.work / f"start-{name}.txt", terms))] if count else []
            env = self.cached(f"start-{name}")
            shutil.rmtree(env["BAOMI_CACHE"], ignore_errors=True)
            cold = measure([*BAOMI, *dicts, str(small)], env)
            warm = [measure([*BAOMI, *dicts, str(small)], env) for _ in range(self.rounds)]
            cache_mb = sum(p.stat().st_size for p in Path(env["BAOMI_CACHE"]).iterdir()) / 1e6
            label = f"default + {count:,} terms" if count else "default"
            lines.append(
                f"| {label} | {cold.wall:.2f} | {cold.rss:.0f} | {median(warm, 'wall'):.2f} "
                f"| {median(warm, 'rss'):.0f} | {cache_mb:.1f} |"
            )
        return "`baomi scan` of one small file (no hit):\n\n" + "\n".join(lines)

    def json(self) -> str:
        """Peak memory of each report format as the number of files grows: streamed, it should stay flat."""
        folder = self.work / "small"
        if not folder.exists():
            small_files(folder, 50_000)
        lines = ["| files | text MiB | json MiB | sarif MiB | jsonl MiB |", "|---:|---:|---:|---:|---:|"]
        for thousands in (1, 5, 25, 50):
            folders = [str(folder / f"d{i:03d}") for i in range(thousands)]
            row = [f"{thousands * 1000:,}"]
            for fmt in ("text", "json", "sarif", "jsonl"):
                run = measure([*BAOMI, "--format", fmt, *folders], self.cached("default"))
                row.append(f"{run.rss:.0f}")
            lines.append("| " + " | ".join(row) + " |")
        return "Peak RSS of `baomi scan --jobs 1 --format F` over 1 KB files (each a finding or more):\n\n" + "\n".join(
            lines
        )

    def matchers(self) -> str:
        """The matchers by themselves, on the normalised text of one copy of the laws."""
        sys.path.insert(0, str(ROOT))
        from scanner.matcher import ENGINES, Matcher
        from scanner.normalize import normalize

        texts = [normalize(path.read_text(encoding="utf-8")).text for path in laws_texts()]
        mb = sum(len(t.encode("utf-8")) for t in texts) / 1e6
        lines = ["| matcher | terms | build s | MB/s (CPU) | hits |", "|---|---:|---:|---:|---:|"]
        for count in (10_000, 100_000):
            keys = [*builtin_terms(), *rare_words(100_000)[:count]]
            keys = list(dict.fromkeys(normalize(k).text for k in keys))
            for engine in ENGINES:
                start = time.perf_counter()
                matcher = Matcher.build(keys, engine)
                built = time.perf_counter() - start
                cpu = time.process_time()
                hits = sum(len(matcher.find(text)) for text in texts)
                lines.append(
                    f"| {engine} | {count:,} | {built:.2f} | {mb / (time.process_time() - cpu):.0f} | {hits:,} |"
                )
        return f"{mb:.1f} MB of laws (as UTF-8), hits found and listed:\n\n" + "\n".join(lines)

    def corpus(self) -> tuple[Path, int]:
        folder = self.work / "laws3"
        if not folder.exists():
            corpus(folder, 3)
        return folder, sum(p.stat().st_size for p in folder.rglob("*.md"))

    @staticmethod
    def files(folder: Path) -> int:
        return sum(1 for _ in folder.rglob("*.md"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds; medians are shown")
    parser.add_argument("--only", default=",".join(SECTIONS), help=f"comma-separated, of {', '.join(SECTIONS)}")
    parser.add_argument("--max-mb", type=float, default=320, help="the largest file of the size sweep")
    parser.add_argument("--work", type=Path, help="a folder to keep the corpora in between runs")
    args = parser.parse_args()
    if not LAWS.is_dir() or not shutil.which("rg") or not Path("/usr/bin/time").exists():
        raise SystemExit("needs ../shared/corpora/laws, ripgrep and GNU time (apt-get install ripgrep time)")
    work = args.work or Path(tempfile.mkdtemp(prefix="baomi-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    bench = Bench(work, args.rounds, {**os.environ, "PYTHONPATH": str(ROOT)})
    write_lines(work / "rg-terms-builtin.txt", builtin_terms())
    tables: dict[str, Callable[[], str]] = {
        "laws": bench.laws,
        "terms": bench.terms,
        "small": bench.small,
        "sweep": lambda: bench.sweep(args.max_mb),
        "dense": bench.dense,
        "startup": bench.startup,
        "json": bench.json,
        "matchers": bench.matchers,
    }
    load = os.getloadavg()[0]
    print(f"# Engine benchmark\n\n{os.cpu_count()} cores, load average {load:.1f} at the start.\n")
    try:
        for name in args.only.split(","):
            print(f"## {name}\n\n{tables[name.strip()]()}\n", flush=True)
    finally:
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
