"""Rules against the real store: written series read back by PromQL, `for` state restored."""

from __future__ import annotations

import math
import time

import numpy as np

from observatory.alerting.rules import Sample
from observatory.alerting.rules.alerting import AlertingRule, for_state_from_source
from observatory.alerting.rules.group import RuleGroup, engine_query
from observatory.alerting.rules.manager import sample_columns
from observatory.query.metric_source import StoreSeriesSource
from observatory.query.promql.engine import PromqlEngine
from observatory.query.promql.source import STALE_NAN, stale_mask
from observatory.store.embedded import EmbeddedStore
from tests.unit.alerting.rules.rules_support import MINUTE, fake_expand, specs

TENANT = "rules-restore-tests"
NOW = int(time.time()) // 60 * 60_000 - 60 * MINUTE  # an hour ago, on a minute
RULES = """
groups:
  - name: store
    rules:
      - record: errors:sum
        expr: sum(errors)
      - alert: Errors
        expr: errors > 0
        for: 30m
"""


def _write(store: EmbeddedStore, samples: list[Sample]) -> None:
    for name, rows in sample_columns(TENANT, samples).tables().items():
        store.insert(name, rows)


def _group(store: EmbeddedStore, restore: bool) -> RuleGroup:
    source = StoreSeriesSource(store, TENANT)
    (spec,) = specs(RULES)
    return RuleGroup(
        spec,
        engine_query(PromqlEngine(source)),
        expand=fake_expand,
        restore=restore,
        for_state=for_state_from_source(source),
    )


def test_written_series_and_for_state_survive_a_restart(store: EmbeddedStore) -> None:
    errors = [({"__name__": "errors", "pod": "p1"}, NOW + i * MINUTE, 2.0) for i in range(40)]
    _write(store, errors)
    before = _group(store, restore=False)
    for i in range(6):  # pending from NOW, last written at NOW + 5m
        _write(store, before.evaluate(NOW + i * MINUTE).samples)
    recorded = engine_query(PromqlEngine(StoreSeriesSource(store, TENANT)))
    assert recorded("errors:sum", NOW + 5 * MINUTE) == [({"__name__": "errors:sum"}, 2.0)]

    after = _group(store, restore=True)
    after.evaluate(NOW + 9 * MINUTE)
    after.evaluate(NOW + 10 * MINUTE)
    after.restore_for_state(NOW + 10 * MINUTE)
    rule = after.rules[1]
    assert isinstance(rule, AlertingRule)
    (alert,) = rule.active.values()
    # 5 of the 30 minutes were spent pending before the outage: the outage does not count.
    assert alert.active_at_ms == NOW + 5 * MINUTE


def test_a_stale_marker_in_the_store_stops_the_restore(store: EmbeddedStore) -> None:
    labels = {"__name__": "ALERTS_FOR_STATE", "alertname": "Gone", "pod": "p2"}
    _write(store, [(labels, NOW, NOW / 1000), (labels, NOW + MINUTE, STALE_NAN)])
    lookup = for_state_from_source(StoreSeriesSource(store, TENANT))
    ((key, (at, value)),) = lookup("Gone", NOW - MINUTE, NOW + 2 * MINUTE).items()
    assert key == (("alertname", "Gone"), ("pod", "p2"))
    assert at == NOW + MINUTE and math.isnan(value)
    assert stale_mask(np.array([value]))[0]  # the marker's own NaN, not any NaN
