"""The Pushgateway API: `PUT`/`POST`/`DELETE /metrics/job/<job>{/<label>/<value>}`.

Semantics are the Pushgateway's: the job and the path's labels are a group's grouping key;
PUT replaces the group's metrics, POST only the families it names, DELETE removes the group.
The grouping labels overwrite same-named labels in the body (as the Pushgateway does: no
error), and every group has `push_time_seconds` and `push_failure_time_seconds` series.
Pushes with timestamps, or whose series collide with one another or another group's, are
refused with 400 and set the group's failure time.

A Pushgateway is scraped again and again, so its values stay visible to queries. Here that is
done by writing every group's samples again every `interval` seconds, stamped with the time
of writing; a removed or replaced series gets a stale marker. Groups are kept per tenant in
`<state_dir>/<tenant>.json`, replaced atomically after every change.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from observatory.durable import write_atomically
from observatory.errors import (
    BadRequestError,
    ObservatoryError,
    StoreUnavailableError,
    UnsupportedMediaTypeError,
)
from observatory.pipeline.pipeline import Pipeline
from observatory.receivers.body import decompress, read_capped
from observatory.receivers.scrape.exposition import (
    ExposedSample,
    ExpositionError,
    Family,
    media_type,
    parse_text,
)
from observatory.self_metrics import SelfMetrics
from observatory.signals.batch import Signal, SignalBatch
from observatory.signals.metrics import STALE_NAN, MetricColumns
from observatory.tenancy import TenantResolver
from observatory.web import plain_error_response, tenant_header

log = logging.getLogger("observatory.pushgateway")

PROTOCOL = "pushgateway"
REEMIT_PROTOCOL = "pushgateway_reemit"
PUSH_TIME = "push_time_seconds"
PUSH_FAILURE_TIME = "push_failure_time_seconds"
_PUSH_HELP = {
    PUSH_TIME: "Last Unix time when changing this group in the Pushgateway succeeded.",
    PUSH_FAILURE_TIME: "Last Unix time when changing this group in the Pushgateway failed.",
}
BASE64_SUFFIX = "@base64"
PROTOBUF = "application/vnd.google.protobuf"
DEFAULT_MAX_REQUEST_BYTES = 16 * 1024 * 1024
STATE_VERSION = 1
_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")

GroupKey = tuple[tuple[str, str], ...]
SeriesKey = tuple[str, tuple[tuple[str, str], ...]]


class PushRejected(Exception):
    """The push is well-formed but inconsistent; it counts as a failed push of the group."""


def decode_base64(value: str, what: str) -> str:
    """URL-safe base64 with optional padding, as the Pushgateway accepts it."""
    stripped = value.rstrip("=")
    try:
        padded = stripped + "=" * (-len(stripped) % 4)
        # validate=True: by default Python skips characters outside the alphabet; Go refuses.
        return base64.b64decode(padded, altchars=b"-_", validate=True).decode()
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise BadRequestError(f"invalid base64 encoding in {what} {value!r}: {exc}") from exc


def grouping_labels(job: str, job_base64: bool, rest: str) -> dict[str, str]:
    """The grouping key of a push path: the job and the `/<label>/<value>` pairs after it."""
    if job_base64:
        job = decode_base64(job, "job name")
    if not job:
        raise BadRequestError("job name is required")
    labels = _path_labels(rest)
    labels["job"] = job
    return labels


def _path_labels(rest: str) -> dict[str, str]:
    parts = rest.split("/") if rest else []
    if len(parts) % 2:
        raise BadRequestError(f"odd number of components in label string {'/' + rest!r}")
    labels: dict[str, str] = {}
    for name, value in zip(parts[::2], parts[1::2], strict=True):
        plain = name.removesuffix(BASE64_SUFFIX)
        if not _LABEL_NAME.match(plain) or plain.startswith("__"):
            raise BadRequestError(f"improper label name {plain!r} in the push path")
        labels[plain] = value if plain == name else decode_base64(value, f"label {plain}")
    return labels


def group_key(labels: dict[str, str]) -> GroupKey:
    return tuple(sorted(labels.items()))


def series_key(name: str, labels: dict[str, str]) -> SeriesKey:
    return name, tuple(sorted(labels.items()))


def present(labels: dict[str, str]) -> dict[str, str]:
    """The labels that exist in the Prometheus model: an empty value is no label."""
    return {name: value for name, value in labels.items() if value}


@dataclass
class Group:
    labels: dict[str, str]
    families: dict[str, Family] = field(default_factory=dict)
    push_time: float = 0.0
    push_failure_time: float = 0.0

    @property
    def key(self) -> GroupKey:
        return group_key(self.labels)

    def series(self) -> Iterator[tuple[str, dict[str, str], float]]:
        """Every series of the group with its value, the push-time ones included."""
        for family in self.families.values():
            for sample in family.samples:
                yield sample.name, sample.labels, sample.value
        labels = present(self.labels)
        yield PUSH_TIME, labels, self.push_time
        yield PUSH_FAILURE_TIME, labels, self.push_failure_time

    def series_keys(self) -> set[SeriesKey]:
        return {series_key(name, labels) for name, labels, _ in self.series()}


def merge_families(families: Iterable[Family]) -> list[Family]:
    """One family per name: the text parser splits an untyped family at every sample."""
    merged: dict[str, Family] = {}
    for family in families:
        if family.name in (PUSH_TIME, PUSH_FAILURE_TIME):
            continue  # the Pushgateway's own series win over pushed ones of the same name
        existing = merged.get(family.name)
        if existing is None:
            merged[family.name] = Family(family.name, family.type, family.help, family.unit)
        elif existing.type != family.type:
            raise BadRequestError(f"metric family {family.name!r} is given twice, with two types")
        merged[family.name].samples.extend(family.samples)
    return list(merged.values())


def with_grouping(families: list[Family], grouping: dict[str, str]) -> list[Family]:
    """The families with the grouping labels set on every sample; PushRejected for timestamps."""
    for family in families:
        if any(sample.timestamp_ms is not None for sample in family.samples):
            raise PushRejected(
                f"pushed metrics must not have timestamps (metric family {family.name!r})"
            )
        family.samples = [
            ExposedSample(s.name, present({**s.labels, **grouping}), s.value)
            for s in family.samples
        ]
    return families


class GroupStore:
    """One tenant's groups."""

    def __init__(self, groups: Iterable[Group] = ()) -> None:
        self.groups: dict[GroupKey, Group] = {group.key: group for group in groups}

    def planned_push(
        self, grouping: dict[str, str], families: list[Family], replace: bool, now: float
    ) -> Group:
        """The group as the push would leave it; PushRejected when that is inconsistent."""
        families = with_grouping(families, grouping)
        old = self.groups.get(group_key(grouping))
        kept = {} if replace or old is None else dict(old.families)
        kept.update((family.name, family) for family in families)
        failure_time = old.push_failure_time if old else 0.0
        group = Group(dict(grouping), kept, now, failure_time)
        self._check(group)
        return group

    def failed_push(self, grouping: dict[str, str], now: float) -> Group:
        old = self.groups.get(group_key(grouping)) or Group(dict(grouping))
        return Group(old.labels, old.families, old.push_time, now)

    def commit(self, group: Group) -> None:
        self.groups[group.key] = group

    def _check(self, group: Group) -> None:
        others = [other for key, other in self.groups.items() if key != group.key]
        types = {name: f.type for other in others for name, f in other.families.items()}
        taken = {key for other in others for key in other.series_keys()}
        seen: set[SeriesKey] = set()
        for family in group.families.values():
            if types.get(family.name, family.type) != family.type:
                raise PushRejected(
                    f"metric family {family.name!r} is a {family.type} here but a "
                    f"{types[family.name]} in another group"
                )
            for sample in family.samples:
                _check_series(series_key(sample.name, sample.labels), seen, taken)


def _check_series(key: SeriesKey, seen: set[SeriesKey], taken: set[SeriesKey]) -> None:
    labels = ", ".join(f"{name}={value!r}" for name, value in key[1])
    if key in seen:
        raise PushRejected(
            f"collected metric {key[0]}{{{labels}}} was collected before with the same name "
            "and label values"
        )
    if key in taken:
        raise PushRejected(f"metric {key[0]}{{{labels}}} is already pushed by another group")
    seen.add(key)


class PushgatewayReceiver:
    def __init__(
        self,
        pipeline: Pipeline,
        tenants: TenantResolver,
        metrics: SelfMetrics,
        state_dir: str | Path,
        interval: float = 15.0,
        max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES,
    ) -> None:
        self.pipeline = pipeline
        self.tenants = tenants
        self.metrics = metrics
        self.state_dir = Path(state_dir)
        self.interval = interval
        self.max_request_bytes = max_request_bytes
        self.stores: dict[str, GroupStore] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._task: asyncio.Task[None] | None = None

    def routes(self) -> list[Route]:
        methods = ["PUT", "POST", "DELETE"]
        plain, encoded = self._endpoint(job_base64=False), self._endpoint(job_base64=True)
        return [
            Route("/metrics/job/{job}", plain, methods=methods),
            Route("/metrics/job/{job}/{rest:path}", plain, methods=methods),
            Route("/metrics/job@base64/{job}", encoded, methods=methods),
            Route("/metrics/job@base64/{job}/{rest:path}", encoded, methods=methods),
        ]

    def _endpoint(self, job_base64: bool) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            return await self.handle(request, job_base64)

        return endpoint

    async def start(self) -> None:
        """Load the persisted groups and start writing them every interval."""
        self.stores = await asyncio.to_thread(load_state, self.state_dir)
        # Right away: after a restart the groups have been silent for a while already.
        await self.reemit()
        self._task = asyncio.create_task(self._reemit_forever(), name="pushgateway re-emit")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def handle(self, request: Request, job_base64: bool = False) -> Response:
        try:
            status = await self._handle(request, job_base64)
        except ObservatoryError as exc:
            self.metrics.refused_requests.labels(Signal.METRICS.value, exc.reason).inc()
            return plain_error_response(exc)
        return Response(status_code=status)

    async def _handle(self, request: Request, job_base64: bool) -> int:
        tenant = self.tenants.resolve(tenant_header(request))
        params = request.path_params
        grouping = grouping_labels(params["job"], job_base64, params.get("rest", ""))
        if request.method == "DELETE":
            self.pipeline.admit(Signal.METRICS)
            await self.delete(tenant, grouping)
            return 202
        families = await self._read_families(request)
        await self.push(tenant, grouping, families, replace=request.method == "PUT")
        return 200

    async def _read_families(self, request: Request) -> list[Family]:
        if media_type(request.headers.get("content-type")) == PROTOBUF:
            raise UnsupportedMediaTypeError(
                "protobuf pushes are not supported: push the text exposition format"
            )
        # Refuse before reading and parsing: under overload that work is what hurts.
        self.pipeline.admit(Signal.METRICS)
        cap = self.max_request_bytes
        raw = await read_capped(request.stream(), request.headers.get("content-length"), cap)
        body = decompress(raw, request.headers.get("content-encoding"), cap)
        try:
            return merge_families(parse_text(body.decode("utf-8")))
        except (ExpositionError, UnicodeDecodeError) as exc:
            raise BadRequestError(f"cannot parse the pushed metrics: {exc}") from exc

    async def push(
        self, tenant: str, grouping: dict[str, str], families: list[Family], replace: bool
    ) -> None:
        """Apply a PUT (`replace`) or POST; returns once its samples are committed."""
        async with self._lock(tenant):
            store = self.stores.setdefault(tenant, GroupStore())
            now = time.time()
            try:
                group = store.planned_push(grouping, families, replace, now)
            except PushRejected as exc:
                await self._record_failure(tenant, store, grouping, now)
                raise BadRequestError(
                    f"pushed metrics are invalid or inconsistent with existing metrics: {exc}"
                ) from exc
            old = store.groups.get(group.key)
            gone = old.series_keys() - group.series_keys() if old else set()
            await self._write(tenant, [group], gone, now, PROTOCOL)
            store.commit(group)
            await self._persist(tenant)

    async def delete(self, tenant: str, grouping: dict[str, str]) -> None:
        """Remove a group, with stale markers for its series; no group is no error."""
        async with self._lock(tenant):
            store = self.stores.get(tenant)
            group = store.groups.get(group_key(grouping)) if store else None
            if store is None or group is None:
                return
            await self._write(tenant, [], group.series_keys(), time.time(), PROTOCOL)
            del store.groups[group.key]
            await self._persist(tenant)

    async def reemit(self) -> None:
        """Write every group's current samples again, stamped now."""
        for tenant in list(self.stores):
            async with self._lock(tenant):
                groups = list(self.stores[tenant].groups.values())
                if not groups:
                    continue
                try:
                    await self._write(tenant, groups, set(), time.time(), REEMIT_PROTOCOL)
                except ObservatoryError as exc:
                    log.warning("re-emitting pushed metrics of tenant %s: %s", tenant, exc.message)

    async def _reemit_forever(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.reemit()
            # One bad round must not stop the pushed values from being written for good.
            except Exception:
                log.exception("re-emitting pushed metrics failed")

    async def _record_failure(
        self, tenant: str, store: GroupStore, grouping: dict[str, str], now: float
    ) -> None:
        group = store.failed_push(grouping, now)
        store.commit(group)
        try:
            await self._write(tenant, [group], set(), now, PROTOCOL)
        except ObservatoryError as exc:
            # The next re-emit writes the failure time; the push's 400 matters more.
            log.warning("writing push failure time of %s: %s", group.labels, exc.message)
        await self._persist(tenant)

    async def _write(
        self, tenant: str, groups: list[Group], stale: set[SeriesKey], now: float, protocol: str
    ) -> None:
        metadata = protocol == PROTOCOL  # the store keeps it: re-emits need not repeat it
        columns = group_columns(tenant, groups, stale, int(now * 1000), metadata)
        batch = SignalBatch(Signal.METRICS, tenant, columns.tables(), items=columns.samples)
        self.metrics.received.labels(Signal.METRICS.value, protocol).inc(batch.items)
        await self.pipeline.write(batch)

    async def _persist(self, tenant: str) -> None:
        data = state_json(self.stores[tenant])
        path = self.state_dir / f"{tenant}.json"
        try:
            await asyncio.to_thread(write_atomically, path, data)
        except OSError as exc:
            raise StoreUnavailableError(
                f"pushed metrics are committed but could not be saved to {path}: {exc}"
            ) from exc

    def _lock(self, tenant: str) -> asyncio.Lock:
        return self._locks.setdefault(tenant, asyncio.Lock())


def group_columns(
    tenant: str, groups: list[Group], stale: set[SeriesKey], now_ms: int, metadata: bool = True
) -> MetricColumns:
    """The groups' series at `now_ms`, and stale markers for the `stale` ones."""
    columns = MetricColumns(tenant)
    for group in groups:
        for name, labels, value in group.series():
            columns.add_sample(name, labels, now_ms, value)
        for family in group.families.values() if metadata else ():
            columns.add_metadata(family.name, family.type, family.unit, family.help)
    for name, pairs in stale:
        columns.add_sample(name, dict(pairs), now_ms, STALE_NAN)
    if groups and metadata:
        for name, help_text in _PUSH_HELP.items():
            columns.add_metadata(name, "gauge", "seconds", help_text)
    return columns


def state_json(store: GroupStore) -> bytes:
    groups = [_group_json(group) for group in store.groups.values()]
    return json.dumps({"version": STATE_VERSION, "groups": groups}, indent=1).encode()


def _group_json(group: Group) -> dict[str, Any]:
    return {
        "labels": group.labels,
        "push_time": group.push_time,
        "push_failure_time": group.push_failure_time,
        "families": [
            {
                "name": family.name,
                "type": family.type,
                "help": family.help,
                "unit": family.unit,
                # repr round-trips every float exactly, NaN and infinities included.
                "samples": [[s.name, s.labels, repr(s.value)] for s in family.samples],
            }
            for family in group.families.values()
        ],
    }


def _group_from_json(data: dict[str, Any]) -> Group:
    families = {}
    for raw in data["families"]:
        samples = [
            ExposedSample(name, dict(labels), float(value))
            for name, labels, value in raw["samples"]
        ]
        families[raw["name"]] = Family(raw["name"], raw["type"], raw["help"], raw["unit"], samples)
    return Group(
        dict(data["labels"]), families, float(data["push_time"]), float(data["push_failure_time"])
    )


def load_state(state_dir: Path) -> dict[str, GroupStore]:
    """Every tenant's groups; an unreadable file is set aside (and logged), not lost."""
    state_dir.mkdir(parents=True, exist_ok=True)
    stores: dict[str, GroupStore] = {}
    for path in sorted(state_dir.glob("*.json")):
        if path.name.startswith("."):
            continue
        try:
            data = json.loads(path.read_text())
            stores[path.stem] = GroupStore(_group_from_json(group) for group in data["groups"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            aside = path.with_name(f"{path.name}.unreadable-{int(time.time())}")
            log.error("cannot load pushed metrics from %s (%s); moved it to %s", path, exc, aside)
            with contextlib.suppress(OSError):
                path.rename(aside)
    return stores
