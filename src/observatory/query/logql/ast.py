"""The LogQL syntax tree: what the parser produces and the planner and evaluators consume.

Durations are integers in nanoseconds. Every node is immutable, so a parsed query can be
cached and shared between requests.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class MatchOp(StrEnum):
    """Label matchers, in stream selectors and string label filters."""

    EQ = "="
    NE = "!="
    RE = "=~"
    NRE = "!~"


class LineOp(StrEnum):
    CONTAINS = "|="
    NOT_CONTAINS = "!="
    MATCHES = "|~"
    NOT_MATCHES = "!~"
    PATTERN = "|>"
    NOT_PATTERN = "!>"


class CompareOp(StrEnum):
    """Comparisons of numeric, duration and bytes label filters (`=` is read as `==`)."""

    EQ = "=="
    NE = "!="
    GT = ">"
    GE = ">="
    LT = "<"
    LE = "<="


@dataclass(frozen=True)
class Matcher:
    name: str
    op: MatchOp
    value: str


# ---------------------------------------------------------------- pipeline stages


@dataclass(frozen=True)
class LineFilter:
    """`|= "a"`, or `|= "a" or "b"`: the line passes if it matches any of `values`.

    For the negative operators the line passes if it matches none of them.
    """

    op: LineOp
    values: tuple[str, ...]


@dataclass(frozen=True)
class JsonParser:
    """`| json` (every field, nested keys joined with `_`), or `| json a="x.y", b="z[0]"`."""

    params: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class LogfmtParser:
    """`| logfmt`, `| logfmt --strict --keep-empty a, b="c"` (params: label, source key)."""

    params: tuple[tuple[str, str], ...] = ()
    strict: bool = False
    keep_empty: bool = False


@dataclass(frozen=True)
class RegexpParser:
    """`| regexp "(?P<name>re)"`: named groups become labels."""

    pattern: str


@dataclass(frozen=True)
class PatternParser:
    """`| pattern "<ip> - <_> <status>"`: named captures become labels, `<_>` is skipped."""

    pattern: str


@dataclass(frozen=True)
class UnpackParser:
    """`| unpack`: a JSON object's fields become labels; `_entry` replaces the line."""


@dataclass(frozen=True)
class Decolorize:
    """`| decolorize`: ANSI colour sequences removed from the line."""


@dataclass(frozen=True)
class StringLabelFilter:
    name: str
    op: MatchOp
    value: str


@dataclass(frozen=True)
class NumberLabelFilter:
    name: str
    op: CompareOp
    value: float


@dataclass(frozen=True)
class DurationLabelFilter:
    """`| latency > 250ms`: the label is read as a Go duration, `value` is in seconds."""

    name: str
    op: CompareOp
    value: float


@dataclass(frozen=True)
class BytesLabelFilter:
    """`| size > 20MB`: the label is read as a humanized byte count, `value` is in bytes."""

    name: str
    op: CompareOp
    value: float


@dataclass(frozen=True)
class AndFilter:
    """`a and b`, also written `a, b` or `a b` (adjacent filters)."""

    left: LabelFilterExpr
    right: LabelFilterExpr


@dataclass(frozen=True)
class OrFilter:
    left: LabelFilterExpr
    right: LabelFilterExpr


LabelFilterExpr = (
    StringLabelFilter
    | NumberLabelFilter
    | DurationLabelFilter
    | BytesLabelFilter
    | AndFilter
    | OrFilter
)


@dataclass(frozen=True)
class LabelFilter:
    """`| <label filter expression>` as a pipeline stage."""

    expr: LabelFilterExpr


@dataclass(frozen=True)
class LineFormat:
    """`| line_format "{{.status}} {{.path}}"`: the line replaced by the rendered template."""

    template: str


@dataclass(frozen=True)
class LabelFormatItem:
    """One `label_format` assignment: `dst=src` renames, `dst="{{...}}"` renders a template.

    Exactly one of `source` and `template` is set.
    """

    name: str
    source: str | None = None
    template: str | None = None


@dataclass(frozen=True)
class LabelFormat:
    items: tuple[LabelFormatItem, ...]


@dataclass(frozen=True)
class LabelSelection:
    """One `drop`/`keep` item: a bare label name, or `name="value"` (matcher) form."""

    name: str
    matcher: Matcher | None = None


@dataclass(frozen=True)
class Drop:
    items: tuple[LabelSelection, ...]


@dataclass(frozen=True)
class Keep:
    items: tuple[LabelSelection, ...]


class UnwrapConversion(StrEnum):
    NONE = ""
    DURATION = "duration"  # `duration(x)`, also `duration_seconds(x)`: seconds
    BYTES = "bytes"  # `bytes(x)`: bytes


@dataclass(frozen=True)
class Unwrap:
    """`| unwrap latency` or `| unwrap duration(latency)`, with label filters after it.

    Only in a log query inside an unwrapped range aggregation, and always its last stage
    apart from `post_filters` (`| unwrap x | __error__=""`).
    """

    label: str
    conversion: UnwrapConversion = UnwrapConversion.NONE
    post_filters: tuple[LabelFilterExpr, ...] = ()


Stage = (
    LineFilter
    | JsonParser
    | LogfmtParser
    | RegexpParser
    | PatternParser
    | UnpackParser
    | Decolorize
    | LabelFilter
    | LineFormat
    | LabelFormat
    | Drop
    | Keep
)


@dataclass(frozen=True)
class LogQuery:
    """A stream selector and its pipeline: `{app="api"} |= "error" | json`.

    `unwrap` is set only inside unwrapped range aggregations.
    """

    selector: tuple[Matcher, ...]
    stages: tuple[Stage, ...] = ()
    unwrap: Unwrap | None = None


# ---------------------------------------------------------------- metric queries


@dataclass(frozen=True)
class Grouping:
    """`by (a, b)` or `without (a, b)`; `by ()` groups everything into one series."""

    labels: tuple[str, ...]
    without: bool = False


class RangeOp(StrEnum):
    COUNT_OVER_TIME = "count_over_time"
    RATE = "rate"
    RATE_COUNTER = "rate_counter"
    BYTES_OVER_TIME = "bytes_over_time"
    BYTES_RATE = "bytes_rate"
    ABSENT_OVER_TIME = "absent_over_time"
    SUM_OVER_TIME = "sum_over_time"
    AVG_OVER_TIME = "avg_over_time"
    MIN_OVER_TIME = "min_over_time"
    MAX_OVER_TIME = "max_over_time"
    STDDEV_OVER_TIME = "stddev_over_time"
    STDVAR_OVER_TIME = "stdvar_over_time"
    QUANTILE_OVER_TIME = "quantile_over_time"
    FIRST_OVER_TIME = "first_over_time"
    LAST_OVER_TIME = "last_over_time"


# Range aggregations that count lines or bytes; every other one needs `| unwrap`.
LINE_RANGE_OPS = frozenset(
    {
        RangeOp.COUNT_OVER_TIME,
        RangeOp.RATE,
        RangeOp.BYTES_OVER_TIME,
        RangeOp.BYTES_RATE,
        RangeOp.ABSENT_OVER_TIME,
    }
)


@dataclass(frozen=True)
class RangeAggregation:
    """`count_over_time({app="a"} |= "x" [5m] offset 1h)`, `quantile_over_time(0.99, ...) by (x)`.

    `param` is the quantile of `quantile_over_time`. `grouping` is allowed only on unwrapped
    aggregations. `rate` over an unwrapped query is the per-second sum of the values.
    """

    op: RangeOp
    query: LogQuery
    range_ns: int
    offset_ns: int = 0
    param: float | None = None
    grouping: Grouping | None = None


class VectorOp(StrEnum):
    SUM = "sum"
    AVG = "avg"
    MIN = "min"
    MAX = "max"
    COUNT = "count"
    STDDEV = "stddev"
    STDVAR = "stdvar"
    TOPK = "topk"
    BOTTOMK = "bottomk"
    SORT = "sort"
    SORT_DESC = "sort_desc"


@dataclass(frozen=True)
class VectorAggregation:
    """`sum by (a) (expr)` or `sum(expr) by (a)`; `topk(5, expr)` carries `param` 5."""

    op: VectorOp
    expr: MetricExpr
    grouping: Grouping | None = None
    param: float | None = None


class BinaryOpKind(StrEnum):
    ADD = "+"
    SUB = "-"
    MUL = "*"
    DIV = "/"
    MOD = "%"
    POW = "^"
    EQ = "=="
    NE = "!="
    GT = ">"
    GE = ">="
    LT = "<"
    LE = "<="
    AND = "and"
    OR = "or"
    UNLESS = "unless"


@dataclass(frozen=True)
class VectorMatching:
    """`on (a)` / `ignoring (a)` with an optional `group_left (b)` / `group_right (b)`."""

    on: bool
    labels: tuple[str, ...]
    group: str | None = None  # "left", "right" or None
    include: tuple[str, ...] = ()


@dataclass(frozen=True)
class BinaryOp:
    op: BinaryOpKind
    lhs: MetricExpr
    rhs: MetricExpr
    return_bool: bool = False
    matching: VectorMatching | None = None


@dataclass(frozen=True)
class NumberLiteral:
    value: float


@dataclass(frozen=True)
class VectorLiteral:
    """`vector(1)`: one series without labels at every step."""

    value: float


@dataclass(frozen=True)
class LabelReplace:
    """`label_replace(expr, "dst", "replacement", "src", "regex")`, as in PromQL."""

    expr: MetricExpr
    destination: str
    replacement: str
    source: str
    regex: str


MetricExpr = (
    RangeAggregation | VectorAggregation | BinaryOp | NumberLiteral | VectorLiteral | LabelReplace
)

Expr = LogQuery | MetricExpr
