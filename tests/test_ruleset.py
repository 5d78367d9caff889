"""The rule-set fingerprint: the same rules give the same fingerprint wherever they were written down; a change to
the policy or to any dictionary's content gives another."""

from __future__ import annotations

from pathlib import Path

from scanner.policy import load_config
from scanner.ruleset import baomi_version, rule_set


def config_file(folder: Path, text: str, name: str = "baomi.toml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(text, encoding="utf-8")
    return folder / name


def test_the_same_rules_give_the_same_fingerprint_wherever_they_are_written(tmp_path: Path) -> None:
    one = config_file(tmp_path / "a", '[actions]\ninternal = "block"\n')
    other = config_file(tmp_path / "b", '# the office\'s policy\n[actions]\n  internal = "block"\n', "other.toml")
    assert rule_set(load_config(one)).fingerprint == rule_set(load_config(other)).fingerprint


def test_a_change_of_policy_changes_the_fingerprint(tmp_path: Path) -> None:
    stricter = config_file(tmp_path, '[actions]\ninternal = "block"\n')
    default, changed = rule_set(load_config()), rule_set(load_config(stricter))
    assert default.policy != changed.policy
    assert default.fingerprint != changed.fingerprint


def test_a_change_to_a_dictionarys_content_changes_the_fingerprint(tmp_path: Path) -> None:
    codenames = tmp_path / "codenames.txt"
    codenames.write_text("天河七号\n", encoding="utf-8")
    before = rule_set(load_config().with_dictionaries([codenames]))
    codenames.write_text("天河七号\n北斗计划\n", encoding="utf-8")
    after = rule_set(load_config().with_dictionaries([codenames]))
    assert before.policy == after.policy
    assert before.fingerprint != after.fingerprint
    assert [d.terms for d in after.dictionaries if d.category == "codenames"] == [2]


def test_where_services_log_or_listen_is_not_part_of_the_rules(tmp_path: Path) -> None:
    doors = config_file(tmp_path, '[audit]\npath = "/var/lib/baomi/audit.db"\n[i18n]\nlanguage = "zh_CN"\n')
    assert rule_set(load_config(doors)).fingerprint == rule_set(load_config()).fingerprint


def test_the_rule_set_names_baomis_version_and_each_dictionary_with_its_title() -> None:
    rules = rule_set(load_config())
    assert rules.version == baomi_version() != ""
    tender = next(d for d in rules.dictionaries if d.category == "tender")
    assert tender.titles[""] == "招投标信息"
    assert tender.terms > 5 and len(tender.sha256) == 64
    assert len(rules.fingerprint) == 16
