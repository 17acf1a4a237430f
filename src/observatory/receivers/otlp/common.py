"""What the three OTLP decoders share: attribute values, resources and limits."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from observatory.pipeline.processors import AttributeLimits, KeyValues, ResourceProcessor
from observatory.receivers.log_enrichment import IdExtractor, default_extractor
from observatory.signals.attributes import AttributeValue, KvList
from observatory.signals.batch import Signal, SignalBatch
from observatory.signals.columns import ScopeContext, ScopedColumns

UNKNOWN_SERVICE = "unknown_service"


def any_value(value: Any) -> AttributeValue:
    """A protobuf `AnyValue` as a plain Python value."""
    which = value.WhichOneof("value")
    if which == "string_value":
        return str(value.string_value)
    if which == "int_value":
        return int(value.int_value)
    if which == "double_value":
        return float(value.double_value)
    if which == "bool_value":
        return bool(value.bool_value)
    if which == "bytes_value":
        return bytes(value.bytes_value)
    if which == "array_value":
        return [any_value(v) for v in value.array_value.values]
    if which == "kvlist_value":
        return KvList(key_values(value.kvlist_value.values))
    return ""


def key_values(pairs: Iterable[Any]) -> KeyValues:
    """Protobuf `KeyValue`s as (key, value) pairs; string values take the fast path."""
    out: KeyValues = []
    for kv in pairs:
        value = kv.value
        if value.WhichOneof("value") == "string_value":
            out.append((kv.key, value.string_value))
        else:
            out.append((kv.key, any_value(value)))
    return out


@dataclass
class DecodeContext:
    """Per-request decoding state: who sends, which limits apply, what was refused."""

    tenant: str
    limits: AttributeLimits
    resources: ResourceProcessor
    rejected: int = 0
    dropped_attributes: int = 0
    reasons: list[str] = field(default_factory=list)
    ids: IdExtractor = field(default_factory=default_extractor)

    def reject(self, count: int, reason: str) -> None:
        self.rejected += count
        if reason not in self.reasons:
            self.reasons.append(reason)

    @property
    def rejection_message(self) -> str:
        return "; ".join(self.reasons)

    def resource(self, resource: Any) -> tuple[KeyValues, str] | None:
        """The processed resource attributes and service name, or None when refused."""
        attributes = self.resources.apply(key_values(resource.attributes))
        outcome = self.limits.apply(attributes)
        if outcome.violated and self.limits.reject:
            return None
        self.dropped_attributes += outcome.dropped
        return outcome.attributes, service_name(outcome.attributes)

    def item_attributes(self, pairs: Iterable[Any]) -> tuple[KeyValues, int] | None:
        """An item's attributes within limits and how many were dropped; None if refused."""
        outcome = self.limits.apply(key_values(pairs))
        if outcome.violated and self.limits.reject:
            return None
        self.dropped_attributes += outcome.dropped
        return outcome.attributes, outcome.dropped


def service_name(attributes: KeyValues) -> str:
    for key, value in attributes:
        if key == "service.name" and isinstance(value, str):
            return value
    return UNKNOWN_SERVICE


def scope_context(resource: tuple[KeyValues, str], scope: Any) -> ScopeContext:
    attributes, service = resource
    return ScopeContext(service, attributes, scope.name, scope.version)


REFUSED_RESOURCE = "resource over attribute limits"


def accepted_resources(
    ctx: DecodeContext, resource_groups: Iterable[Any], scopes: str, items: str
) -> Iterator[tuple[tuple[KeyValues, str], Any]]:
    """Each resource within limits (attributes, service name) with its scope groups.

    The OTLP shape is resource -> scope -> items under field names that differ per signal
    (`scope_spans`/`spans`, `scope_logs`/`log_records`). Items of a refused resource are
    counted as rejected and not yielded.
    """
    for group in resource_groups:
        resource = ctx.resource(group.resource)
        scoped_groups = getattr(group, scopes)
        if resource is None:
            for scoped in scoped_groups:
                ctx.reject(len(getattr(scoped, items)), REFUSED_RESOURCE)
            continue
        yield resource, scoped_groups


def scoped_items(
    ctx: DecodeContext,
    columns: ScopedColumns,
    resource_groups: Iterable[Any],
    scopes: str,
    items: str,
) -> Iterator[tuple[int, Any]]:
    """Every item of a request with its scope's index in `columns`."""
    for resource, scoped_groups in accepted_resources(ctx, resource_groups, scopes, items):
        for scoped in scoped_groups:
            scope = columns.add_scope(scope_context(resource, scoped.scope))
            for item in getattr(scoped, items):
                yield scope, item


def batch_of(signal: Signal, table: str, columns: ScopedColumns, ctx: DecodeContext) -> SignalBatch:
    tables = {table: columns.table()} if columns.rows else {}
    return SignalBatch(
        signal, ctx.tenant, tables, columns.rows, ctx.rejected, ctx.rejection_message
    )
