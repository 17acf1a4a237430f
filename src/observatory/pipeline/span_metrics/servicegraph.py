"""`traces_service_graph_*`: requests between services, from client and server spans.

A request is a client (or producer) span and its server (or consumer) child in another
service: the child's `parent_span_id` is the client's `span_id`, in the same trace. The two
halves arrive in different requests, often seconds apart, so whichever comes first waits in a
bounded store per tenant, keyed by trace id and the client's span id, for the other. A half
still alone after the wait expires: a client span with a peer attribute becomes an edge to a
virtual node named from it, anything else is dropped. A root server span has no client to
wait for and becomes an edge from the virtual node `user` at once.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from observatory.pipeline.span_metrics.columns import (
    duration_seconds,
    present,
    text_attribute,
    text_or_empty,
)
from observatory.pipeline.span_metrics.names import (
    CLIENT_SECONDS,
    DATABASE,
    DROPPED_SPANS,
    FAILED_REQUESTS,
    KIND_CONSUMER,
    KIND_PRODUCER,
    KIND_SERVER,
    MESSAGING_SYSTEM,
    REQUESTS,
    SERVER_SECONDS,
    STATUS_ERROR,
    UNPAIRED_SPANS,
    USER_NODE,
    VIRTUAL_NODE,
)
from observatory.pipeline.span_metrics.registry import Labels, SeriesRegistry
from observatory.signals.spans import NO_SPAN_ID

_EDGE_KINDS = pa.array([2, 3, 4, 5], pa.int8())
_SERVER_KINDS = frozenset((KIND_SERVER, KIND_CONSUMER))
_MESSAGING_KINDS = frozenset((KIND_PRODUCER, KIND_CONSUMER))
_DATABASE_KEYS = ("db.namespace", "db.name", "db.system")


class EdgeSpan(NamedTuple):
    """What pairing needs of one client, server, producer or consumer span."""

    tenant: str
    trace_id: bytes
    span_id: bytes
    parent_span_id: bytes
    kind: int
    service: str
    seconds: float
    failed: bool
    # A client's fallback server node: peer.service, else db.namespace, db.name or db.system
    # for a database call and server.address for any other; "" when there is none.
    peer: str
    database: bool


@dataclass(slots=True)
class _Half:
    server: bool
    service: str
    seconds: float
    failed: bool
    messaging: bool
    database: bool
    peer: str
    arrived_ms: int


def edge_spans(spans: pa.Table) -> list[EdgeSpan]:
    """The spans of a table that can be one end of a request."""
    edges = spans.filter(pc.is_in(spans.column("kind"), value_set=_EDGE_KINDS))
    if not edges.num_rows:
        return []
    peer, database = _peers(edges)
    columns = [
        edges.column("tenant").to_pylist(),
        edges.column("trace_id").to_pylist(),
        edges.column("span_id").to_pylist(),
        edges.column("parent_span_id").to_pylist(),
        edges.column("kind").to_pylist(),
        text_or_empty(edges.column("service_name")).to_pylist(),
        duration_seconds(edges).tolist(),
        pc.equal(edges.column("status_code"), STATUS_ERROR).to_pylist(),
        peer.to_pylist(),
        database.tolist(),
    ]
    return [EdgeSpan(*row) for row in zip(*columns, strict=True)]


def _peers(edges: pa.Table) -> tuple[pa.Array, np.ndarray]:
    """Each span's virtual server node and whether it calls a database."""
    peer_service = text_attribute(edges, "peer.service")
    database_names = [text_attribute(edges, key) for key in _DATABASE_KEYS]
    database = np.logical_or.reduce([present(names) for names in database_names])
    database_node = pc.coalesce(peer_service, *database_names)
    other_node = pc.coalesce(peer_service, text_attribute(edges, "server.address"))
    peer = pc.if_else(pa.array(database, pa.bool_()), database_node, other_node)
    return text_or_empty(peer), database


def _edge_labels(client: str, server: str, connection_type: str) -> Labels:
    pairs = (("client", client), ("server", server), ("connection_type", connection_type))
    return tuple(pair for pair in pairs if pair[1])


def _virtual(name: str, seen: _Half) -> _Half:
    # The uninstrumented side is given the seen side's duration: Grafana reads an edge's
    # latency from the server histogram, which would otherwise stay empty for virtual servers.
    return _Half(not seen.server, name, seen.seconds, False, False, False, "", seen.arrived_ms)


class ServiceGraph:
    def __init__(self, wait_seconds: float, max_pending: int) -> None:
        self._wait_ms = int(wait_seconds * 1000)
        self._max_pending = max_pending
        self._pending: dict[str, OrderedDict[bytes, _Half]] = {}
        self.paired = 0
        self.expired = 0
        self.dropped = 0
        self.evicted = 0

    @property
    def pending(self) -> int:
        """Halves waiting for their other half, in every tenant."""
        return sum(len(store) for store in self._pending.values())

    def observe(self, spans: list[EdgeSpan], registry: SeriesRegistry, now_ms: int) -> None:
        for span in spans:
            server = span.kind in _SERVER_KINDS
            half = _Half(
                server,
                span.service,
                span.seconds,
                span.failed,
                span.kind in _MESSAGING_KINDS,
                span.database,
                span.peer,
                now_ms,
            )
            if server and span.parent_span_id == NO_SPAN_ID:
                self._edge(span.tenant, _virtual(USER_NODE, half), half, registry, VIRTUAL_NODE)
                continue
            key = span.trace_id + (span.parent_span_id if server else span.span_id)
            self._match(span.tenant, key, half, registry)

    def _match(self, tenant: str, key: bytes, half: _Half, registry: SeriesRegistry) -> None:
        store = self._pending.setdefault(tenant, OrderedDict())
        other = store.pop(key, None)
        if other is not None and other.server != half.server:
            client, server = (other, half) if half.server else (half, other)
            self.paired += 1
            self._edge(tenant, client, server, registry, _connection_type(client, server))
            return
        if other is not None:
            # One key holds one half: a second of the same side pushes the first out.
            self._expire_half(tenant, other, registry)
        if len(store) >= self._max_pending:
            _, oldest = store.popitem(last=False)
            self.evicted += 1
            self._expire_half(tenant, oldest, registry)
        store[key] = half

    def expire(self, registry: SeriesRegistry, now_ms: int) -> None:
        """Give up on every half that has waited its time."""
        deadline = now_ms - self._wait_ms
        for tenant, store in list(self._pending.items()):
            while store:
                key = next(iter(store))
                if store[key].arrived_ms > deadline:
                    break
                self._expire_half(tenant, store.pop(key), registry)
            if not store:
                del self._pending[tenant]

    def _expire_half(self, tenant: str, half: _Half, registry: SeriesRegistry) -> None:
        side = (("server" if half.server else "client", half.service),)
        labels = side if half.service else ()
        self.expired += 1
        registry.add(tenant, UNPAIRED_SPANS, labels, 1.0)
        if not half.server and half.peer:
            connection_type = DATABASE if half.database else VIRTUAL_NODE
            self._edge(tenant, half, _virtual(half.peer, half), registry, connection_type)
            return
        self.dropped += 1
        registry.add(tenant, DROPPED_SPANS, labels, 1.0)

    def _edge(
        self,
        tenant: str,
        client: _Half,
        server: _Half,
        registry: SeriesRegistry,
        connection_type: str,
    ) -> None:
        labels = _edge_labels(client.service, server.service, connection_type)
        registry.add(tenant, REQUESTS, labels, 1.0)
        if client.failed or server.failed:
            registry.add(tenant, FAILED_REQUESTS, labels, 1.0)
        registry.observe(tenant, SERVER_SECONDS, labels, server.seconds)
        registry.observe(tenant, CLIENT_SECONDS, labels, client.seconds)


def _connection_type(client: _Half, server: _Half) -> str:
    if client.messaging or server.messaging:
        return MESSAGING_SYSTEM
    return DATABASE if client.database else ""
