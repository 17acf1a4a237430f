"""traces_service_graph_*: pairing across batches, virtual nodes, expiry, bounds."""

from __future__ import annotations

from observatory.pipeline.span_metrics import SpanMetricsGenerator, SpanMetricsSettings
from tests.unit.pipeline.span_metrics.helpers import SeriesKey, Span, key, latest, table

CLIENT, SERVER, PRODUCER, CONSUMER = 3, 2, 4, 5
WAIT_MS = 10_000


class Clock:
    def __init__(self) -> None:
        self.ms = 1_800_000_000_000

    def __call__(self) -> float:
        return self.ms / 1000


def _generator(clock: Clock, **settings: object) -> SpanMetricsGenerator:
    return SpanMetricsGenerator(SpanMetricsSettings(**settings), clock=clock)  # type: ignore[arg-type]


def _graph(generator: SpanMetricsGenerator, now_ms: int) -> dict[SeriesKey, float]:
    batches = generator.flush(now_ms)
    values: dict[SeriesKey, float] = {}
    for batch in batches:
        values.update(latest(batch))
    return {k: v for k, v in values.items() if k[0].startswith("traces_service_graph")}


def _caller(service: str = "gateway", **changes: object) -> Span:
    """A client span under a parent that is not root, so only the pair makes an edge."""
    return Span(service, "call", kind=CLIENT, parent_span_id=b"\x01" * 8, **changes)  # type: ignore[arg-type]


def test_client_and_server_pair_across_two_batches() -> None:
    clock = Clock()
    generator = _generator(clock)
    client = _caller(duration_ms=250)
    generator.observe(table([client]))
    clock.ms += 3_000
    generator.observe(table([client.child("api", SERVER, duration_ms=200, status=2)]))
    edge = {"client": "gateway", "server": "api"}
    assert _graph(generator, clock.ms) == {
        key("traces_service_graph_request_total", **edge): 1,
        key("traces_service_graph_request_failed_total", **edge): 1,
        **_histogram("traces_service_graph_request_server_seconds", edge, 0.2),
        **_histogram("traces_service_graph_request_client_seconds", edge, 0.25),
    }
    assert generator.stats.edges_paired == 1


def _histogram(name: str, labels: dict[str, str], seconds: float) -> dict[SeriesKey, float]:
    """The series of a histogram holding one value, with Tempo's service-graph buckets."""
    bounds = ("0.1", "0.2", "0.4", "0.8", "1.6", "3.2", "6.4", "12.8", "+Inf")
    out = {
        key(name + "_bucket", **labels, le=le): float(le == "+Inf" or seconds <= float(le))
        for le in bounds
    }
    out[key(name + "_sum", **labels)] = seconds
    out[key(name + "_count", **labels)] = 1
    return out


def test_server_first_then_client_pairs_and_leaves_nothing_waiting() -> None:
    clock = Clock()
    generator = _generator(clock)
    client = _caller()
    generator.observe(table([client.child("api", SERVER)], tenant="t1"))
    assert generator.stats.edges_pending == 1
    generator.observe(table([client], tenant="t1"))
    assert generator.stats.edges_pending == 0
    clock.ms += WAIT_MS * 2
    graph = _graph(generator, clock.ms)
    assert graph[key("traces_service_graph_request_total", client="gateway", server="api")] == 1
    assert generator.stats.edges_expired == 0


def test_the_same_ids_in_another_tenant_do_not_pair() -> None:
    clock = Clock()
    generator = _generator(clock)
    client = _caller()
    generator.observe(table([client], tenant="a"))
    generator.observe(table([client.child("api", SERVER)], tenant="b"))
    assert _graph(generator, clock.ms) == {}
    assert generator.stats.edges_paired == 0


def test_producer_and_consumer_are_a_messaging_system_edge() -> None:
    clock = Clock()
    generator = _generator(clock)
    producer = Span("orders", "publish", kind=PRODUCER, parent_span_id=b"\x02" * 8)
    generator.observe(table([producer, producer.child("billing", CONSUMER)]))
    edge = key(
        "traces_service_graph_request_total",
        client="orders",
        server="billing",
        connection_type="messaging_system",
    )
    assert _graph(generator, clock.ms)[edge] == 1


def test_a_root_server_span_is_an_edge_from_user_at_once() -> None:
    clock = Clock()
    generator = _generator(clock)
    generator.observe(table([Span("gateway", "GET /", kind=SERVER, duration_ms=300)]))
    labels = {"client": "user", "server": "gateway", "connection_type": "virtual_node"}
    graph = _graph(generator, clock.ms)
    assert graph[key("traces_service_graph_request_total", **labels)] == 1
    assert graph[key("traces_service_graph_request_server_seconds_sum", **labels)] == 0.3
    assert graph[key("traces_service_graph_request_client_seconds_sum", **labels)] == 0.3


def test_an_unpaired_client_becomes_a_virtual_node_only_after_the_wait() -> None:
    clock = Clock()
    generator = _generator(clock)
    generator.observe(table([_caller(attributes=[("peer.service", "payments")])]))
    assert _graph(generator, clock.ms + WAIT_MS - 1) == {}
    labels = {"client": "gateway", "server": "payments", "connection_type": "virtual_node"}
    graph = _graph(generator, clock.ms + WAIT_MS)
    assert graph[key("traces_service_graph_request_total", **labels)] == 1
    assert graph[key("traces_service_graph_unpaired_spans_total", client="gateway")] == 1
    assert key("traces_service_graph_dropped_spans_total", client="gateway") not in graph
    assert generator.stats.edges_expired == 1


def test_virtual_node_names_fall_back_to_server_address() -> None:
    clock = Clock()
    generator = _generator(clock)
    generator.observe(table([_caller(attributes=[("server.address", "api.example.com")])]))
    graph = _graph(generator, clock.ms + WAIT_MS)
    edge = key(
        "traces_service_graph_request_total",
        client="gateway",
        server="api.example.com",
        connection_type="virtual_node",
    )
    assert graph[edge] == 1


def test_a_database_client_is_a_database_edge_named_by_db_name_then_system() -> None:
    clock = Clock()
    generator = _generator(clock)
    named = _caller(
        attributes=[
            ("db.system", "postgresql"),
            ("db.name", "orders"),
            ("server.address", "10.0.0.5"),
        ]
    )
    unnamed = _caller("worker", attributes=[("db.system", "redis")])
    generator.observe(table([named, unnamed]))
    graph = _graph(generator, clock.ms + WAIT_MS)
    total = "traces_service_graph_request_total"
    assert graph[key(total, client="gateway", server="orders", connection_type="database")] == 1
    assert graph[key(total, client="worker", server="redis", connection_type="database")] == 1


def test_unpaired_spans_without_a_virtual_node_are_dropped_and_counted() -> None:
    clock = Clock()
    generator = _generator(clock)
    orphan_server = Span("api", "serve", kind=SERVER, parent_span_id=b"\x03" * 8)
    generator.observe(table([_caller(), orphan_server]))
    graph = _graph(generator, clock.ms + WAIT_MS)
    assert graph == {
        key("traces_service_graph_unpaired_spans_total", client="gateway"): 1,
        key("traces_service_graph_dropped_spans_total", client="gateway"): 1,
        key("traces_service_graph_unpaired_spans_total", server="api"): 1,
        key("traces_service_graph_dropped_spans_total", server="api"): 1,
    }
    assert (generator.stats.edges_expired, generator.stats.edges_dropped) == (2, 2)


def test_internal_spans_make_no_edges() -> None:
    clock = Clock()
    generator = _generator(clock)
    root = Span("api", "work", kind=1)
    generator.observe(table([root, root.child("api", 1)]))
    assert _graph(generator, clock.ms + WAIT_MS) == {}


def test_a_full_store_expires_its_oldest_half_early() -> None:
    clock = Clock()
    generator = _generator(clock, max_pending_edges=2)
    first, second, third = (
        _caller(attributes=[("peer.service", name)]) for name in ("p1", "p2", "p3")
    )
    for span in (first, second, third):
        generator.observe(table([span]))
        clock.ms += 1
    assert generator.stats.edges_evicted == 1
    total = "traces_service_graph_request_total"
    totals = {k: v for k, v in _graph(generator, clock.ms).items() if k[0] == total}
    assert totals == {key(total, client="gateway", server="p1", connection_type="virtual_node"): 1}
    generator.observe(table([second.child("api", SERVER)]))
    assert _graph(generator, clock.ms)[key(total, client="gateway", server="api")] == 1
