"""`pip install .` from a fresh clone gives a baomi that has everything it reads at run time (the default policy,
the dictionaries, the page, the compiled catalogs), and building it prints no setuptools warnings."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.conftest import require

ROOT = Path(__file__).resolve().parent.parent
CHECK = """
import scanner, sys
from pathlib import Path
assert Path(scanner.__file__).is_relative_to(sys.argv[1]), scanner.__file__
from scanner.dictionaries import BUILTIN, dictionary_titles
from scanner.engine import Scanner
from scanner.i18n import msg, render
from scanner.policy import load_config
config = load_config()
assert Scanner(config).scan_bytes("机密★5年\\n".encode(), "a.txt").verdict.name == "BLOCK"
assert len(list(BUILTIN.glob("*.txt"))) >= 5, BUILTIN
assert dictionary_titles(config)["tender"][""] == "招投标信息"
assert render(msg("header"), "zh_CN") == "页眉"
assert (Path(scanner.__file__).parent / "doors" / "static" / "index.html").is_file()
print("ok")
"""


def fresh_clone(target: Path) -> Path:
    """The files git knows (and new ones not ignored), as a clone would have them, links kept as links."""
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source, copy = ROOT / name, target / name
        if not source.exists() and not source.is_symlink():
            continue  # deleted in the work tree, not yet in git
        copy.parent.mkdir(parents=True, exist_ok=True)
        if source.is_symlink():
            copy.symlink_to(os.readlink(source))
        else:
            shutil.copy2(source, copy)
    return target


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    require(shutil.which("git") is not None and (ROOT / ".git").exists(), "a git checkout of baomi")
    work = tmp_path_factory.mktemp("package")
    clone = fresh_clone(work / "clone")
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-v", "-w", str(work / "dist"), str(clone)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    (found,) = (work / "dist").glob("baomi-*.whl")
    return found, built.stdout + built.stderr


def test_the_wheel_carries_policy_dictionaries_page_and_catalogs(wheel: tuple[Path, str]) -> None:
    names = set(zipfile.ZipFile(wheel[0]).namelist())
    for needed in (
        "scanner/data/default.toml",
        "scanner/data/dictionaries/tender.txt",
        "scanner/doors/static/index.html",
        "scanner/doors/static/app.js",
        "scanner/locale/zh_CN/LC_MESSAGES/baomi.mo",
        "scanner/locale/en/LC_MESSAGES/baomi.mo",
    ):
        assert needed in names
    assert not [n for n in names if "__pycache__" in n or n.endswith(".po")]


def test_building_prints_no_setuptools_warnings(wheel: tuple[Path, str]) -> None:
    warnings = [line for line in wheel[1].splitlines() if "Warning" in line]  # BuildBackendWarning, ...: not WARNING
    assert warnings == []


def test_the_installed_package_finds_what_it_reads_at_run_time(wheel: tuple[Path, str], tmp_path: Path) -> None:
    installed = tmp_path / "site"
    zipfile.ZipFile(wheel[0]).extractall(installed)
    env = {**os.environ, "PYTHONPATH": str(installed), "BAOMI_CACHE": str(tmp_path / "cache")}
    ran = subprocess.run(
        [sys.executable, "-c", CHECK, str(installed)], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert ran.stdout.strip() == "ok", ran.stderr
