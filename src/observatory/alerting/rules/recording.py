"""Recording rules: an expression's result written back as a new series.

As Prometheus does it: every sample of the result gets `__name__` set to the rule's name and
the rule's labels set over its own (an empty value removes the label); a scalar result is one
sample with no other labels. Two samples ending with the same labels, or more samples than the
group's `limit`, fail the whole evaluation and nothing is written.
"""

from __future__ import annotations

from observatory.alerting.rules import (
    EvalContext,
    RuleEvaluationError,
    RuleRun,
    Sample,
    label_key,
)
from observatory.alerting.rules.loader import RuleSpec

DUPLICATE_LABELSET = "vector contains metrics with the same labelset after applying rule labels"


class RecordingRule:
    def __init__(self, spec: RuleSpec) -> None:
        self.spec = spec
        self.run = RuleRun()

    def eval(self, ts_ms: int, ctx: EvalContext) -> list[Sample]:
        at = ts_ms - ctx.query_offset_ms
        vector = ctx.query(self.spec.expr, at)
        samples = [(self._relabel(labels), at, value) for labels, value in vector]
        if len({label_key(labels) for labels, _, _ in samples}) < len(samples):
            raise RuleEvaluationError(DUPLICATE_LABELSET)
        if 0 < ctx.limit < len(samples):
            raise RuleEvaluationError(f"exceeded limit of {ctx.limit} with {len(samples)} series")
        return samples

    def _relabel(self, labels: dict[str, str]) -> dict[str, str]:
        out = dict(labels)
        out["__name__"] = self.spec.name
        for name, value in self.spec.labels:
            if value:
                out[name] = value
            else:
                out.pop(name, None)
        return out
