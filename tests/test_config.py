"""One typed loader for every table of a configuration file: an unknown table or key, or a value of the wrong type,
is a ConfigError that names the file, the table and the key; relative paths are relative to the file."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from scanner.config import DOOR_TABLES, AuditTable, ConfigError, IcapTable, MailTable, WatchTable, WebTable
from scanner.policy import load_config


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "baomi.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[actoins]\nstate-secret = "flag"\n', "There is no table [actoins]. Did you mean “actions”?"),
        ('[watch]\nsettle = "soon"\n', "[watch] settle: expected a number, not 'soon'"),
        ("[watch]\nsettle = -1\n", "[watch] settle: expected 0 seconds or more, not -1"),
        ("[watch]\njobs = 2.5\n", "[watch] jobs: expected a whole number, not 2.5"),
        ('[watch]\ntemporary = "*.tmp"\n', "[watch] temporary: expected a list (each a string), not '*.tmp'"),
        ("[watch]\ntemporary = [1]\n", "[watch] temporary #1: expected a string, not 1."),
        ('[[watch.outbox]]\npath = "a"\nreleased = "b"\n', "[watch.outbox #1] needs review."),
        ('[mail]\non_error = "accept"\n', "[mail] on_error: expected 'tempfail' or 'reject', not 'accept'"),
        ('[mail]\npass_header = "yes"\n', "[mail] pass_header: expected true or false, not 'yes'"),
        ('[[web.token]]\nname = "cms"\ntoken = "short"\n', "[web.token #1] token: A token has at least 16 characters."),
        ("[icap]\nport = 70000\n", "[icap] port: expected 1 to 65535, not 70000"),
        ('[audit]\npaht = "x.db"\n', "[audit] has an unknown key “paht”. Did you mean “path”?"),
        ("[actions]\ninternal = 3\n", "[actions] internal: expected 'pass', 'flag' or 'block', not 3"),
        ('[channels.mial.actions]\ninternal = "pass"\n', "There is no table [channels.mial]. Did you mean “mail”?"),
        ('[channels.web-proxy]\nflag = "pass"\n', "[channels.web-proxy] flag: expected 'flag' or 'block'"),
        ("[thresholds]\nroster = true\n", "[thresholds] roster: expected a whole number, not True"),
        ("actions = 3\n", "[actions]: expected a table, not 3"),
    ],
)
def test_a_configuration_that_cannot_be_used_names_the_file_and_the_key(
    tmp_path: Path, text: str, message: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    assert str(raised.value).startswith(f"{path}: ")
    assert message in str(raised.value)


def test_every_door_table_is_registered_in_one_place() -> None:
    assert {name: schema.__name__ for name, schema in DOOR_TABLES.items()} == {
        "audit": "AuditTable",
        "index": "IndexTable",
        "watch": "WatchTable",
        "mail": "MailTable",
        "web": "WebTable",
        "icap": "IcapTable",
        "i18n": "LanguageTable",
        "registry": "RegistryTable",
        "clamd": "ClamdTable",
    }


def test_a_door_without_its_table_gets_the_tables_defaults() -> None:
    config = load_config()
    assert config.table(WatchTable) == WatchTable()
    assert config.table(MailTable).listen == "inet:10025@127.0.0.1"
    assert (config.table(WebTable).workers, config.table(IcapTable).port) == (None, 1344)


def test_relative_paths_are_relative_to_the_configuration_file(tmp_path: Path) -> None:
    text = '[audit]\npath = "logs/audit.db"\n[[watch.outbox]]\npath = "out"\nreleased = "r"\nreview = "v"\n'
    config = load_config(write(tmp_path, text + 'quarantine = "/srv/q"\n[watch]\njournal = "j.db"\n'))
    assert config.table(AuditTable).path == tmp_path / "logs" / "audit.db"
    [outbox] = config.table(WatchTable).outbox
    assert (outbox.path, outbox.quarantine) == (tmp_path / "out", Path("/srv/q"))
    assert config.table(WatchTable).journal == tmp_path / "j.db"


def test_one_outbox_may_be_written_as_a_single_table(tmp_path: Path) -> None:
    text = '[watch.outbox]\npath = "o"\nreleased = "r"\nreview = "v"\nquarantine = "q"\nchannel = "mail"\n'
    [outbox] = load_config(write(tmp_path, text)).table(WatchTable).outbox
    assert outbox.channel == "mail"


def test_a_bad_watch_argument_run_as_a_module_is_a_message_not_a_traceback(tmp_path: Path) -> None:
    """`python -m scanner.cli` runs cli.py as __main__; the door's errors are still the command line's errors."""
    config = write(tmp_path, '[watch]\nsettle = "soon"\n')
    for argv in (["watch", str(tmp_path)], ["watch", "--config", str(config), str(tmp_path)]):
        result = subprocess.run(
            [sys.executable, "-m", "scanner.cli", *argv], capture_output=True, text=True, timeout=120
        )
        assert result.returncode == 2
        assert result.stderr.startswith("baomi: ") and "Traceback" not in result.stderr
