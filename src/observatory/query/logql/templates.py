"""Executes `line_format` / `label_format` templates against one log entry.

The data is the entry's labels (a map of strings, so a missing label reads as ""), and the
functions `__line__` and `__timestamp__` return the current line and the entry's time. A
template that fails while running raises TemplateExecError; the stages turn that into
`__error__="TemplateFormatErr"` as Loki does.

Other template languages (Prometheus's alert templates) reuse the engine through `execute`:
their own function table, and data made of StringMap and TemplateValue objects.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Mapping
from typing import Any

from observatory.query.logql.gofmt import StringMap, TemplateValue, sprint_value, type_name
from observatory.query.logql.gotime import MONTHS, WEEKDAYS, GoTime, format_time
from observatory.query.logql.template_funcs import (
    FUNCTIONS,
    MAX_OUTPUT,
    Function,
    TemplateCallError,
    call,
    truth,
)
from observatory.query.logql.template_parse import (
    LOGQL_FUNCTION_NAMES,
    Action,
    Branch,
    Chain,
    Command,
    Field,
    Identifier,
    Literal,
    LoopControl,
    Nil,
    Node,
    Operand,
    Pipeline,
    TemplateSyntaxError,
    Text,
    Variable,
    parse_template,
)

MAX_RANGE_ITERATIONS = 100_000


class TemplateExecError(Exception):
    """A template failed while rendering one entry."""


class _Break(Exception):
    pass


class _Continue(Exception):
    pass


_TIME_METHODS: dict[str, tuple[tuple[str, ...], Callable[..., Any]]] = {
    "Unix": ((), lambda t: t.unix()),
    "UnixMilli": ((), lambda t: t.ns // 1_000_000),
    "UnixMicro": ((), lambda t: t.ns // 1_000),
    "UnixNano": ((), lambda t: t.ns),
    "Year": ((), lambda t: t.fields().year),
    "Month": ((), lambda t: MONTHS[t.fields().month - 1]),
    "Day": ((), lambda t: t.fields().day),
    "Hour": ((), lambda t: t.fields().hour),
    "Minute": ((), lambda t: t.fields().minute),
    "Second": ((), lambda t: t.fields().second),
    "Nanosecond": ((), lambda t: t.fields().nanos),
    "YearDay": ((), lambda t: t.fields().yday),
    "Weekday": ((), lambda t: WEEKDAYS[t.fields().weekday]),
    "IsZero": ((), lambda t: t.is_zero()),
    "UTC": ((), lambda t: GoTime(t.ns)),
    "Local": ((), lambda t: GoTime(t.ns)),
    "String": ((), str),
    "Format": (("str",), format_time),
}


class Template:
    """A parsed template; `name` ("line" or "label") appears in error messages as in Go.

    `functions` are the names the template may call (LogQL's unless given); `execute` then
    needs a table holding each of them.
    """

    def __init__(
        self, text: str, name: str = "line", functions: Collection[str] = LOGQL_FUNCTION_NAMES
    ) -> None:
        self.name = name
        try:
            self._nodes = parse_template(text, functions)
        except TemplateSyntaxError as exc:
            raise TemplateSyntaxError(f"template: {name}:{exc}") from exc
        self._simple_key = _simple_key(self._nodes)
        self._constant = _constant(self._nodes)

    def render(self, labels: dict[str, str], line: str, timestamp_ns: int) -> str:
        if self._constant is not None:
            return self._constant
        if self._simple_key is not None:
            return labels.get(self._simple_key, "")
        return self._run(_Run(self.name, labels, line, timestamp_ns), labels)

    def execute(self, data: Any, functions: Mapping[str, Function]) -> str:
        """Renders with `data` as dot and `$`, calling `functions` (and the built-in and/or)."""
        if self._constant is not None:
            return self._constant
        return self._run(_Run(self.name, data, "", 0, functions), data)

    def _run(self, run: _Run, dot: Any) -> str:
        try:
            run.walk(self._nodes, dot)
        except TemplateCallError as exc:
            raise TemplateExecError(f"template: {self.name}: {exc}") from exc
        except (_Break, _Continue, RecursionError) as exc:
            raise TemplateExecError(f"template: {self.name}: {exc!r}") from exc
        return "".join(run.out)


def _simple_key(nodes: tuple[Node, ...]) -> str | None:
    """`{{.name}}` alone reads one label; no need to run the engine."""
    if len(nodes) != 1 or not isinstance(nodes[0], Action):
        return None
    pipe = nodes[0].pipe
    if pipe.decl or len(pipe.cmds) != 1 or len(pipe.cmds[0].args) != 1:
        return None
    arg = pipe.cmds[0].args[0]
    return arg.names[0] if isinstance(arg, Field) and len(arg.names) == 1 else None


def _constant(nodes: tuple[Node, ...]) -> str | None:
    if all(isinstance(n, Text) for n in nodes):
        return "".join(n.text for n in nodes if isinstance(n, Text))
    return None


class _Run:
    """The state of one rendering: variables, output, the entry's line and time."""

    def __init__(
        self,
        name: str,
        root: Any,
        line: str,
        timestamp_ns: int,
        functions: Mapping[str, Function] = FUNCTIONS,
    ) -> None:
        self.name = name
        self.root = root
        self.functions = functions
        self.line = line
        self.timestamp_ns = timestamp_ns
        self.vars: list[tuple[str, Any]] = [("$", root)]
        self.out: list[str] = []
        self.size = 0
        self.iterations = 0

    def fail(self, message: str) -> TemplateCallError:
        return TemplateCallError(message)

    def emit(self, text: str) -> None:
        self.size += len(text)
        if self.size > MAX_OUTPUT:
            raise self.fail("template output too large")
        self.out.append(text)

    def walk(self, nodes: tuple[Node, ...], dot: Any) -> None:
        for node in nodes:
            if isinstance(node, Text):
                self.emit(node.text)
            elif isinstance(node, Action):
                value = self.pipeline(node.pipe, dot)
                if not node.pipe.decl:
                    self.emit("<no value>" if value is None else sprint_value(value))
            elif isinstance(node, Branch):
                self.branch(node, dot)
            elif isinstance(node, LoopControl):
                raise _Break() if node.kind == "break" else _Continue()

    def branch(self, node: Branch, dot: Any) -> None:
        mark = len(self.vars)
        try:
            if node.kind == "range":
                self.range(node, dot)
                return
            value = self.pipeline(node.pipe, dot)
            if truth(value):
                self.walk(node.body, value if node.kind == "with" else dot)
            elif node.else_body is not None:
                self.walk(node.else_body, dot)
        finally:
            del self.vars[mark:]

    def range(self, node: Branch, dot: Any) -> None:
        value = self.commands(node.pipe.cmds, dot)
        ran = False
        for key, element in self._elements(value):
            ran = True
            self.iterations += 1
            if self.iterations > MAX_RANGE_ITERATIONS:
                raise self.fail("range: too many iterations")
            mark = len(self.vars)
            names = node.pipe.decl
            if len(names) == 1:
                self.vars.append((names[0], element))
            elif len(names) == 2:
                self.vars.extend([(names[0], key), (names[1], element)])
            try:
                self.walk(node.body, element)
            except _Continue:
                pass
            except _Break:
                break
            finally:
                del self.vars[mark:]
        if not ran and node.else_body is not None:
            self.walk(node.else_body, dot)

    def _elements(self, value: Any) -> Iterator[tuple[Any, Any]]:
        if value is None:
            return iter(())
        if isinstance(value, list):
            return iter(enumerate(value))
        if isinstance(value, dict):
            return iter((k, value[k]) for k in sorted(value))
        if isinstance(value, int) and not isinstance(value, bool):
            if value > MAX_RANGE_ITERATIONS:
                raise self.fail("range: too many iterations")
            return iter((i, i) for i in range(value))
        raise self.fail(f"range can't iterate over {sprint_value(value)}")

    def pipeline(self, pipe: Pipeline, dot: Any) -> Any:
        value = self.commands(pipe.cmds, dot)
        for name in pipe.decl:
            if pipe.assign:
                self.assign(name, value)
            else:
                self.vars.append((name, value))
        return value

    def commands(self, cmds: tuple[Command, ...], dot: Any) -> Any:
        value: Any = None
        for index, cmd in enumerate(cmds):
            value = self.command(cmd, dot, [value] if index else [])
        return value

    def assign(self, name: str, value: Any) -> None:
        for i in range(len(self.vars) - 1, -1, -1):
            if self.vars[i][0] == name:
                self.vars[i] = (name, value)
                return
        raise self.fail(f"undefined variable: {name}")

    def variable(self, name: str) -> Any:
        for var, value in reversed(self.vars):
            if var == name:
                return value
        raise self.fail(f"undefined variable: {name}")

    def command(self, cmd: Command, dot: Any, final: list[Any]) -> Any:
        first, rest = cmd.args[0], cmd.args[1:]
        if isinstance(first, Identifier):
            return self.function(first.name, rest, dot, final)
        if isinstance(first, Field) and first.names:
            return self.chain(dot, first.names, rest, dot, final)
        if isinstance(first, Variable) and first.names:
            return self.chain(self.variable(first.name), first.names, rest, dot, final)
        if isinstance(first, Chain):
            return self.chain(self.argument(first.node, dot), first.names, rest, dot, final)
        if isinstance(first, Nil):
            raise self.fail("nil is not a command")
        if rest or final:
            raise self.fail(f"can't give argument to non-function {_show(first)}")
        return self.argument(first, dot)

    def argument(self, node: Operand, dot: Any) -> Any:
        if isinstance(node, Literal):
            return node.value
        if isinstance(node, Field):
            return self.chain(dot, node.names, (), dot, []) if node.names else dot
        if isinstance(node, Variable):
            value = self.variable(node.name)
            return self.chain(value, node.names, (), dot, []) if node.names else value
        if isinstance(node, Identifier):
            return self.function(node.name, (), dot, [])
        if isinstance(node, Chain):
            return self.chain(self.argument(node.node, dot), node.names, (), dot, [])
        if isinstance(node, Pipeline):
            return self.pipeline(node, dot)
        return None

    def chain(
        self,
        receiver: Any,
        names: tuple[str, ...],
        args: tuple[Operand, ...],
        dot: Any,
        final: list[Any],
    ) -> Any:
        for name in names[:-1]:
            receiver = self.field(receiver, name, [])
        values = [self.argument(a, dot) for a in args] + final
        return self.field(receiver, names[-1], values)

    def field(self, receiver: Any, name: str, args: list[Any]) -> Any:
        if isinstance(receiver, dict):
            if args:
                raise self.fail(f"{name} is not a method but has arguments")
            # The labels are a map of strings: a missing one is "" (missingkey=zero).
            string_map = receiver is self.root or isinstance(receiver, StringMap)
            return receiver.get(name, "" if string_map else None)
        if isinstance(receiver, TemplateValue):
            try:
                return receiver.template_member(name, args)
            except LookupError:
                raise self.fail(f"can't evaluate field {name} in type {receiver.go_type}") from None
        if isinstance(receiver, GoTime) and name in _TIME_METHODS:
            kinds, method = _TIME_METHODS[name]
            if len(args) != len(kinds) or not all(isinstance(a, str) for a in args):
                raise self.fail(
                    f"wrong number of args for {name}: want {len(kinds)} got {len(args)}"
                )
            return method(receiver, *args)
        if receiver is None:
            raise self.fail(f"nil pointer evaluating interface {{}}.{name}")
        raise self.fail(f"can't evaluate field {name} in type {type_name(receiver)}")

    def function(self, name: str, args: tuple[Operand, ...], dot: Any, final: list[Any]) -> Any:
        if name in ("and", "or"):
            return self.logic(name, args, dot, final)
        if name in ("__line__", "__timestamp__"):
            if args or final:
                raise self.fail(
                    f"wrong number of args for {name}: want 0 got {len(args) + len(final)}"
                )
            return self.line if name == "__line__" else GoTime(self.timestamp_ns)
        values = [self.argument(a, dot) for a in args] + final
        try:
            return call(name, self.functions[name], values)
        except TemplateCallError as exc:
            raise self.fail(f'executing "{self.name}" at <{name}>: {exc}') from exc

    def logic(self, name: str, args: tuple[Operand, ...], dot: Any, final: list[Any]) -> Any:
        """`and` / `or`: evaluates arguments only until the result is known."""
        if len(args) + len(final) < 1:
            raise self.fail(f"wrong number of args for {name}: want at least 1 got 0")
        value: Any = None
        for arg in args:
            value = self.argument(arg, dot)
            if truth(value) != (name == "and"):
                return value
        return final[0] if final else value


def _show(node: Operand) -> str:
    if isinstance(node, Literal):
        return repr(node.value) if isinstance(node.value, str) else sprint_value(node.value)
    if isinstance(node, Field):
        return "." + ".".join(node.names)
    if isinstance(node, Variable):
        return node.name
    return "(pipeline)"
