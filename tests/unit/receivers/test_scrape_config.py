from __future__ import annotations

import asyncio
import json
import textwrap
from pathlib import Path
from typing import Any

import httpx
import pytest

from observatory.errors import ConfigError
from observatory.receivers.scrape import ScrapeManager
from observatory.receivers.scrape.config import load_config, parse_config, parse_duration
from observatory.receivers.scrape.discovery import Discovery, format_duration
from observatory.signals.metrics import STALE_NAN_BITS
from tests.unit.receivers.recording import RecordingPipeline, float_bits


def config(raw: dict[str, Any], base: Path = Path("/etc/observatory")) -> Any:
    return parse_config(raw, base)


def test_durations() -> None:
    assert parse_duration("15s", "x") == 15
    assert parse_duration("1m30s", "x") == 90
    assert parse_duration("1h", "x") == 3600
    assert parse_duration("500ms", "x") == 0.5
    assert parse_duration("1d", "x") == 86400
    for bad in ("15", "", "1.5s", "s", 15):
        with pytest.raises(ConfigError, match="invalid duration"):
            parse_duration(bad, "scrape_interval")
    assert [format_duration(s) for s in (15, 90, 0.5, 3600, 0)] == [
        "15s",
        "1m30s",
        "500ms",
        "1h",
        "0s",
    ]


def test_defaults_follow_prometheus() -> None:
    parsed = config({"scrape_configs": [{"job_name": "a"}]})
    job = parsed.jobs[0]
    assert (job.scrape_interval, job.scrape_timeout) == (60, 10)
    assert (job.metrics_path, job.scheme, job.honor_labels, job.honor_timestamps) == (
        "/metrics",
        "http",
        False,
        True,
    )
    short = config({"global": {"scrape_interval": "5s"}, "scrape_configs": [{"job_name": "a"}]})
    # The timeout defaults to the global one but never past the interval.
    assert (short.jobs[0].scrape_interval, short.jobs[0].scrape_timeout) == (5, 5)


def test_other_prometheus_sections_are_ignored() -> None:
    parsed = config({"rule_files": ["x.yml"], "alerting": {}, "scrape_configs": []})
    assert parsed.jobs == ()


@pytest.mark.parametrize(
    ("job", "message"),
    [
        ({}, "needs a job_name"),
        ({"job_name": "a", "kubernetes_sd_configs": []}, "unsupported keys"),
        ({"job_name": "a", "scrape_interval": "10s", "scrape_timeout": "20s"}, "not longer"),
        ({"job_name": "a", "scheme": "ftp"}, "scheme must be"),
        ({"job_name": "a", "metrics_path": "metrics"}, "starting with '/'"),
        ({"job_name": "a", "honor_labels": "yes"}, "true or false"),
        ({"job_name": "a", "params": {"module": "x"}}, "non-empty list"),
        ({"job_name": "a", "static_configs": [{"targets": "h:1"}]}, "list of host:port"),
        ({"job_name": "a", "file_sd_configs": [{"files": ["t.txt"]}]}, r"\.json, \.yml"),
        ({"job_name": "a", "metric_relabel_configs": [{"action": "nope"}]}, "unknown relabel"),
    ],
)
def test_invalid_jobs_are_named(job: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        config({"scrape_configs": [job]})


def test_duplicate_job_names() -> None:
    with pytest.raises(ConfigError, match="more than once"):
        config({"scrape_configs": [{"job_name": "a"}, {"job_name": "a"}]})


def test_load_config_reports_yaml_errors(tmp_path: Path) -> None:
    path = tmp_path / "scrape.yml"
    path.write_text("scrape_configs: [\n")
    with pytest.raises(ConfigError, match="cannot read scrape config"):
        load_config(path)
    with pytest.raises(ConfigError, match="cannot read scrape config"):
        load_config(tmp_path / "missing.yml")


def test_static_targets_get_job_instance_and_group_labels() -> None:
    parsed = config(
        {
            "scrape_configs": [
                {
                    "job_name": "vllm",
                    "scrape_interval": "5s",
                    "params": {"format": ["prometheus"]},
                    "static_configs": [
                        {"targets": ["gpu-1:8000", "gpu-2:8000"], "labels": {"pool": "a"}}
                    ],
                }
            ]
        }
    )
    targets = Discovery().targets(parsed)
    assert [t.url for t in targets] == [
        "http://gpu-1:8000/metrics?format=prometheus",
        "http://gpu-2:8000/metrics?format=prometheus",
    ]
    assert targets[0].label_map() == {"job": "vllm", "instance": "gpu-1:8000", "pool": "a"}
    assert (targets[0].interval, targets[0].timeout) == (5, 5)


def test_relabel_configs_shape_targets() -> None:
    parsed = config(
        {
            "scrape_configs": [
                {
                    "job_name": "blackbox",
                    "metrics_path": "/probe",
                    "params": {"module": ["http_2xx"]},
                    "static_configs": [{"targets": ["https://example.com", "skip.me"]}],
                    "relabel_configs": [
                        {"source_labels": ["__address__"], "regex": "skip.*", "action": "drop"},
                        {"source_labels": ["__address__"], "target_label": "__param_target"},
                        {"source_labels": ["__param_target"], "target_label": "instance"},
                        {"target_label": "__address__", "replacement": "prober:9115"},
                        {"target_label": "__scrape_interval__", "replacement": "30s"},
                    ],
                }
            ]
        }
    )
    [target] = Discovery().targets(parsed)
    assert target.url == (
        "http://prober:9115/probe?module=http_2xx&target=https%3A%2F%2Fexample.com"
    )
    assert target.label_map() == {"job": "blackbox", "instance": "https://example.com"}
    assert target.interval == 30


def test_file_sd_json_and_yaml_with_filepath_label(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text(
        json.dumps([{"targets": ["h1:9100"], "labels": {"zone": "eu"}}])
    )
    (tmp_path / "b.yml").write_text("- targets: [h2:9100]\n")
    parsed = config(
        {
            "scrape_configs": [
                {
                    "job_name": "node",
                    "file_sd_configs": [{"files": ["*.json", "b.yml"], "refresh_interval": "1s"}],
                    "relabel_configs": [
                        {"source_labels": ["__meta_filepath"], "target_label": "source"}
                    ],
                }
            ]
        },
        base=tmp_path,
    )
    assert parsed.refresh_interval() == 1
    targets = {t.label_map()["instance"]: t.label_map() for t in Discovery().targets(parsed)}
    assert targets["h1:9100"] == {
        "job": "node",
        "instance": "h1:9100",
        "zone": "eu",
        "source": str(tmp_path / "a.json"),
    }
    assert targets["h2:9100"]["source"] == str(tmp_path / "b.yml")


def test_bad_file_keeps_its_last_good_targets(tmp_path: Path) -> None:
    path = tmp_path / "targets.json"
    path.write_text(json.dumps([{"targets": ["h1:9100"]}]))
    parsed = config(
        {"scrape_configs": [{"job_name": "n", "file_sd_configs": [{"files": [str(path)]}]}]}
    )
    discovery = Discovery()
    assert len(discovery.targets(parsed)) == 1
    path.write_text("[{")
    assert len(discovery.targets(parsed)) == 1
    path.unlink()
    assert discovery.targets(parsed) == []


def write_config(path: Path, targets: list[str], interval: str = "1h") -> None:
    path.write_text(
        textwrap.dedent(
            f"""\
            global:
              scrape_interval: {interval}
            scrape_configs:
              - job_name: app
                static_configs:
                  - targets: {json.dumps(targets)}
            """
        )
    )


def mock_transport() -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, text=f'requests_total{{host="{request.url.host}"}} 1\n')

    return httpx.MockTransport(handler)


def manager(pipeline: RecordingPipeline, path: Path) -> ScrapeManager:
    return ScrapeManager(
        pipeline,  # type: ignore[arg-type]
        pipeline.metrics,
        path,
        "acme",
        transport=mock_transport(),
    )


async def test_manager_scrapes_on_its_own(tmp_path: Path) -> None:
    path = tmp_path / "scrape.yml"
    write_config(path, ["a:80"], interval="50ms")
    pipeline = RecordingPipeline()
    scraper = manager(pipeline, path)
    await scraper.start()
    try:
        for _ in range(100):
            if sum(1 for row in pipeline.rows() if row[0] == "up") >= 2:
                break
            await asyncio.sleep(0.02)
    finally:
        await scraper.stop()
    ups = [row for row in pipeline.rows() if row[0] == "up"]
    assert len(ups) >= 2
    assert ups[0][1] == {"job": "app", "instance": "a:80"}
    assert all(batch.tenant == "acme" for batch in pipeline.batches)


async def test_reload_adds_and_removes_targets_with_stale_markers(tmp_path: Path) -> None:
    path = tmp_path / "scrape.yml"
    write_config(path, ["a:80", "b:80"])
    pipeline = RecordingPipeline()
    scraper = manager(pipeline, path)
    await scraper.start()
    try:
        assert sorted(loop.target.url for loop in scraper.loops.values()) == [
            "http://a:80/metrics",
            "http://b:80/metrics",
        ]
        for loop in scraper.loops.values():
            await loop.scrape_once()
        pipeline.clear()
        write_config(path, ["b:80", "c:80"])
        await scraper.reload()
        assert sorted(loop.target.url for loop in scraper.loops.values()) == [
            "http://b:80/metrics",
            "http://c:80/metrics",
        ]
        stale = {
            (row[0], row[1].get("instance"))
            for row in pipeline.rows()
            if float_bits(row[3]) == STALE_NAN_BITS
        }
        assert ("requests_total", "a:80") in stale
        assert ("up", "a:80") in stale
        assert all(instance == "a:80" for _, instance in stale)
    finally:
        await scraper.stop()


async def test_changed_settings_restart_a_target_keeping_its_series(tmp_path: Path) -> None:
    path = tmp_path / "scrape.yml"
    write_config(path, ["a:80"])
    pipeline = RecordingPipeline()
    scraper = manager(pipeline, path)
    await scraper.start()
    try:
        [old] = scraper.loops.values()
        await old.scrape_once()
        write_config(path, ["a:80"], interval="30m")
        await scraper.reload()
        [new] = scraper.loops.values()
        assert new is not old and new.target.interval == 1800
        assert new.tracked == old.tracked and new.tracked
    finally:
        await scraper.stop()


async def test_bad_reload_keeps_the_running_config(tmp_path: Path) -> None:
    path = tmp_path / "scrape.yml"
    write_config(path, ["a:80"])
    pipeline = RecordingPipeline()
    scraper = manager(pipeline, path)
    await scraper.start()
    try:
        path.write_text("scrape_configs:\n  - job_name: app\n    scrape_interval: often\n")
        with pytest.raises(ConfigError, match="invalid duration"):
            await scraper.reload()
        assert len(scraper.loops) == 1
    finally:
        await scraper.stop()
    assert scraper.loops == {}


async def test_start_with_a_bad_config_fails(tmp_path: Path) -> None:
    path = tmp_path / "scrape.yml"
    path.write_text("scrape_configs:\n  - {}\n")
    with pytest.raises(ConfigError, match="job_name"):
        await manager(RecordingPipeline(), path).start()
