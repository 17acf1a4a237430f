"""Go's `time.Time` as templates see it: layouts by reference time ("2006-01-02 15:04:05").

Templates format and parse times with Go layouts, not strftime patterns, and print a time as
`2006-01-02 15:04:05.999999999 -0700 MST`. We keep the instant in integer nanoseconds with its
zone offset and name, and do the calendar arithmetic ourselves so that Go's zero time (year 1)
and year 0 (a parsed layout without a year) work. The server's local zone is UTC.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

NS_PER_SECOND = 1_000_000_000
_ZERO_TIME_SECONDS = -62135596800  # 0001-01-01T00:00:00Z

MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
WEEKDAYS = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")


def days_from_civil(year: int, month: int, day: int) -> int:
    """Days since 1970-01-01 of a proleptic Gregorian date (any year)."""
    year -= month <= 2
    era = year // 400
    yoe = year - era * 400
    doy = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def civil_from_days(days: int) -> tuple[int, int, int]:
    days += 719468
    era = days // 146097
    doe = days - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = mp + (3 if mp < 10 else -9)
    return yoe + era * 400 + (month <= 2), month, day


@dataclass(frozen=True, slots=True)
class GoTime:
    """An instant (`ns` since the Unix epoch) seen in a zone (`offset` seconds east, `zone`)."""

    ns: int
    offset: int = 0
    zone: str = "UTC"

    def unix(self) -> int:
        return self.ns // NS_PER_SECOND

    def is_zero(self) -> bool:
        return self.ns == _ZERO_TIME_SECONDS * NS_PER_SECOND

    def fields(self) -> _Fields:
        local = self.ns // NS_PER_SECOND + self.offset
        days, secs = divmod(local, 86400)
        year, month, day = civil_from_days(days)
        yday = days - days_from_civil(year, 1, 1) + 1
        return _Fields(
            year,
            month,
            day,
            secs // 3600,
            secs // 60 % 60,
            secs % 60,
            self.ns % NS_PER_SECOND,
            (days + 4) % 7,
            yday,
        )

    def __str__(self) -> str:
        return format_time(self, "2006-01-02 15:04:05.999999999 -0700 MST")


@dataclass(frozen=True, slots=True)
class _Fields:
    year: int
    month: int
    day: int
    hour: int
    minute: int
    second: int
    nanos: int
    weekday: int
    yday: int


ZERO_TIME = GoTime(_ZERO_TIME_SECONDS * NS_PER_SECOND)


def in_zone(ns: int, zone: str) -> GoTime:
    """The instant seen in an IANA zone ("UTC", "Local" and unknown names read as UTC)."""
    tz = _zone(zone)
    if tz is None:
        return GoTime(ns)
    seconds = ns // NS_PER_SECOND
    if not -62135596800 < seconds < 253402300799:
        return GoTime(ns)
    moment = datetime.fromtimestamp(seconds, tz)
    offset = moment.utcoffset()
    return GoTime(ns, int(offset.total_seconds()) if offset else 0, moment.tzname() or "")


@lru_cache(maxsize=64)
def _zone(name: str) -> ZoneInfo | None:
    if name in ("", "UTC", "Local"):
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


# ---------------------------------------------------------------- layouts

_STD_PREFIXES = (
    "January",
    "Jan",
    "Monday",
    "Mon",
    "MST",
    "2006",
    "002",
    "__2",
    "_2",
    "01",
    "02",
    "03",
    "04",
    "05",
    "06",
    "15",
    "1",
    "2",
    "3",
    "4",
    "5",
    "PM",
    "pm",
    "-07:00:00",
    "-070000",
    "-07:00",
    "-0700",
    "-07",
    "Z07:00:00",
    "Z070000",
    "Z07:00",
    "Z0700",
    "Z07",
)
_FRACTION = re.compile(r"[.,](0+|9+)(?![0-9])")


@lru_cache(maxsize=256)
def layout_chunks(layout: str) -> tuple[tuple[bool, str], ...]:
    """Splits a layout into (is_std, text) chunks; std chunks name a time element."""
    chunks: list[tuple[bool, str]] = []
    literal: list[str] = []
    i = 0
    while i < len(layout):
        std = _std_at(layout, i)
        if std is None:
            literal.append(layout[i])
            i += 1
            continue
        if literal:
            chunks.append((False, "".join(literal)))
            literal = []
        chunks.append((True, std))
        i += len(std)
    if literal:
        chunks.append((False, "".join(literal)))
    return tuple(chunks)


def _std_at(layout: str, i: int) -> str | None:
    frac = _FRACTION.match(layout, i)
    if frac:
        return frac.group(0)
    for prefix in _STD_PREFIXES:
        if layout.startswith(prefix, i):
            if prefix in ("_2", "__2") and layout.startswith("2006", i + len(prefix) - 1):
                continue  # "_2006" is an underscore and a year
            return prefix
    return None


def _has_seconds(zone_body: str) -> bool:
    return len(zone_body.replace(":", "")) == 6


def _zone_text(offset: int, std: str) -> str:
    if std.startswith("Z") and offset == 0:
        return "Z"
    sign = "-" if offset < 0 else "+"
    hours, rest = divmod(abs(offset), 3600)
    minutes, seconds = divmod(rest, 60)
    body = std[1:]
    if body == "07":
        return f"{sign}{hours:02d}"
    sep = ":" if ":" in body else ""
    text = f"{sign}{hours:02d}{sep}{minutes:02d}"
    return text + (f"{sep}{seconds:02d}" if _has_seconds(body) else "")


_FORMATTERS: dict[str, Callable[[GoTime, _Fields], str]] = {
    "January": lambda t, f: MONTHS[f.month - 1],
    "Jan": lambda t, f: MONTHS[f.month - 1][:3],
    "Monday": lambda t, f: WEEKDAYS[f.weekday],
    "Mon": lambda t, f: WEEKDAYS[f.weekday][:3],
    "2006": lambda t, f: f"{f.year:04d}",
    "06": lambda t, f: f"{f.year % 100:02d}",
    "1": lambda t, f: str(f.month),
    "01": lambda t, f: f"{f.month:02d}",
    "2": lambda t, f: str(f.day),
    "_2": lambda t, f: f"{f.day:2d}",
    "02": lambda t, f: f"{f.day:02d}",
    "__2": lambda t, f: f"{f.yday:3d}",
    "002": lambda t, f: f"{f.yday:03d}",
    "15": lambda t, f: f"{f.hour:02d}",
    "3": lambda t, f: str(f.hour % 12 or 12),
    "03": lambda t, f: f"{f.hour % 12 or 12:02d}",
    "4": lambda t, f: str(f.minute),
    "04": lambda t, f: f"{f.minute:02d}",
    "5": lambda t, f: str(f.second),
    "05": lambda t, f: f"{f.second:02d}",
    "PM": lambda t, f: "PM" if f.hour >= 12 else "AM",
    "pm": lambda t, f: "pm" if f.hour >= 12 else "am",
    "MST": lambda t, f: t.zone or _zone_text(t.offset, "-0700"),
}


def _format_std(std: str, t: GoTime, f: _Fields) -> str:
    formatter = _FORMATTERS.get(std)
    if formatter is not None:
        return formatter(t, f)
    if std[0] in ".,":
        digits = f"{f.nanos:09d}"[: len(std) - 1]
        if std[1] == "9":
            digits = digits.rstrip("0")
            return std[0] + digits if digits else ""
        return std[0] + digits
    return _zone_text(t.offset, std)


def format_time(t: GoTime, layout: str) -> str:
    """`Time.Format(layout)`."""
    f = t.fields()
    return "".join(_format_std(text, t, f) if std else text for std, text in layout_chunks(layout))


# ---------------------------------------------------------------- parsing

_MONTH_RE = "|".join(MONTHS)
_DAY_RE = "|".join(WEEKDAYS)
_PARSE_PATTERNS = {
    "January": f"(?P<month_name>(?i:{_MONTH_RE}))",
    "Jan": f"(?P<month_abbr>(?i:{'|'.join(m[:3] for m in MONTHS)}))",
    "Monday": f"(?i:{_DAY_RE})",
    "Mon": f"(?i:{'|'.join(d[:3] for d in WEEKDAYS)})",
    "2006": r"(?P<year>\d{4})",
    "06": r"(?P<year2>\d{2})",
    "1": r"(?P<month>\d{1,2})",
    "01": r"(?P<month>\d{2})",
    "2": r"(?P<day>\d{1,2})",
    "_2": r" ?(?P<day>\d{1,2})",
    "02": r"(?P<day>\d{2})",
    "__2": r" {0,2}(?P<yday>\d{1,3})",
    "002": r"(?P<yday>\d{3})",
    "15": r"(?P<hour>\d{1,2})",
    "3": r"(?P<hour12>\d{1,2})",
    "03": r"(?P<hour12>\d{2})",
    "4": r"(?P<minute>\d{1,2})",
    "04": r"(?P<minute>\d{2})",
    "5": r"(?P<second>\d{1,2})",
    "05": r"(?P<second>\d{2})",
    "PM": r"(?P<ampm>AM|PM)",
    "pm": r"(?P<ampm>am|pm)",
    "MST": r"(?P<zone_name>[A-Z]{3,5}|GMT[+-]\d{1,2})",
}


def _zone_pattern(std: str) -> str:
    body = std[1:]
    sep = ":" if ":" in body else ""
    if body == "07":
        numeric = r"[+-]\d{2}"
    elif _has_seconds(body):
        numeric = rf"[+-]\d{{2}}{sep}\d{{2}}{sep}\d{{2}}"
    else:
        numeric = rf"[+-]\d{{2}}{sep}\d{{2}}"
    return f"(?P<zone>Z|{numeric})" if std[0] == "Z" else f"(?P<zone>{numeric})"


@lru_cache(maxsize=256)
def _parse_regex(layout: str) -> re.Pattern[str]:
    parts: list[str] = []
    chunks = layout_chunks(layout)
    for index, (std, text) in enumerate(chunks):
        if not std:
            parts.append(" +".join(re.escape(p) for p in re.split(r" +", text)))
        elif text[0] in ".,":
            width = f"{{{len(text) - 1}}}" if text[1] == "0" else "+"
            group = rf"[.,](?P<frac>\d{width})"
            parts.append(group if text[1] == "0" else f"(?:{group})?")
        elif text in _PARSE_PATTERNS:
            parts.append(_PARSE_PATTERNS[text])
            following = chunks[index + 1] if index + 1 < len(chunks) else (False, "")
            if text in ("5", "05") and not (following[0] and following[1][0] in ".,"):
                # Go accepts fractional seconds the layout does not mention.
                parts.append(r"(?:[.,](?P<frac>\d+))?")
        else:
            parts.append(_zone_pattern(text))
    try:
        return re.compile("".join(parts))
    except re.error as exc:  # a layout naming one element twice
        raise ValueError(f"parsing time: bad layout {go_quote_layout(layout)}") from exc


def go_quote_layout(layout: str) -> str:
    return '"' + layout.replace('"', '\\"') + '"'


def _offset_of(groups: dict[str, str | None]) -> int | None:
    zone = groups.get("zone")
    if zone is None or zone == "Z":
        return 0 if zone == "Z" else None
    sign = -1 if zone[0] == "-" else 1
    digits = zone[1:].replace(":", "")
    hours, minutes, seconds = int(digits[:2]), int(digits[2:4] or 0), int(digits[4:6] or 0)
    return sign * (hours * 3600 + minutes * 60 + seconds)


def _int(groups: dict[str, str | None], name: str, default: int) -> int:
    text = groups.get(name)
    return int(text) if text else default


def _date_of(g: dict[str, str | None]) -> tuple[int, int, int]:
    year = _int(g, "year", 0)
    if g.get("year2"):
        short = _int(g, "year2", 0)
        year = short + (1900 if short >= 69 else 2000)
    month = _int(g, "month", 1)
    name = (g.get("month_name") or g.get("month_abbr") or "").lower()
    if name:
        month = next(i for i, m in enumerate(MONTHS, 1) if m.lower().startswith(name))
    if not 1 <= month <= 12:
        raise ValueError("parsing time: month out of range")
    if g.get("yday") and not g.get("day"):
        return civil_from_days(days_from_civil(year, 1, 1) + _int(g, "yday", 1) - 1)
    day = _int(g, "day", 1)
    if not 1 <= day <= _days_in_month(year, month):
        raise ValueError("parsing time: day out of range")
    return year, month, day


def _days_in_month(year: int, month: int) -> int:
    return days_from_civil(year + month // 12, month % 12 + 1, 1) - days_from_civil(year, month, 1)


def _clock_of(g: dict[str, str | None]) -> tuple[int, int, int, int]:
    hour = _int(g, "hour", 0)
    if g.get("hour12"):
        hour = _int(g, "hour12", 0)
        if not 1 <= hour <= 12:
            raise ValueError("parsing time: hour out of range")
        hour = hour % 12 + (12 if (g.get("ampm") or "").upper() == "PM" else 0)
    minute, second = _int(g, "minute", 0), _int(g, "second", 0)
    if hour > 23 or minute > 59 or second > 59:
        raise ValueError("parsing time: time out of range")
    frac = (g.get("frac") or "")[:9].ljust(9, "0")
    return hour, minute, second, int(frac)


def parse_time(layout: str, value: str, zone: str = "UTC") -> GoTime:
    """`time.ParseInLocation(layout, value, zone)`; raises ValueError when it does not fit."""
    match = _parse_regex(layout).fullmatch(value)
    if match is None:
        raise ValueError(f'parsing time "{value}" as "{layout}": cannot parse')
    groups = match.groupdict()
    year, month, day = _date_of(groups)
    hour, minute, second, nanos = _clock_of(groups)
    wall = days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second
    offset = _offset_of(groups)
    if offset is not None:
        return GoTime(
            (wall - offset) * NS_PER_SECOND + nanos, offset, groups.get("zone_name") or ""
        )
    name = groups.get("zone_name")
    if name and name not in ("UTC", "GMT"):
        return GoTime(wall * NS_PER_SECOND + nanos, 0, name)
    return _local_wall(wall, nanos, zone)


def _local_wall(wall: int, nanos: int, zone: str) -> GoTime:
    """A wall-clock time read in `zone`: the offset the zone had then."""
    tz = _zone(zone)
    if tz is None:
        return GoTime(wall * NS_PER_SECOND + nanos)
    guess = in_zone(wall * NS_PER_SECOND, zone)
    first = in_zone((wall - guess.offset) * NS_PER_SECOND + nanos, zone)
    return in_zone((wall - first.offset) * NS_PER_SECOND + nanos, zone)
