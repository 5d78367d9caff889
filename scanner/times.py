"""Times: stored in UTC as ISO 8601 with the offset (2026-05-01T03:04:05+00:00), shown to people in the local
zone with the zone named (2026-05-01 11:04:05 Asia/Shanghai). The local zone is $TZ's, else the machine's.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

LOCALTIME = Path("/etc/localtime")  # a link into the zoneinfo database, as timedatectl and Debian's tzdata set it
_UTC_NAMES = {"UTC", "Etc/UTC", "Etc/UCT", "UCT", "Universal", "Etc/Universal", "Zulu", "Etc/Zulu", "GMT", "Etc/GMT"}


def now() -> datetime:
    return datetime.now(UTC)


def moment(timestamp: float) -> datetime:
    """A POSIX timestamp (time.time(), a log record's `created`) as an aware datetime."""
    return datetime.fromtimestamp(timestamp, UTC)


def stored(moment: datetime | None = None) -> str:
    """`moment` (default: now) as it is stored: UTC, ISO 8601, to the second, with its offset."""
    return (moment or now()).astimezone(UTC).isoformat(timespec="seconds")


def parse(text: str) -> datetime:
    """A stored time back as an aware datetime; one written without an offset is taken as UTC, as baomi stores."""
    moment = datetime.fromisoformat(text.strip())
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def local_zone() -> tzinfo:
    """The zone to show times in: $TZ (a zone name such as Asia/Shanghai, or a POSIX rule such as CST-8; empty is
    UTC), else the machine's /etc/localtime, else what the C library says."""
    configured = os.environ.get("TZ")
    if configured == "":
        return UTC
    key = _zone_key(configured.removeprefix(":") if configured is not None else _link(LOCALTIME))
    if key:
        try:
            return ZoneInfo(key)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    return datetime.now().astimezone().tzinfo or UTC  # a POSIX rule in $TZ, read by the C library


def zone_name(moment: datetime) -> str:
    """The name of `moment`'s zone for a reader: its zoneinfo name (Asia/Shanghai), UTC, or its offset (UTC+08:00)."""
    key = getattr(moment.tzinfo, "key", None)
    if key in _UTC_NAMES or (moment.utcoffset() == timedelta(0) and not key):
        return "UTC"
    if key:
        return str(key)
    offset = moment.strftime("%z")
    return f"UTC{offset[:3]}:{offset[3:]}"


def shown(moment: datetime | str, zone: tzinfo | None = None) -> str:
    """A stored time (or an aware datetime) as a person reads it: in the local zone, to the second, zone named."""
    aware = parse(moment) if isinstance(moment, str) else moment
    local = aware.astimezone(zone or local_zone())
    return f"{local:%Y-%m-%d %H:%M:%S} {zone_name(local)}"


def _zone_key(name: str) -> str:
    """The zoneinfo name in a zone name or in a path into the zoneinfo database (…/zoneinfo/Asia/Shanghai)."""
    _before, found, key = name.partition("zoneinfo/")
    if found:
        return key.removeprefix("posix/").removeprefix("right/")
    return "" if name.startswith((".", "/")) else name


def _link(path: Path) -> str:
    """Where the link `path` points, as it was set (one step, as systemd reads it: PRC stays PRC)."""
    try:
        return os.readlink(path)
    except OSError:
        return ""
