from __future__ import annotations

import base64
import gzip
import json
import math
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from observatory.errors import BadRequestError, QueueFullError
from observatory.receivers.pushgateway import (
    PUSH_FAILURE_TIME,
    PUSH_TIME,
    GroupStore,
    PushgatewayReceiver,
    PushRejected,
    grouping_labels,
    load_state,
    merge_families,
)
from observatory.receivers.scrape.exposition import Family, parse_text
from observatory.signals.metrics import STALE_NAN_BITS
from observatory.tenancy import TenantResolver
from tests.unit.receivers.recording import RecordingPipeline, client_for, float_bits

BODY = """\
# TYPE batch_records_total counter
# HELP batch_records_total Records processed.
batch_records_total{stage="load"} 42
# TYPE batch_duration_seconds gauge
batch_duration_seconds 7.5
"""


def b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def test_grouping_key_from_the_path() -> None:
    assert grouping_labels("nightly", False, "") == {"job": "nightly"}
    assert grouping_labels("nightly", False, "instance/etl-1/stage/load") == {
        "job": "nightly",
        "instance": "etl-1",
        "stage": "load",
    }
    assert grouping_labels(b64("a/b"), True, f"path@base64/{b64('/var/tmp')}") == {
        "job": "a/b",
        "path": "/var/tmp",
    }
    # A single `=` is how an empty value is written; padding is optional otherwise.
    assert grouping_labels("j", False, "empty@base64/=") == {"job": "j", "empty": ""}
    assert grouping_labels("j", False, "job/other") == {"job": "j"}


@pytest.mark.parametrize(
    ("job", "job_base64", "rest", "message"),
    [
        ("j", False, "a", "odd number of components"),
        ("j", False, "a/1/b", "odd number of components"),
        ("j", False, "__name__/x", "improper label name"),
        ("j", False, "1bad/x", "improper label name"),
        ("j", False, "a@base64/!!!", "invalid base64"),
        ("=", True, "", "job name is required"),
    ],
)
def test_bad_grouping_keys(job: str, job_base64: bool, rest: str, message: str) -> None:
    with pytest.raises(BadRequestError, match=message):
        grouping_labels(job, job_base64, rest)


def families(text: str) -> list[Family]:
    return merge_families(parse_text(text))


def test_untyped_samples_of_one_name_are_one_family() -> None:
    merged = families('x{a="1"} 1\ny 2\nx{a="2"} 3\n')
    assert [(f.name, len(f.samples)) for f in merged] == [("x", 2), ("y", 1)]


def test_grouping_labels_overwrite_body_labels() -> None:
    store = GroupStore()
    group = store.planned_push({"job": "j"}, families('m{job="other",a="1"} 1\n'), True, 1.0)
    assert group.families["m"].samples[0].labels == {"job": "j", "a": "1"}


def test_put_replaces_the_group_and_post_only_named_families() -> None:
    store = GroupStore()
    key = {"job": "j"}
    store.commit(store.planned_push(key, families("a 1\nb 2\n"), True, 1.0))
    posted = store.planned_push(key, families("b 3\nc 4\n"), False, 2.0)
    assert {name: f.samples[0].value for name, f in posted.families.items()} == {
        "a": 1.0,
        "b": 3.0,
        "c": 4.0,
    }
    store.commit(posted)
    put = store.planned_push(key, families("c 5\n"), True, 3.0)
    assert list(put.families) == ["c"]
    assert put.push_time == 3.0
    emptied = store.planned_push(key, [], True, 4.0)
    assert emptied.families == {} and emptied.push_time == 4.0


@pytest.mark.parametrize(
    ("existing", "pushed", "message"),
    [
        ("", "m 1 1700000000000\n", "must not have timestamps"),
        ("", 'm{job="x"} 1\nm{job="y"} 2\n', "collected before"),
        ("# TYPE m gauge\nm 1\n", "# TYPE m counter\nm 1\n", "is a counter here but a gauge"),
        ('m{instance="i"} 1\n', "m 1\n", "already pushed by another group"),
    ],
)
def test_inconsistent_pushes_are_rejected(existing: str, pushed: str, message: str) -> None:
    store = GroupStore()
    if existing:
        store.commit(store.planned_push({"job": "j"}, families(existing), True, 1.0))
    with pytest.raises(PushRejected, match=message):
        store.planned_push({"job": "j", "instance": "i"}, families(pushed), True, 2.0)


@pytest.fixture
async def gateway(tmp_path: Path) -> AsyncIterator[tuple[PushgatewayReceiver, RecordingPipeline]]:
    pipeline = RecordingPipeline()
    receiver = PushgatewayReceiver(
        pipeline,  # type: ignore[arg-type]
        TenantResolver("default", False),
        pipeline.metrics,
        tmp_path / "pushgateway",
        interval=3600,
    )
    await receiver.start()
    yield receiver, pipeline
    await receiver.stop()


def rows_by_name(pipeline: RecordingPipeline) -> dict[str, list[tuple[dict[str, str], float]]]:
    found: dict[str, list[tuple[dict[str, str], float]]] = {}
    for name, labels, _, value in pipeline.rows():
        found.setdefault(name, []).append((labels, value))
    return found


async def test_http_put_writes_samples_with_grouping_labels_and_push_times(
    gateway: tuple[PushgatewayReceiver, RecordingPipeline],
) -> None:
    receiver, pipeline = gateway
    async with client_for(receiver.routes()) as client:
        response = await client.put(
            "/metrics/job/nightly/instance/etl-1", content=BODY, headers={"X-Scope-OrgID": "t1"}
        )
    assert response.status_code == 200, response.text
    rows = rows_by_name(pipeline)
    grouping = {"job": "nightly", "instance": "etl-1"}
    assert rows["batch_records_total"] == [({"stage": "load", **grouping}, 42.0)]
    assert rows["batch_duration_seconds"] == [(grouping, 7.5)]
    assert rows[PUSH_TIME][0][0] == grouping and rows[PUSH_TIME][0][1] > 1e9
    assert rows[PUSH_FAILURE_TIME] == [(grouping, 0.0)]
    assert pipeline.batches[0].tenant == "t1"
    assert pipeline.metadata()["batch_records_total"] == ("counter", "", "Records processed.")


async def test_http_post_then_delete_with_stale_markers(
    gateway: tuple[PushgatewayReceiver, RecordingPipeline],
) -> None:
    receiver, pipeline = gateway
    async with client_for(receiver.routes()) as client:
        assert (await client.put("/metrics/job/j", content="a 1\nb 2\n")).status_code == 200
        assert (await client.post("/metrics/job/j", content="b 3\n")).status_code == 200
        pipeline.clear()
        response = await client.delete("/metrics/job/j")
        assert response.status_code == 202
        assert (await client.delete("/metrics/job/never-pushed")).status_code == 202
    stale = sorted(name for name, _, _, v in pipeline.rows() if float_bits(v) == STALE_NAN_BITS)
    assert stale == ["a", "b", PUSH_FAILURE_TIME, PUSH_TIME]
    assert receiver.stores["default"].groups == {}


async def test_http_put_marks_replaced_series_stale(
    gateway: tuple[PushgatewayReceiver, RecordingPipeline],
) -> None:
    receiver, pipeline = gateway
    async with client_for(receiver.routes()) as client:
        await client.put("/metrics/job/j", content='a{x="1"} 1\na{x="2"} 2\n')
        pipeline.clear()
        await client.put("/metrics/job/j", content='a{x="1"} 5\n')
    rows = [(labels.get("x"), v) for name, labels, _, v in pipeline.rows() if name == "a"]
    assert rows[0] == ("1", 5.0)
    assert rows[1][0] == "2" and float_bits(rows[1][1]) == STALE_NAN_BITS


async def test_http_base64_job_and_gzip_body(
    gateway: tuple[PushgatewayReceiver, RecordingPipeline],
) -> None:
    receiver, pipeline = gateway
    async with client_for(receiver.routes()) as client:
        response = await client.put(
            f"/metrics/job@base64/{b64('a/b')}/path@base64/{b64('/var/tmp')}",
            content=gzip.compress(b"m 1\n"),
            headers={"Content-Encoding": "gzip"},
        )
    assert response.status_code == 200, response.text
    assert rows_by_name(pipeline)["m"] == [({"job": "a/b", "path": "/var/tmp"}, 1.0)]


async def test_http_refusals(gateway: tuple[PushgatewayReceiver, RecordingPipeline]) -> None:
    receiver, pipeline = gateway
    protobuf = "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; "
    async with client_for(receiver.routes()) as client:
        bad = await client.put("/metrics/job/j", content="m{ 1\n")
        odd = await client.put("/metrics/job/j/lonely", content="m 1\n")
        proto = await client.put(
            "/metrics/job/j",
            content=b"\x00",
            headers={"Content-Type": protobuf + "encoding=delimited"},
        )
    assert (bad.status_code, odd.status_code, proto.status_code) == (400, 400, 415)
    assert "cannot parse" in bad.text and "odd number" in odd.text
    assert pipeline.batches == []
    labels = {"signal": "metrics", "reason": "malformed"}
    refused = pipeline.metrics.registry.get_sample_value(
        "observatory_refused_requests_total", labels
    )
    assert refused == 2.0


async def test_http_timestamps_fail_the_push_and_set_the_failure_time(
    gateway: tuple[PushgatewayReceiver, RecordingPipeline],
) -> None:
    receiver, pipeline = gateway
    async with client_for(receiver.routes()) as client:
        await client.put("/metrics/job/j", content="m 1\n")
        response = await client.put("/metrics/job/j", content="m 2 1700000000000\n")
    assert response.status_code == 400
    assert "timestamps" in response.text
    group = next(iter(receiver.stores["default"].groups.values()))
    assert group.push_failure_time >= group.push_time > 0
    assert group.families["m"].samples[0].value == 1.0  # the failed push changed nothing else
    failures = [v for name, _, _, v in pipeline.rows() if name == PUSH_FAILURE_TIME]
    assert failures[-1] == group.push_failure_time


async def test_http_overload_leaves_the_group_unchanged(
    gateway: tuple[PushgatewayReceiver, RecordingPipeline],
) -> None:
    receiver, pipeline = gateway
    async with client_for(receiver.routes()) as client:
        await client.put("/metrics/job/j", content="m 1\n")
        pipeline.refuse_write = QueueFullError("queue full", retry_after=3)
        response = await client.put("/metrics/job/j", content="m 2\n")
    assert response.status_code == 429 and response.headers["Retry-After"] == "3"
    group = next(iter(receiver.stores["default"].groups.values()))
    assert group.families["m"].samples[0].value == 1.0


async def test_reemit_writes_current_values_now(
    gateway: tuple[PushgatewayReceiver, RecordingPipeline],
) -> None:
    receiver, pipeline = gateway
    async with client_for(receiver.routes()) as client:
        await client.put("/metrics/job/a", content="m 1\n", headers={"X-Scope-OrgID": "t1"})
        await client.put("/metrics/job/b", content="m 2\n", headers={"X-Scope-OrgID": "t2"})
    first = max(ts for _, _, ts, _ in pipeline.rows())
    pipeline.clear()
    await receiver.reemit()
    rows = pipeline.rows()
    assert sorted((labels["job"], v) for name, labels, _, v in rows if name == "m") == [
        ("a", 1.0),
        ("b", 2.0),
    ]
    assert min(ts for _, _, ts, _ in rows) >= first
    assert sorted(batch.tenant for batch in pipeline.batches) == ["t1", "t2"]


async def test_groups_survive_a_restart(tmp_path: Path) -> None:
    pipeline = RecordingPipeline()
    state = tmp_path / "state"

    def new_receiver() -> PushgatewayReceiver:
        return PushgatewayReceiver(
            pipeline,  # type: ignore[arg-type]
            TenantResolver("default", False),
            pipeline.metrics,
            state,
            interval=3600,
        )

    first = new_receiver()
    await first.start()
    async with client_for(first.routes()) as client:
        body = "m NaN\nn +Inf\no 0.1\n"
        await client.put("/metrics/job/j", content=body, headers={"X-Scope-OrgID": "acme"})
    await first.stop()
    assert json.loads((state / "acme.json").read_text())["groups"][0]["labels"] == {"job": "j"}
    assert not [p for p in state.iterdir() if p.name.startswith(".")]

    second = new_receiver()
    await second.start()  # writes the loaded groups right away
    await second.stop()
    [group] = second.stores["acme"].groups.values()
    values = {name: f.samples[0].value for name, f in group.families.items()}
    assert math.isnan(values["m"]) and values["n"] == math.inf and values["o"] == 0.1
    assert any(
        name == "o" and batch.tenant == "acme"
        for batch in pipeline.batches
        for name in batch.tables["samples"].column("metric_name").to_pylist()
    )


def test_unreadable_state_is_set_aside(tmp_path: Path) -> None:
    (tmp_path / "acme.json").write_text("{not json")
    assert load_state(tmp_path) == {}
    assert [p.name.startswith("acme.json.unreadable-") for p in tmp_path.iterdir()] == [True]


async def test_reemit_keeps_going_through_overload(
    gateway: tuple[PushgatewayReceiver, RecordingPipeline],
) -> None:
    receiver, pipeline = gateway
    async with client_for(receiver.routes()) as client:
        await client.put("/metrics/job/j", content="m 1\n")
    pipeline.refuse_write = QueueFullError("full")
    await receiver.reemit()  # logged, not raised
    pipeline.refuse_write = None
    pipeline.clear()
    await receiver.reemit()
    assert any(name == "m" for name, _, _, _ in pipeline.rows())


async def test_http_admission_is_checked_before_reading(
    gateway: tuple[PushgatewayReceiver, RecordingPipeline],
) -> None:
    receiver, pipeline = gateway
    pipeline.refuse_admit = QueueFullError("full", retry_after=2)
    async with client_for(receiver.routes()) as client:
        response = await client.put("/metrics/job/j", content="m 1\n")
        deleted = await client.delete("/metrics/job/j")
    assert (response.status_code, deleted.status_code) == (429, 429)


async def test_unknown_methods_and_paths(
    gateway: tuple[PushgatewayReceiver, RecordingPipeline],
) -> None:
    receiver, _ = gateway
    async with client_for(receiver.routes()) as client:
        assert (await client.get("/metrics/job/j")).status_code == 405
        assert (await client.put("/metrics/nojob", content="m 1\n")).status_code == 404


async def test_empty_label_values_are_no_labels(
    gateway: tuple[PushgatewayReceiver, RecordingPipeline],
) -> None:
    receiver, pipeline = gateway
    async with client_for(receiver.routes()) as client:
        response = await client.put("/metrics/job/j/empty@base64/=", content='m{a="",b="1"} 1\n')
    assert response.status_code == 200
    rows = rows_by_name(pipeline)
    assert rows["m"] == [({"job": "j", "b": "1"}, 1.0)]
    assert rows[PUSH_TIME][0][0] == {"job": "j"}
    # Still a group of its own: the grouping key keeps the empty label.
    assert list(receiver.stores["default"].groups) == [(("empty", ""), ("job", "j"))]
