"""The rule set a verdict was reached under, as a fingerprint: baomi's version, the effective policy, the content of
every dictionary and what the registry of secrets holds. Two scans with one fingerprint judged by the same rules;
reports and records carry it, and a scan index reuses a report only under the fingerprint it was made under.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from scanner import cache
from scanner.database import is_url
from scanner.dictionaries import FORMAT as DICTIONARY_FORMAT
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
    registry: str  # which store of registered secrets, at which generation (registrations change it); "" for none
    fingerprint: str  # SHA-256 of all of the above, 16 hex digits
    registry_files: tuple[Path, ...] = ()  # the registry's SQLite file and its write-ahead log, for doors to watch


def baomi_version() -> str:
    return cache.installed_version("baomi") or "unknown"  # unknown: a source tree that was never installed


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
        sha256 = hashlib.sha256(text.encode()).hexdigest()
        dictionaries.append(
            DictionaryFile(
                category=path.stem,
                path=str(path),
                terms=term_count(path, text, sha256),
                sha256=sha256,
                titles=parse_titles(text),
            )
        )
    version, policy = baomi_version(), policy_digest(config)
    registry, files = registry_state(config)
    digest = hashlib.sha256(f"baomi {version}\npolicy {policy}\nregistry {registry}\n".encode())
    for each in dictionaries:
        digest.update(f"dictionary {each.category} {each.sha256}\n".encode())
    return RuleSet(version, policy, tuple(dictionaries), registry, digest.hexdigest()[:16], files)


def term_count(path: Path, text: str, sha256: str) -> int:
    """How many terms the dictionary `text` (at `path`, whose SHA-256 is `sha256`) holds: parsed, and so checked,
    once for each content, then kept in baomi's cache. Every scan and every reload check asks, and parsing normalises
    each term (0.3 s for 100,000 terms); a text that parsed once parses the same again."""
    name = f"terms-{DICTIONARY_FORMAT}-{sha256[:32]}.count"
    count = cache.load(name)
    if not isinstance(count, int):
        count = len(parse_dictionary(text, path))
        cache.save(name, count)
    return count


def registry_state(config: Config) -> tuple[str, tuple[Path, ...]]:
    """The store of registered secrets `config` names, by location, key and generation (each registration or removal
    makes a new one), and the files a door watches to see it change; ("", ()) where nothing was ever registered."""
    from scanner.registry.settings import registry_settings

    settings = registry_settings(config)
    if not settings.exists():
        return "", ()
    from scanner.registry.store import open_store  # numpy: only where something is registered

    store = open_store(settings.store)
    try:
        state = f"{store.location}\0{store.meta('key_id') or ''}\0{store.generation()}"
    finally:
        store.close()
    files = () if is_url(settings.store) else (Path(settings.store), Path(settings.store + "-wal"))
    return hashlib.sha256(state.encode()).hexdigest()[:12], files
