"""Query results and their rendering as the `data` object of Prometheus's HTTP API."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from observatory.query.promql.floats import format_sample


def _point(time_ms: int, value: float) -> list[Any]:
    return [time_ms / 1000.0, format_sample(value)]


@dataclass
class QueryResult:
    result_type: str  # "vector" | "matrix" | "scalar" | "string"
    # vector: [(labels, time_ms, value)]; matrix: [(labels, timestamps, values)];
    # scalar and string: (time_ms, value)
    data: Any
    warnings: list[str] = field(default_factory=list)

    def to_prometheus_json(self) -> dict[str, Any]:
        """{"resultType": ..., "result": ...} with values as [seconds, "formatted value"]."""
        if self.result_type == "vector":
            result: Any = [
                {"metric": dict(labels), "value": _point(t, v)} for labels, t, v in self.data
            ]
        elif self.result_type == "matrix":
            result = [
                {
                    "metric": dict(labels),
                    "values": [_point(t, v) for t, v in zip(ts.tolist(), vs.tolist(), strict=True)],
                }
                for labels, ts, vs in self.data
            ]
        elif self.result_type == "scalar":
            result = _point(self.data[0], self.data[1])
        else:
            result = [self.data[0] / 1000.0, self.data[1]]
        return {"resultType": self.result_type, "result": result}
