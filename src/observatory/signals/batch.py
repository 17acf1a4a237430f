"""What the pipeline carries: Arrow tables per store table, with their item count."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

import pyarrow as pa


class Signal(StrEnum):
    TRACES = "traces"
    METRICS = "metrics"
    LOGS = "logs"


@dataclass
class SignalBatch:
    """One request's decoded data: rows for one or more store tables.

    `items` counts what the user sent (spans, data points, log records), which is what
    queue limits and self-metrics are expressed in; `rejected` counts items refused while
    decoding, with `rejection_message` saying why (OTLP partial success).
    """

    signal: Signal
    tenant: str
    tables: dict[str, pa.Table] = field(default_factory=dict)
    items: int = 0
    rejected: int = 0
    rejection_message: str = ""

    @property
    def nbytes(self) -> int:
        return sum(t.nbytes for t in self.tables.values())
