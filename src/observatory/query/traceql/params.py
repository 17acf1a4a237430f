"""Query parameters: every user value reaches ClickHouse as a `{name:Type}` parameter."""

from __future__ import annotations

from typing import Any


class SqlParams:
    """Collects parameter values and hands out their placeholders."""

    def __init__(self, **fixed: Any) -> None:
        """`fixed` parameters keep their names; the others are p0, p1, ... in order."""
        self.values: dict[str, Any] = {}
        self._count = 0
        for name, value in fixed.items():
            self.values[name] = value

    def add(self, value: str | int | float | bool, sql_type: str) -> str:
        """The placeholder of a new parameter holding `value`."""
        name = f"p{self._count}"
        self._count += 1
        self.values[name] = value
        return f"{{{name}:{sql_type}}}"

    def text(self, value: str) -> str:
        return self.add(value, "String")
