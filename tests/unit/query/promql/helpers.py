"""Small builders shared by the PromQL unit tests."""

from __future__ import annotations

from collections.abc import Sequence

from observatory.query.promql import InMemorySource, PromqlEngine

MINUTE = 60_000


def engine_with(
    series: dict[str, Sequence[float | None]], step_ms: int = MINUTE, **kwargs: object
) -> tuple[PromqlEngine, InMemorySource]:
    """An engine over series written as {'name{a="b"}': [v0, v1, None, ...]} (None: no sample)."""
    source = InMemorySource()
    for text, values in series.items():
        source.add(
            parse_labels(text),
            [i * step_ms for i, v in enumerate(values) if v is not None],
            [v for v in values if v is not None],
        )
    return PromqlEngine(source, **kwargs), source  # type: ignore[arg-type]


def parse_labels(text: str) -> dict[str, str]:
    name, _, rest = text.partition("{")
    labels = {"__name__": name} if name else {}
    for pair in filter(None, rest.rstrip("}").split(",")):
        key, _, value = pair.partition("=")
        labels[key.strip()] = value.strip().strip('"')
    return labels


def vector(result: object) -> dict[tuple[tuple[str, str], ...], float]:
    """An instant vector result as {sorted labels: value}."""
    return {tuple(sorted(lbl.items())): v for lbl, _, v in result.data}  # type: ignore[attr-defined]


def values(result: object) -> dict[tuple[tuple[str, str], ...], list[float]]:
    """A matrix result as {sorted labels: values}."""
    return {tuple(sorted(lbl.items())): list(vs) for lbl, _, vs in result.data}  # type: ignore[attr-defined]
