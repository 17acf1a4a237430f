"""Label sets as sorted tuples: hashable, ordered the way Prometheus orders series."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping

Labels = tuple[tuple[str, str], ...]

METRIC_NAME = "__name__"
BUCKET_LABEL = "le"
EMPTY: Labels = ()


def from_mapping(labels: Mapping[str, str]) -> Labels:
    """Empty values are dropped: in Prometheus a label with an empty value does not exist."""
    return tuple(sorted((k, v) for k, v in labels.items() if v != ""))


def to_dict(labels: Labels) -> dict[str, str]:
    return dict(labels)


def get(labels: Labels, name: str) -> str:
    for key, value in labels:
        if key == name:
            return value
    return ""


def without(labels: Labels, names: Iterable[str]) -> Labels:
    drop = set(names)
    return tuple(pair for pair in labels if pair[0] not in drop)


def keep(labels: Labels, names: Iterable[str]) -> Labels:
    wanted = set(names)
    return tuple(pair for pair in labels if pair[0] in wanted)


def with_label(labels: Labels, name: str, value: str) -> Labels:
    rest = {k: v for k, v in labels if k != name}
    if value != "":
        rest[name] = value
    return from_mapping(rest)


def drop_name(labels: Labels) -> Labels:
    return without(labels, (METRIC_NAME,))


def _quote(value: str) -> str:
    # JSON escaping matches Go's strconv.Quote for the characters label values hold in practice.
    return json.dumps(value, ensure_ascii=False)


def format_labels(labels: Labels) -> str:
    """Prometheus's labels.String(): {a="1", b="2"}, the metric name included as __name__."""
    return "{" + ", ".join(f"{k}={_quote(v)}" for k, v in labels) + "}"
