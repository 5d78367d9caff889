"""The rule set a verdict was reached under, as a fingerprint: baomi's version, the effective policy and the content
of every dictionary. Two scans with one fingerprint judged by the same rules; reports and records carry it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.metadata
import json
from dataclasses import dataclass

from scanner.dictionaries import dictionary_texts, parse_dictionary, parse_titles
from scanner.policy import Config

# Fields of Config that say where things are or how a door runs, not how a file is judged.
_NOT_RULES = ("tables", "origin", "dictionary_files")


@dataclass(frozen=True)
class DictionaryFile:
    category: str  # the file's stem
    path: str
    terms: int
    sha256: str  # of the text as read
    titles: dict[str, str]  # from the `# title:` header: "" is the default, else a language


@dataclass(frozen=True)
class RuleSet:
    version: str  # baomi's: the mark grammar, the detectors and the readers
    policy: str  # SHA-256 of the effective policy (actions, thresholds, allow-list, limits, OCR), 12 hex digits
    dictionaries: tuple[DictionaryFile, ...]
    fingerprint: str  # SHA-256 of all of the above, 16 hex digits


def baomi_version() -> str:
    try:
        return importlib.metadata.version("baomi")
    except importlib.metadata.PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


def policy_digest(config: Config) -> str:
    """The effective policy as canonical JSON, hashed: two configurations that judge alike digest alike, whichever
    files they were laid out in."""
    rules = {k: v for k, v in dataclasses.asdict(config).items() if k not in _NOT_RULES}
    canonical = json.dumps(rules, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:12]


def rule_set(config: Config) -> RuleSet:
    """The fingerprint of the rules `config` judges by (reads each dictionary file once)."""
    dictionaries = []
    for path, text in dictionary_texts(config):
        dictionaries.append(
            DictionaryFile(
                category=path.stem,
                path=str(path),
                terms=len(parse_dictionary(text, path)),
                sha256=hashlib.sha256(text.encode()).hexdigest(),
                titles=parse_titles(text),
            )
        )
    version, policy = baomi_version(), policy_digest(config)
    digest = hashlib.sha256(f"baomi {version}\npolicy {policy}\n".encode())
    for each in dictionaries:
        digest.update(f"dictionary {each.category} {each.sha256}\n".encode())
    return RuleSet(version, policy, tuple(dictionaries), digest.hexdigest()[:16])
