"""The TraceQL syntax tree: fields and values, span conditions, spanset expressions, pipelines."""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field as dataclass_field
from typing import Literal, TypeAlias

ValueType = Literal["string", "int", "float", "bool", "duration", "status", "kind", "nil"]
AttributeScope = Literal["span", "resource", ""]
COMPARISONS = frozenset({"=", "!=", ">", ">=", "<", "<=", "=~", "!~"})
STRUCTURAL = frozenset(
    {">", ">>", "<", "<<", "~", "!>", "!>>", "!<", "!<<", "!~", "&>", "&>>", "&<", "&<<", "&~"}
)
AGGREGATES = frozenset({"count", "avg", "min", "max", "sum"})


@dataclass(frozen=True)
class Attribute:
    """`span.x`, `resource.x` or `.x` (scope ''), looked up in the span, then the resource."""

    scope: AttributeScope
    name: str

    def __str__(self) -> str:
        return f"{self.scope}.{self.name}"


@dataclass(frozen=True)
class Intrinsic:
    """A built-in field, by its canonical unscoped name (`name`, `traceDuration`, `span:id`)."""

    name: str

    def __str__(self) -> str:
        return self.name


Field: TypeAlias = Attribute | Intrinsic


@dataclass(frozen=True)
class Value:
    type: ValueType
    value: str | int | float | bool | None


@dataclass(frozen=True)
class Comparison:
    field: Field
    op: str
    value: Value
    pos: int = dataclass_field(default=0, compare=False)  # offset of the comparison, for errors


@dataclass(frozen=True)
class Logical:
    op: Literal["&&", "||"]
    left: Condition
    right: Condition


@dataclass(frozen=True)
class Not:
    operand: Condition


@dataclass(frozen=True)
class Constant:
    value: bool


Condition: TypeAlias = Comparison | Logical | Not | Constant


@dataclass(frozen=True)
class SpansetFilter:
    """`{ condition }`: the spans of a trace for which the condition holds."""

    condition: Condition


@dataclass(frozen=True)
class SpansetOp:
    """`&&`, `||` or a structural operator between two spansets of the same trace."""

    op: str
    left: Spanset
    right: Spanset


@dataclass(frozen=True)
class Aggregate:
    func: str
    field: Field | None

    def __str__(self) -> str:
        return f"{self.func}({self.field or ''})"


@dataclass(frozen=True)
class ScalarFilter:
    """`| count() > 2`: keeps the spanset when the comparison holds."""

    op: str
    left: Aggregate | Value
    right: Aggregate | Value


@dataclass(frozen=True)
class Select:
    fields: tuple[Field, ...]


Stage: TypeAlias = "Spanset | ScalarFilter | Select"


@dataclass(frozen=True)
class Pipeline:
    source: Spanset
    stages: tuple[Stage, ...]


Spanset: TypeAlias = SpansetFilter | SpansetOp | Pipeline


@dataclass(frozen=True)
class Query:
    root: Spanset
    hints: tuple[tuple[str, Value], ...] = ()
