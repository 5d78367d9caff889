"""Times are stored in UTC with their offset and shown in the local zone, named: $TZ's, else the machine's."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from scanner import times

STORED = "2026-05-01T03:04:05+00:00"
Zone = Callable[[str | None], None]


@pytest.fixture
def zone(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str | None], None]]:
    """Set $TZ for one test (and tell the C library), then put it back."""

    def set_zone(value: str | None) -> None:
        if value is None:
            monkeypatch.delenv("TZ", raising=False)
        else:
            monkeypatch.setenv("TZ", value)
        time.tzset()

    yield set_zone
    monkeypatch.undo()
    time.tzset()


def test_a_time_is_stored_in_utc_iso_8601_with_its_offset() -> None:
    beijing = datetime(2026, 5, 1, 11, 4, 5, 999, tzinfo=ZoneInfo("Asia/Shanghai"))
    assert times.stored(beijing) == STORED
    assert times.stored().endswith("+00:00")


def test_a_stored_time_reads_back_as_the_same_moment() -> None:
    moment = times.parse(STORED)
    assert moment == datetime(2026, 5, 1, 3, 4, 5, tzinfo=UTC)
    assert times.parse("2026-05-01T11:04:05+08:00") == moment


def test_a_stored_time_without_an_offset_is_utc() -> None:
    assert times.parse("2026-05-01T03:04:05") == datetime(2026, 5, 1, 3, 4, 5, tzinfo=UTC)


def test_shown_in_shanghai_with_the_zone_named(zone: Zone) -> None:
    zone("Asia/Shanghai")
    assert times.shown(STORED) == "2026-05-01 11:04:05 Asia/Shanghai"


def test_tz_with_a_leading_colon_names_a_zone_too(zone: Zone) -> None:
    zone(":Asia/Shanghai")
    assert times.shown(STORED) == "2026-05-01 11:04:05 Asia/Shanghai"


def test_a_posix_rule_in_tz_is_shown_by_its_offset(zone: Zone) -> None:
    zone("CST-8")
    assert times.shown(STORED) == "2026-05-01 11:04:05 UTC+08:00"


def test_an_empty_tz_is_utc(zone: Zone) -> None:
    zone("")
    assert times.shown(STORED) == "2026-05-01 03:04:05 UTC"


@pytest.mark.parametrize(
    ("target", "zone_key"),
    [
        ("/usr/share/zoneinfo/Asia/Shanghai", "Asia/Shanghai"),
        ("../usr/share/zoneinfo/PRC", "PRC"),  # one step, as systemd reads it: PRC stays PRC
        ("/usr/share/zoneinfo/posix/Asia/Shanghai", "Asia/Shanghai"),
    ],
)
def test_without_tz_the_machines_zone_is_used_as_it_was_set(
    zone: Zone, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, target: str, zone_key: str
) -> None:
    zone(None)
    link = tmp_path / "localtime"
    link.symlink_to(target)
    monkeypatch.setattr(times, "LOCALTIME", link)
    assert times.local_zone() == ZoneInfo(zone_key)
    assert times.shown(STORED) == f"2026-05-01 11:04:05 {zone_key}"


def test_the_machines_zone_is_what_the_system_says(zone: Zone, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    zone(None)
    localtime = tmp_path / "localtime"  # as timedatectl set-timezone leaves /etc/localtime
    localtime.symlink_to("/usr/share/zoneinfo/Asia/Shanghai")
    monkeypatch.setattr(times, "LOCALTIME", localtime)
    assert times.shown(STORED) == "2026-05-01 11:04:05 Asia/Shanghai"


def test_a_time_with_a_fixed_offset_is_named_by_it() -> None:
    moment = datetime(2026, 5, 1, 3, 4, 5, tzinfo=UTC)
    assert times.shown(moment, timezone(timedelta(hours=8))) == "2026-05-01 11:04:05 UTC+08:00"
    assert times.shown(moment, timezone(timedelta(hours=-3, minutes=-30))) == "2026-04-30 23:34:05 UTC-03:30"
