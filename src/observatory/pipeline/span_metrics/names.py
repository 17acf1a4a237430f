"""Names, labels and buckets of the generated metrics.

Span metrics and service-graph metrics are named as Tempo's metrics-generator names them, so
Grafana's service map and dashboards written for Tempo work unchanged. GenAI metrics take the
OpenTelemetry GenAI semantic-convention names through the same translation the OTLP receiver
applies, so a series derived from spans sits beside the client's own under the same name.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from observatory.receivers.otlp.prometheus_names import format_bound, metric_name, unit_word

# Tempo's defaults: `span_metrics.histogram_buckets` and `service_graphs.histogram_buckets`.
LATENCY_BUCKETS = (
    0.002,
    0.004,
    0.008,
    0.016,
    0.032,
    0.064,
    0.128,
    0.256,
    0.512,
    1.024,
    2.048,
    4.096,
    8.192,
    16.384,
)
SERVICE_GRAPH_BUCKETS = (0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 12.8)
# The ExplicitBucketBoundaries the GenAI semantic conventions give each metric.
TOKEN_BUCKETS = tuple(float(4**power) for power in range(14))
OPERATION_DURATION_BUCKETS = tuple(0.01 * 2**power for power in range(14))
TIME_TO_FIRST_TOKEN_BUCKETS = (
    0.001,
    0.005,
    0.01,
    0.02,
    0.04,
    0.06,
    0.08,
    0.1,
    0.25,
    0.5,
    0.75,
    1.0,
    2.5,
    5.0,
    7.5,
    10.0,
)

SPAN_KINDS = {
    0: "SPAN_KIND_UNSPECIFIED",
    1: "SPAN_KIND_INTERNAL",
    2: "SPAN_KIND_SERVER",
    3: "SPAN_KIND_CLIENT",
    4: "SPAN_KIND_PRODUCER",
    5: "SPAN_KIND_CONSUMER",
}
STATUS_CODES = {0: "STATUS_CODE_UNSET", 1: "STATUS_CODE_OK", 2: "STATUS_CODE_ERROR"}
KIND_SERVER, KIND_CLIENT, KIND_PRODUCER, KIND_CONSUMER = 2, 3, 4, 5
STATUS_ERROR = 2

# Labels every span-metrics series has; a configured dimension of the same name gets a `__`
# prefix instead of overwriting one, as Tempo does.
INTRINSIC_LABELS = ("service", "span_name", "span_kind", "status_code")

MESSAGING_SYSTEM = "messaging_system"
DATABASE = "database"
VIRTUAL_NODE = "virtual_node"
USER_NODE = "user"

SOURCE_LABEL = ("source", "spans")


@dataclass(frozen=True)
class Family:
    """A metric family: its name, type and, for histograms, its bucket bounds."""

    name: str
    type: str
    help: str
    unit: str = ""
    bounds: tuple[float, ...] = ()
    le: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "le", tuple(format_bound(b) for b in self.bounds))

    @property
    def is_histogram(self) -> bool:
        return self.type == "histogram"


def _counter(name: str, help_text: str) -> Family:
    return Family(name, "counter", help_text)


def _histogram(name: str, help_text: str, bounds: tuple[float, ...], unit: str = "") -> Family:
    return Family(name, "histogram", help_text, unit, bounds)


def _genai(otel_name: str, otel_unit: str, help_text: str, bounds: tuple[float, ...]) -> Family:
    name = metric_name(otel_name, otel_unit, "other")
    return _histogram(name, help_text, bounds, unit_word(otel_unit))


CALLS = _counter("traces_spanmetrics_calls_total", "Spans seen, by service, name, kind, status.")
LATENCY = _histogram("traces_spanmetrics_latency", "Span durations in seconds.", LATENCY_BUCKETS)

REQUESTS = _counter("traces_service_graph_request_total", "Requests between two nodes.")
FAILED_REQUESTS = _counter(
    "traces_service_graph_request_failed_total", "Failed requests between two nodes."
)
SERVER_SECONDS = _histogram(
    "traces_service_graph_request_server_seconds",
    "Request time between two nodes as the server saw it.",
    SERVICE_GRAPH_BUCKETS,
    "seconds",
)
CLIENT_SECONDS = _histogram(
    "traces_service_graph_request_client_seconds",
    "Request time between two nodes as the client saw it.",
    SERVICE_GRAPH_BUCKETS,
    "seconds",
)
UNPAIRED_SPANS = _counter(
    "traces_service_graph_unpaired_spans_total",
    "Client and server spans whose other half did not arrive in time.",
)
DROPPED_SPANS = _counter(
    "traces_service_graph_dropped_spans_total",
    "Unpaired spans that became no edge, not even one to a virtual node.",
)

TOKEN_USAGE = _genai(
    "gen_ai.client.token.usage", "{token}", "Input and output tokens used.", TOKEN_BUCKETS
)
OPERATION_DURATION = _genai(
    "gen_ai.client.operation.duration",
    "s",
    "GenAI operation duration.",
    OPERATION_DURATION_BUCKETS,
)
TIME_TO_FIRST_TOKEN = _genai(
    "gen_ai.server.time_to_first_token",
    "s",
    "Time to the first token of successful responses.",
    TIME_TO_FIRST_TOKEN_BUCKETS,
)
