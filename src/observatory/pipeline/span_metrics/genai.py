"""GenAI client metrics derived from GenAI spans (those with `gen_ai.operation.name`).

Many clients trace their model calls but send no GenAI metrics; deriving the metrics from the
spans gives every such client token, latency and time-to-first-token histograms. Every derived
series carries `source="spans"` and `service`, so it never merges with a series a client sends
itself under the same name.

Time to first token is `gen_ai.response.time_to_first_chunk` (seconds) when the span has it;
otherwise the time from the span's start to its earliest event named `gen_ai.content.completion`
or `gen_ai.choice`, or ending in `first_token`. It is recorded for spans not in error only, as
the semantic conventions ask of `gen_ai.server.time_to_first_token`.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from observatory.pipeline.span_metrics.columns import (
    NS_PER_SECOND,
    SPAN,
    Column,
    duration_seconds,
    histogram_groups,
    number_attribute,
    text_attribute,
    text_or_empty,
)
from observatory.pipeline.span_metrics.names import (
    OPERATION_DURATION,
    SOURCE_LABEL,
    STATUS_ERROR,
    TIME_TO_FIRST_TOKEN,
    TOKEN_USAGE,
    Family,
)
from observatory.pipeline.span_metrics.registry import Increment, Labels

OPERATION = "gen_ai.operation.name"
# Label name, then the attribute keys it is read from, first found wins: the provider was
# `gen_ai.system` before the conventions renamed it.
_LABEL_ATTRIBUTES = (
    ("gen_ai_operation_name", (OPERATION,)),
    ("gen_ai_provider_name", ("gen_ai.provider.name", "gen_ai.system")),
    ("gen_ai_request_model", ("gen_ai.request.model",)),
    ("gen_ai_response_model", ("gen_ai.response.model",)),
)
_TOKEN_TYPES = (("input", "gen_ai.usage.input_tokens"), ("output", "gen_ai.usage.output_tokens"))
_FIRST_CHUNK_ATTRIBUTE = "gen_ai.response.time_to_first_chunk"
_FIRST_TOKEN_EVENTS = pa.array(["gen_ai.content.completion", "gen_ai.choice"], pa.string())
_FIRST_TOKEN_SUFFIX = "first_token"
_ERROR_FALLBACK = "_OTHER"

Keys = dict[str, Column]


class GenAiMetrics:
    def increments(self, spans: pa.Table) -> list[Increment]:
        operation = pc.map_lookup(spans.column(SPAN), OPERATION, "first")
        if operation.null_count == len(operation):
            return []
        genai = spans.filter(pc.is_valid(operation))
        keys = _keys(genai)
        out = _duration(genai, keys)
        for token_type, attribute in _TOKEN_TYPES:
            tokens = number_attribute(genai, attribute)
            out += _histogram(TOKEN_USAGE, keys, tokens, (("gen_ai_token_type", token_type),))
        ttft = time_to_first_token(genai)
        failed = pc.equal(genai.column("status_code"), STATUS_ERROR).to_numpy(zero_copy_only=False)
        ttft[np.asarray(failed, dtype=bool)] = np.nan
        return out + _histogram(TIME_TO_FIRST_TOKEN, keys, ttft)


def _keys(genai: pa.Table) -> Keys:
    keys: Keys = {
        "tenant": genai.column("tenant"),
        "service": text_or_empty(genai.column("service_name")),
    }
    for label, attributes in _LABEL_ATTRIBUTES:
        found = [text_attribute(genai, key) for key in attributes]
        keys[label] = text_or_empty(found[0] if len(found) == 1 else pc.coalesce(*found))
    return keys


def _duration(genai: pa.Table, keys: Keys) -> list[Increment]:
    # `error.type` is conditionally required on the duration: when the operation failed.
    declared = text_attribute(genai, "error.type")
    failed = pc.equal(genai.column("status_code"), STATUS_ERROR)
    fallback = pc.if_else(failed, pa.scalar(_ERROR_FALLBACK), pa.scalar(""))
    with_error = {**keys, "error_type": pc.coalesce(declared, fallback)}
    return _histogram(OPERATION_DURATION, with_error, duration_seconds(genai))


def _histogram(
    family: Family, keys: Keys, values: np.ndarray, extra: Labels = ()
) -> list[Increment]:
    """Increments of one family from the rows whose value is a number."""
    chosen = ~np.isnan(values)
    if not chosen.any():
        return []
    mask = pa.array(chosen, pa.bool_())
    selected = {name: pc.filter(column, mask) for name, column in keys.items()}
    names = list(selected)[1:]
    out: list[Increment] = []
    for (tenant, *label_values), bucket, count, total in histogram_groups(
        selected, values[chosen], family.bounds
    ):
        pairs = tuple((n, str(v)) for n, v in zip(names, label_values, strict=True) if v)
        out.append(Increment(tenant, family, (*pairs, *extra, SOURCE_LABEL), count, bucket, total))
    return out


def time_to_first_token(genai: pa.Table) -> np.ndarray:
    """Seconds to the first token of each span; NaN where it cannot be told."""
    declared = number_attribute(genai, _FIRST_CHUNK_ATTRIBUTE)
    return np.where(np.isnan(declared), _first_token_event(genai), declared)


def _first_token_event(genai: pa.Table) -> np.ndarray:
    out = np.full(genai.num_rows, np.nan)
    rows, first_ns = _first_token_event_times(genai)
    if len(rows):
        starts = np.asarray(pc.cast(genai.column("start_time"), pa.int64()).to_numpy())
        # Subtract as integers: epoch nanoseconds are past float64's exact range.
        elapsed = (first_ns - starts[rows]).astype(np.float64)
        out[rows] = np.where(elapsed >= 0, elapsed / NS_PER_SECOND, np.nan)
    return out


def _first_token_event_times(genai: pa.Table) -> tuple[np.ndarray, np.ndarray]:
    """The rows with a first-token event, and the time of each one's earliest."""
    events = genai.column("events").combine_chunks()
    flat = pc.list_flatten(events)
    names = flat.field("name")
    matches = pc.or_(
        pc.is_in(names, value_set=_FIRST_TOKEN_EVENTS), pc.ends_with(names, _FIRST_TOKEN_SUFFIX)
    )
    rows = pa.table({"row": pc.list_parent_indices(events), "time": flat.field("time_unix_nano")})
    first = rows.filter(matches).group_by("row", use_threads=False).aggregate([("time", "min")])
    return (
        np.asarray(first.column("row").to_numpy(), dtype=np.int64),
        np.asarray(first.column("time_min").to_numpy(), dtype=np.int64),
    )
