"""A LogQL pipeline run in Python on each entry: filters, parsers, formatters, drop and keep.

`LogPipeline` compiles the stages once (regexes, patterns, templates; a bad one is a
QueryError) and then runs them entry by entry. Stages follow Loki: errors never drop an entry,
they add `__error__` and `__error_details__` labels that later label filters can test.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from functools import lru_cache

from observatory.errors import QueryError
from observatory.query.logql import ast
from observatory.query.logql.conversions import parse_bytes, parse_duration_seconds, parse_float
from observatory.query.logql.entry import ERROR_DETAILS_LABEL, ERROR_LABEL, Entry, Stage
from observatory.query.logql.label_filters import (
    LabelPredicate,
    compile_label_filter,
    string_matcher,
)
from observatory.query.logql.parsers import parser_stage, set_error
from observatory.query.logql.pattern import parse_pattern
from observatory.query.logql.template_parse import TemplateSyntaxError
from observatory.query.logql.templates import Template, TemplateExecError
from observatory.query.promql.regex import translate

TEMPLATE_ERROR = "TemplateFormatErr"
SAMPLE_ERROR = "SampleExtractionErr"

LineTest = Callable[[str], bool]

_CONVERSIONS: dict[ast.UnwrapConversion, Callable[[str], float]] = {
    ast.UnwrapConversion.NONE: parse_float,
    ast.UnwrapConversion.DURATION: parse_duration_seconds,
    ast.UnwrapConversion.BYTES: parse_bytes,
}


# ---------------------------------------------------------------- line filters


@lru_cache(maxsize=1024)
def _line_regex(value: str) -> re.Pattern[str]:
    try:
        return re.compile(translate(value))
    except re.error as exc:
        raise QueryError(f"error parsing regexp: {exc}: `{value}`") from exc


def _single_test(op: ast.LineOp, value: str) -> LineTest:
    if op in (ast.LineOp.CONTAINS, ast.LineOp.NOT_CONTAINS):
        return lambda line: value in line
    if op in (ast.LineOp.MATCHES, ast.LineOp.NOT_MATCHES):
        search = _line_regex(value).search
        return lambda line: search(line) is not None
    try:
        pattern = parse_pattern(value, require_capture=False)
    except ValueError as exc:
        raise QueryError(f"invalid pattern {value!r} in line filter: {exc}") from exc
    return pattern.matches


@lru_cache(maxsize=1024)
def compile_line_filter(node: ast.LineFilter) -> LineTest:
    """The test a line filter applies (`or` alternatives included); QueryError when invalid."""
    tests = [_single_test(node.op, value) for value in node.values]
    negative = node.op in (ast.LineOp.NOT_CONTAINS, ast.LineOp.NOT_MATCHES, ast.LineOp.NOT_PATTERN)
    if len(tests) == 1:
        test = tests[0]
        return (lambda line: not test(line)) if negative else test
    if negative:
        return lambda line: not any(t(line) for t in tests)
    return lambda line: any(t(line) for t in tests)


def line_filter_matches(f: ast.LineFilter, line: str) -> bool:
    """Whether `line` passes the filter `f`."""
    return compile_line_filter(f)(line)


# ---------------------------------------------------------------- formatting stages


def _template(text: str, kind: str, context: str) -> Template:
    try:
        return Template(text, kind)
    except TemplateSyntaxError as exc:
        raise QueryError(f"{context}: {exc}") from exc


class LineFormatStage:
    """`| line_format "{{.a}}"`: the line becomes the rendered template."""

    def __init__(self, text: str) -> None:
        self._template = _template(text, "line", "invalid line template")

    def __call__(self, entry: Entry) -> bool:
        try:
            entry.line = self._template.render(entry.labels, entry.line, entry.timestamp_ns)
        except TemplateExecError as exc:
            set_error(entry, TEMPLATE_ERROR, str(exc))
        return True


class LabelFormatStage:
    """`| label_format dst=src, dst2="{{.a}}"`: renames and rendered labels."""

    def __init__(self, items: tuple[ast.LabelFormatItem, ...]) -> None:
        seen: set[str] = set()
        self._items: list[tuple[str, str | None, Template | None]] = []
        for item in items:
            if item.name == ERROR_LABEL:
                raise QueryError(f"{ERROR_LABEL} cannot be formatted")
            if item.name in seen:
                raise QueryError(
                    f"multiple label name '{item.name}' not allowed in a single format operation"
                )
            seen.add(item.name)
            template = None
            if item.template is not None:
                context = f"invalid template for label '{item.name}'"
                template = _template(item.template, "label", context)
            self._items.append((item.name, item.source, template))

    def __call__(self, entry: Entry) -> bool:
        labels = entry.labels
        # Templates all see one snapshot, taken when the first one runs (after any renames
        # listed before it), so `a="{{.b}}", b="{{.a}}"` swaps values, as in Loki.
        snapshot: dict[str, str] | None = None
        for name, source, template in self._items:
            if template is None:
                if source is not None and source in labels and source != name:
                    labels[name] = labels.pop(source)
                continue
            if snapshot is None:
                snapshot = dict(labels)
            try:
                labels[name] = template.render(snapshot, entry.line, entry.timestamp_ns)
            except TemplateExecError as exc:
                set_error(entry, TEMPLATE_ERROR, str(exc))
        return True


# ---------------------------------------------------------------- drop and keep


def _selection_tests(
    items: tuple[ast.LabelSelection, ...],
) -> tuple[frozenset[str], dict[str, list[Callable[[str], bool]]]]:
    names = frozenset(item.name for item in items if item.matcher is None)
    matchers: dict[str, list[Callable[[str], bool]]] = {}
    for item in items:
        if item.matcher is not None:
            test = string_matcher(item.matcher.op, item.matcher.value)
            matchers.setdefault(item.matcher.name, []).append(test)
    return names, matchers


class DropStage:
    """`| drop a, b="v"`: drops `a`, and `b` when its value matches."""

    def __init__(self, items: tuple[ast.LabelSelection, ...]) -> None:
        self._names, self._matchers = _selection_tests(items)

    def __call__(self, entry: Entry) -> bool:
        labels = entry.labels
        for name in self._names:
            labels.pop(name, None)
        for name, tests in self._matchers.items():
            value = labels.get(name)
            if value is not None and any(test(value) for test in tests):
                del labels[name]
        return True


class KeepStage:
    """`| keep a, b="v"`: keeps only `a`, and `b` when its value matches (and the errors)."""

    def __init__(self, items: tuple[ast.LabelSelection, ...]) -> None:
        self._names, self._matchers = _selection_tests(items)
        self._names |= {ERROR_LABEL, ERROR_DETAILS_LABEL}

    def __call__(self, entry: Entry) -> bool:
        labels = entry.labels
        for name in [n for n in labels if n not in self._names]:
            tests = self._matchers.get(name)
            if tests is None or not any(test(labels[name]) for test in tests):
                del labels[name]
        return True


# ---------------------------------------------------------------- the pipeline


def _label_filter_stage(predicate: LabelPredicate) -> Stage:
    return lambda entry: predicate(entry.labels)


def _line_filter_stage(test: LineTest) -> Stage:
    return lambda entry: test(entry.line)


def compile_stage(stage: ast.Stage) -> Stage:
    """One pipeline stage, ready to run; QueryError when it cannot be built."""
    parser = parser_stage(stage)
    if parser is not None:
        return parser
    if isinstance(stage, ast.LineFilter):
        return _line_filter_stage(compile_line_filter(stage))
    if isinstance(stage, ast.LabelFilter):
        return _label_filter_stage(compile_label_filter(stage.expr))
    if isinstance(stage, ast.LineFormat):
        return LineFormatStage(stage.template)
    if isinstance(stage, ast.LabelFormat):
        return LabelFormatStage(stage.items)
    if isinstance(stage, ast.Drop):
        return DropStage(stage.items)
    if isinstance(stage, ast.Keep):
        return KeepStage(stage.items)
    raise QueryError(f"unsupported pipeline stage {type(stage).__name__}")


class LogPipeline:
    """The stages of a log query, and its `unwrap` inside an unwrapped range aggregation."""

    def __init__(self, stages: Sequence[ast.Stage], unwrap: ast.Unwrap | None = None) -> None:
        self._line_only = all(isinstance(s, ast.LineFilter) for s in stages)
        self._line_tests = tuple(
            compile_line_filter(s) for s in stages if isinstance(s, ast.LineFilter)
        )
        self._stages = tuple(compile_stage(s) for s in stages)
        self._unwrap = unwrap
        self._post_filters = tuple(
            compile_label_filter(f) for f in (unwrap.post_filters if unwrap else ())
        )

    @property
    def line_only(self) -> bool:
        """True when every stage is a line filter (the caller can push those to SQL)."""
        return self._line_only

    def process(
        self, timestamp_ns: int, line: str, labels: dict[str, str]
    ) -> tuple[str, dict[str, str]] | None:
        """Runs the stages on one entry: the final line and labels, or None when dropped."""
        if self._line_only:
            if all(test(line) for test in self._line_tests):
                return line, labels
            return None
        entry = Entry(timestamp_ns, line, labels)
        for stage in self._stages:
            if not stage(entry):
                return None
        return entry.line, entry.labels

    def sample(
        self, timestamp_ns: int, line: str, labels: dict[str, str]
    ) -> tuple[dict[str, str], float] | None:
        """The unwrapped value of one entry and its labels (without the unwrapped label).

        An entry without the label (or with it empty) gives no sample. A value that does not
        convert gives 0 with `__error__="SampleExtractionErr"`, which the post filters see.
        """
        if self._unwrap is None:
            raise ValueError("this pipeline has no unwrap stage")
        processed = self.process(timestamp_ns, line, labels)
        if processed is None:
            return None
        result = processed[1]
        raw = result.get(self._unwrap.label, "")
        if not raw:
            return None
        try:
            value = _CONVERSIONS[self._unwrap.conversion](raw)
        except ValueError as exc:
            value = 0.0
            result[ERROR_LABEL] = SAMPLE_ERROR
            result[ERROR_DETAILS_LABEL] = str(exc)
        for post_filter in self._post_filters:
            if not post_filter(result):
                return None
        result.pop(self._unwrap.label, None)
        return result, value
