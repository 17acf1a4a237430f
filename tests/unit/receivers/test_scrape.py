from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from observatory.errors import MemoryLimitError
from observatory.receivers.relabel import parse_rules
from observatory.receivers.scrape.discovery import Target
from observatory.receivers.scrape.exposition import (
    ExpositionError,
    parse_exposition,
    parse_openmetrics,
    parse_text,
)
from observatory.receivers.scrape.loop import SampleWriter, TargetLoop
from observatory.receivers.scrape.samples import convert, with_target_labels
from observatory.signals.metrics import STALE_NAN_BITS
from tests.unit.receivers.recording import RecordingPipeline, float_bits

T0 = 1_700_000_000_000
TEXT = """\
# HELP vllm:num_requests_running Number of requests running.
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{model_name="llama"} 3
# HELP http_requests_total Requests.
# TYPE http_requests_total counter
http_requests_total{code="200"} 10
# TYPE legacy_counter counter
legacy_counter 4
# TYPE latency_seconds histogram
latency_seconds_bucket{le="0.1"} 1
latency_seconds_bucket{le="+Inf"} 2
latency_seconds_sum 0.3
latency_seconds_count 2
# TYPE rpc summary
rpc{quantile="0.5"} 0.2
rpc_sum 5
rpc_count 9
with_time 1 1700000000123
"""
OPENMETRICS = """\
# TYPE build info
# HELP build Build information.
build_info{version="1.2"} 1
# TYPE request_seconds counter
# UNIT request_seconds seconds
request_seconds_total 12.5
request_seconds_created 1700000000.0
# TYPE vllm:e2e_request_latency_seconds histogram
vllm:e2e_request_latency_seconds_bucket{le="1.0"} 3
vllm:e2e_request_latency_seconds_bucket{le="+Inf"} 4
vllm:e2e_request_latency_seconds_count 4
vllm:e2e_request_latency_seconds_sum 2.5
# EOF
"""


def samples_of(text: str, openmetrics: bool = False) -> list[tuple[str, dict[str, str], float]]:
    families = parse_openmetrics(text) if openmetrics else parse_text(text)
    return [(s.name, s.labels, s.value) for f in families for s in f.samples]


def test_text_samples_are_named_exactly_as_exposed() -> None:
    assert samples_of(TEXT) == [
        ("vllm:num_requests_running", {"model_name": "llama"}, 3.0),
        ("http_requests_total", {"code": "200"}, 10.0),
        ("legacy_counter", {}, 4.0),
        ("latency_seconds_bucket", {"le": "0.1"}, 1.0),
        ("latency_seconds_bucket", {"le": "+Inf"}, 2.0),
        ("latency_seconds_sum", {}, 0.3),
        ("latency_seconds_count", {}, 2.0),
        ("rpc", {"quantile": "0.5"}, 0.2),
        ("rpc_sum", {}, 5.0),
        ("rpc_count", {}, 9.0),
        ("with_time", {}, 1.0),
    ]


def test_text_metadata_uses_the_type_line_names() -> None:
    families = {f.name: (f.type, f.help) for f in parse_text(TEXT)}
    assert families["http_requests_total"] == ("counter", "Requests.")
    assert families["legacy_counter"] == ("counter", "")
    assert families["latency_seconds"] == ("histogram", "")
    assert families["vllm:num_requests_running"] == ("gauge", "Number of requests running.")
    assert families["with_time"] == ("unknown", "")


def test_text_timestamps_are_milliseconds() -> None:
    [family] = [f for f in parse_text(TEXT) if f.name == "with_time"]
    assert family.samples[0].timestamp_ms == 1_700_000_000_123


def test_openmetrics_families_units_and_created_series() -> None:
    families = {f.name: f for f in parse_openmetrics(OPENMETRICS)}
    assert (families["request_seconds"].type, families["request_seconds"].unit) == (
        "counter",
        "seconds",
    )
    assert families["build"].type == "info"
    assert samples_of(OPENMETRICS, openmetrics=True) == [
        ("build_info", {"version": "1.2"}, 1.0),
        ("request_seconds_total", {}, 12.5),
        ("request_seconds_created", {}, 1700000000.0),
        ("vllm:e2e_request_latency_seconds_bucket", {"le": "1.0"}, 3.0),
        ("vllm:e2e_request_latency_seconds_bucket", {"le": "+Inf"}, 4.0),
        ("vllm:e2e_request_latency_seconds_count", {}, 4.0),
        ("vllm:e2e_request_latency_seconds_sum", {}, 2.5),
    ]


def test_content_type_picks_the_parser() -> None:
    om = parse_exposition(OPENMETRICS.encode(), "application/openmetrics-text; version=1.0.0")
    assert om[0].name == "build"
    assert parse_exposition(b"a 1\n", "text/plain; version=0.0.4")[0].name == "a"
    assert parse_exposition(b"a 1\n", None)[0].name == "a"


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"metric{ 1\n", "text/plain"),
        (b"a 1\n", "application/openmetrics-text"),  # no `# EOF`
        (b"\xff\xfe", "text/plain"),
    ],
)
def test_invalid_expositions(body: bytes, content_type: str) -> None:
    with pytest.raises(ExpositionError):
        parse_exposition(body, content_type)


def test_target_labels_win_and_exposed_ones_are_exported() -> None:
    target = {"job": "node", "instance": "h:9100"}
    merged = with_target_labels({"job": "app", "exported_job": "x", "a": "1"}, target, False)
    assert merged == {
        "job": "node",
        "instance": "h:9100",
        "exported_job": "x",
        "exported_exported_job": "app",
        "a": "1",
    }


def test_honor_labels_keeps_exposed_values_even_empty_ones() -> None:
    target = {"job": "pushgateway", "instance": "pg:9091"}
    merged = with_target_labels({"job": "batch", "instance": ""}, target, True)
    assert merged == {"job": "batch", "instance": ""}


def target(**overrides: object) -> Target:
    values: dict[str, object] = {
        "job": "vllm",
        "url": "http://gpu-1:8000/metrics",
        "labels": (("instance", "gpu-1:8000"), ("job", "vllm")),
        "interval": 15.0,
        "timeout": 10.0,
    }
    values.update(overrides)
    return Target(**values)  # type: ignore[arg-type]


def test_convert_attaches_labels_relabels_and_tracks() -> None:
    relabel = parse_rules(
        [{"source_labels": ["__name__"], "regex": "rpc.*", "action": "drop"}], "test"
    )
    scraped = convert(parse_text(TEXT), target(metric_relabel=relabel), T0)
    assert scraped.exposed == 11
    assert len(scraped.samples) == 8
    first = scraped.samples[0]
    assert first == (
        "vllm:num_requests_running",
        {"model_name": "llama", "instance": "gpu-1:8000", "job": "vllm"},
        T0,
        3.0,
    )
    with_time = next(s for s in scraped.samples if s[0] == "with_time")
    assert with_time[2] == 1_700_000_000_123
    # Series with their own timestamps get no stale markers, so they are not tracked.
    assert len(scraped.tracked) == 7
    assert not any(name == "with_time" for name, _ in scraped.tracked)


def test_convert_ignores_timestamps_unless_honored() -> None:
    scraped = convert(parse_text("a 1 5000\n"), target(honor_timestamps=False), T0)
    assert scraped.samples[0][2] == T0
    assert len(scraped.tracked) == 1


def test_duplicate_series_keep_the_first() -> None:
    scraped = convert(parse_text('a{x="1"} 1\na{x="1"} 2\n'), target(), T0)
    assert [s[3] for s in scraped.samples] == [1.0]


def test_relabeling_away_the_name_drops_the_sample() -> None:
    rules = parse_rules([{"regex": "__name__", "action": "labeldrop"}], "test")
    assert convert(parse_text("a 1\n"), target(metric_relabel=rules), T0).samples == []


Handler = Callable[[httpx.Request], httpx.Response]


def loop_for(handler: Handler, pipeline: RecordingPipeline) -> TargetLoop:
    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    writer = SampleWriter(pipeline, pipeline.metrics, "acme")  # type: ignore[arg-type]
    return TargetLoop(target(), client, writer)


def by_name(pipeline: RecordingPipeline) -> dict[str, list[float]]:
    found: dict[str, list[float]] = {}
    for name, _, _, value in pipeline.rows():
        found.setdefault(name, []).append(value)
    return found


async def test_scrape_writes_samples_metadata_and_report() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, text=TEXT, headers={"Content-Type": "text/plain"})

    pipeline = RecordingPipeline()
    await loop_for(handler, pipeline).scrape_once()
    assert seen[0].headers["Accept"].startswith("application/openmetrics-text")
    assert seen[0].headers["X-Prometheus-Scrape-Timeout-Seconds"] == "10"
    values = by_name(pipeline)
    assert values["up"] == [1.0]
    assert values["scrape_samples_scraped"] == [11.0]
    assert values["scrape_samples_post_metric_relabeling"] == [11.0]
    assert values["scrape_series_added"] == [10.0]
    assert values["vllm:num_requests_running"] == [3.0]
    assert pipeline.metadata()["http_requests_total"] == ("counter", "", "Requests.")
    assert all(batch.tenant == "acme" for batch in pipeline.batches)


async def test_vanished_series_and_failed_scrapes_get_stale_markers() -> None:
    bodies = ['a{x="1"} 1\na{x="2"} 2\n', 'a{x="1"} 3\n']

    def handler(request: httpx.Request) -> httpx.Response:
        if not bodies:
            return httpx.Response(500)
        return httpx.Response(200, text=bodies.pop(0))

    pipeline = RecordingPipeline()
    loop = loop_for(handler, pipeline)
    await loop.scrape_once()
    await loop.scrape_once()
    stale = [
        (r[1]["x"]) for r in pipeline.rows() if r[0] == "a" and float_bits(r[3]) == STALE_NAN_BITS
    ]
    assert stale == ["2"]
    pipeline.clear()
    await loop.scrape_once()
    rows = pipeline.rows()
    assert [r[1]["x"] for r in rows if r[0] == "a" and float_bits(r[3]) == STALE_NAN_BITS] == ["1"]
    assert by_name(pipeline)["up"] == [0.0]
    assert loop.healthy is False and "500" in loop.last_error
    assert loop.tracked == set()


async def test_unreachable_target_is_down() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    pipeline = RecordingPipeline()
    loop = loop_for(handler, pipeline)
    await loop.scrape_once()
    assert by_name(pipeline)["up"] == [0.0]
    assert "connection refused" in loop.last_error


async def test_removed_target_marks_everything_stale() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, text="a 1\n")

    pipeline = RecordingPipeline()
    loop = loop_for(handler, pipeline)
    await loop.scrape_once()
    pipeline.clear()
    await loop.mark_stale()
    names = sorted(r[0] for r in pipeline.rows() if float_bits(r[3]) == STALE_NAN_BITS)
    assert names == [
        "a",
        "scrape_duration_seconds",
        "scrape_samples_post_metric_relabeling",
        "scrape_samples_scraped",
        "scrape_series_added",
        "up",
    ]


async def test_overloaded_pipeline_skips_the_scrape() -> None:
    calls: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(200, text="a 1\n")

    pipeline = RecordingPipeline()
    pipeline.refuse_admit = MemoryLimitError("over the memory limit")
    await loop_for(handler, pipeline).scrape_once()
    assert calls == [] and pipeline.batches == []
    labels = {"signal": "metrics", "reason": "memory_limit"}
    assert (
        pipeline.metrics.registry.get_sample_value("observatory_refused_requests_total", labels)
        == 1.0
    )


async def test_metadata_is_written_once_unless_it_changes() -> None:
    helps = ["First.", "First.", "Second."]

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, text=f"# HELP a {helps.pop(0)}\n# TYPE a gauge\na 1\n")

    pipeline = RecordingPipeline()
    loop = loop_for(handler, pipeline)
    written = []
    for _ in range(3):
        pipeline.clear()
        await loop.scrape_once()
        written.append(pipeline.metadata().get("a"))
    assert written == [("gauge", "", "First."), None, ("gauge", "", "Second.")]


async def test_invalid_target_url_is_a_down_target() -> None:
    pipeline = RecordingPipeline()
    writer = SampleWriter(pipeline, pipeline.metrics, "acme")  # type: ignore[arg-type]
    loop = TargetLoop(target(url="http://bad host:80/metrics"), httpx.AsyncClient(), writer)
    await loop.scrape_once()
    assert by_name(pipeline)["up"] == [0.0]
    assert loop.healthy is False
