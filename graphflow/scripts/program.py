"""Compiled scripts: parse once when the graph loads, evaluate many times, bounded every time.

A :class:`Script` is a list of compiled statements. Evaluation passes the CEL backend only the
variables a statement references (the backend converts each one on every call), binds ``let``
names for later statements, routes ``println`` lines to the run's output, and applies the cost
guard: a statement with comprehensions, or with many concatenations, first measures the inputs it
references and refuses to start when the estimated work exceeds :attr:`ScriptLimits.max_cost`.
CEL has no loops or recursion, so this estimate bounds the evaluation's time and size.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from graphflow.exceptions import ScriptError, ScriptLimitError
from graphflow.scripts.backend import EVALUATION_ERRORS, CompiledExpression, compile_expression
from graphflow.scripts.functions import FUNCTIONS
from graphflow.scripts.lexer import INPUT_NAME, LexError, Path, Shape, split_statements

__all__ = ["DEFAULT_LIMITS", "Script", "ScriptLimits", "format_line", "measure"]

_CEL_TYPE_NAMES = frozenset({"int", "uint", "double", "bool", "string", "bytes", "list", "map", "null_type", "type"})
_BUILTIN_VARIABLES = frozenset({INPUT_NAME, "env", "nodes"})
_HELPER_FAILURE = re.compile(
    r"Python function call failed: (\w+): (.*?)(?:\. Check function arguments and their types\.)?$", re.S
)
_HELPER_NAMES = frozenset({"println", "_unwrap_", *FUNCTIONS})
_HOISTED = frozenset(f"_p{i}" for i in range(1024))


@dataclass(frozen=True, slots=True)
class ScriptLimits:
    """Bounds applied to every script and template.

    Attributes:
        max_source_chars: longest accepted source text.
        max_statements: most statements in one script.
        max_bracket_depth: deepest nesting of brackets in one statement.
        max_comprehension_depth: deepest nesting of ``map``/``filter``/``all``/``exists``.
        max_cost: largest estimated work (list length to the power of nesting + 1).
        max_value_chars: largest value (in characters of its JSON form, estimated) a statement
            may bind with ``let`` or return.
    """

    max_source_chars: int = 16_384
    max_statements: int = 200
    max_bracket_depth: int = 32
    max_comprehension_depth: int = 2
    max_cost: int = 2_000_000
    max_value_chars: int = 1_048_576


DEFAULT_LIMITS = ScriptLimits()


def format_line(value: Any) -> str:
    """Render a ``println`` argument: strings as they are, everything else as compact JSON."""
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, separators=(",", ":"), default=str)
    except (TypeError, ValueError):
        return str(value)


def _unwrap_value(value: Any, default: Any = None) -> Any:
    return default if value is None else value


def measure(value: Any, stop_at: int) -> tuple[int, int]:
    """Estimate ``value``'s size in JSON characters and its longest list, stopping past ``stop_at``."""
    size = 0
    longest = 0
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            size += len(item) + 2
        elif isinstance(item, dict):
            size += 2
            for key, val in item.items():
                size += len(key) + 4 if isinstance(key, str) else 8
                stack.append(val)
        elif isinstance(item, (list, tuple)):
            size += 2 + len(item)
            longest = max(longest, len(item))
            stack.extend(item)
        else:
            size += 8
        if size > stop_at:
            break
    return size, longest


class _Compiled:
    """One CEL program plus the field chains it expects to be resolved for it."""

    __slots__ = ("execute", "names", "paths", "variables")

    def __init__(self, expression: CompiledExpression, paths: tuple[Path, ...]) -> None:
        self.execute = expression.execute
        self.variables = expression.variables
        self.names = expression.variables | expression.functions
        self.paths = paths


class _Statement:
    __slots__ = ("fallback", "guarded", "line", "main", "name", "shape")

    def __init__(self, name: str | None, main: _Compiled, fallback: _Compiled | None, shape: Shape, line: int) -> None:
        self.name = name
        self.main = main
        self.fallback = fallback
        self.shape = shape
        self.line = line
        self.guarded = shape.comprehension_depth > 0 or shape.concatenations >= 4


class _Unresolved(Exception):
    """A strict field chain could not be resolved in Python; CEL decides instead."""


def _resolve(paths: tuple[Path, ...], scope: Mapping[str, Any], activation: dict[str, Any]) -> None:
    for path in paths:
        value = scope[path.root]
        for key in path.keys:
            if (type(value) is dict and key in value) or (isinstance(value, Mapping) and key in value):
                value = value[key]
            elif path.optional:
                value = None
                break
            else:
                raise _Unresolved
        activation[path.variable] = value


class Script:
    """A compiled script. Create it with :meth:`compile`; evaluate it with :meth:`evaluate`.

    Attributes:
        source: the script text as written.
    """

    __slots__ = ("_fast", "_limits", "_statements", "source")

    def __init__(self, source: str, statements: list[_Statement], limits: ScriptLimits) -> None:
        self.source = source
        self._statements = statements
        self._limits = limits
        only = statements[0]
        # The common case: one statement that needs no guard, no println and no helpers.
        self._fast = len(statements) == 1 and not only.guarded and not (_HELPER_NAMES & only.main.names)

    @classmethod
    def compile(cls, source: str, *, limits: ScriptLimits = DEFAULT_LIMITS) -> Script:
        """Parse and check ``source``.

        Raises:
            ScriptLimitError: the source is longer or deeper than ``limits`` allow.
            ScriptError: the source is not a valid script; the message names the line.
        """
        if not isinstance(source, str):
            raise ScriptError(f"a script must be a string, not {type(source).__name__}")
        if len(source) > limits.max_source_chars:
            raise ScriptLimitError(f"script is {len(source)} characters long; the limit is {limits.max_source_chars}")
        try:
            parts = split_statements(source)
        except LexError as exc:
            line = source.count("\n", 0, exc.pos) + 1
            raise ScriptError(f"line {line}: {exc}") from None
        if len(parts) > limits.max_statements:
            raise ScriptLimitError(f"script has {len(parts)} statements; the limit is {limits.max_statements}")
        statements: list[_Statement] = []
        bound: set[str] = set()
        for part in parts:
            shape = part.shape
            if shape.bracket_depth > limits.max_bracket_depth:
                raise ScriptLimitError(
                    f"line {part.line}: brackets nest {shape.bracket_depth} deep; "
                    f"the limit is {limits.max_bracket_depth}"
                )
            if shape.comprehension_depth > limits.max_comprehension_depth:
                raise ScriptLimitError(
                    f"line {part.line}: map/filter/all/exists nest {shape.comprehension_depth} "
                    f"deep; the limit is {limits.max_comprehension_depth}"
                )
            try:
                main = compile_expression(part.source)
                fallback = compile_expression(part.fallback_source) if part.fallback_source != part.source else None
            except ValueError as exc:
                raise ScriptError(f"line {part.line}: {_clean(str(exc))}") from None
            _check_names(main, bound | shape.loop_variables, part.line)
            statements.append(
                _Statement(
                    part.name,
                    _Compiled(main, part.paths),
                    _Compiled(fallback, part.fallback_paths) if fallback else None,
                    shape,
                    part.line,
                )
            )
            if part.name is not None:
                bound.add(part.name)
        return cls(source, statements, limits)

    @property
    def references_input(self) -> bool:
        """Whether the script reads ``$``."""
        return any(
            INPUT_NAME in s.main.variables or any(p.root == INPUT_NAME for p in s.main.paths) for s in self._statements
        )

    def evaluate(
        self,
        input: Any,
        *,
        env: Mapping[str, Any] | None = None,
        nodes: Mapping[str, Any] | None = None,
        output: list[str] | None = None,
    ) -> Any:
        """Evaluate the script and return the value of its last statement.

        Args:
            input: the value ``$`` stands for.
            env: host-provided values, read as ``env.NAME``.
            nodes: outputs of completed nodes, read as ``nodes.ID``.
            output: where ``println`` appends its lines (dropped when ``None``).

        Raises:
            ScriptLimitError: the cost guard refused to start a statement, or a value grew past
                :attr:`ScriptLimits.max_value_chars`.
            ScriptError: evaluation failed (missing key, type mismatch, overflow…).
        """
        if self._fast:
            stmt = self._statements[0]
            main = stmt.main
            activation: dict[str, Any] = {}
            variables = main.variables
            if INPUT_NAME in variables:
                activation[INPUT_NAME] = input
            if "env" in variables:
                activation["env"] = env if env is not None else {}
            if "nodes" in variables:
                activation["nodes"] = nodes if nodes is not None else {}
            if main.paths:
                try:
                    _resolve(main.paths, {INPUT_NAME: input, "env": env or {}, "nodes": nodes or {}}, activation)
                except _Unresolved:
                    return self._evaluate_slow(input, env or {}, nodes or {}, None)
            try:
                return main.execute(activation)
            except EVALUATION_ERRORS as exc:
                raise self._failure(stmt, exc) from None
        return self._evaluate_slow(input, env or {}, nodes or {}, output)

    def _evaluate_slow(
        self, input: Any, env: Mapping[str, Any], nodes: Mapping[str, Any], output: list[str] | None
    ) -> Any:
        limits = self._limits
        scope: dict[str, Any] = {INPUT_NAME: input, "env": env, "nodes": nodes}
        helpers: dict[str, Callable[..., Any]] = {**FUNCTIONS, "_unwrap_": _unwrap_value}
        lines = output if output is not None else []

        def println(*values: Any) -> Any:
            lines.append(" ".join(format_line(v) for v in values))
            return values[0] if len(values) == 1 else None

        helpers["println"] = println
        result: Any = None
        for stmt in self._statements:
            program = stmt.main
            activation = {name: scope[name] for name in program.names if name in scope}
            try:
                _resolve(program.paths, scope, activation)
            except _Unresolved:
                assert stmt.fallback is not None  # a strict path exists, so a fallback does too
                program = stmt.fallback
                activation = {name: scope[name] for name in program.names if name in scope}
                _resolve(program.paths, scope, activation)
            for name in program.names & helpers.keys():
                activation[name] = helpers[name]
            if stmt.guarded:
                self._guard(stmt, activation)
            try:
                result = program.execute(activation)
            except ScriptLimitError:
                raise
            except EVALUATION_ERRORS as exc:
                raise self._failure(stmt, exc) from None
            if stmt.name is not None or len(self._statements) > 1:
                size, _ = measure(result, limits.max_value_chars)
                if size > limits.max_value_chars:
                    raise ScriptLimitError(f"line {stmt.line}: the value grew past {limits.max_value_chars} characters")
            if stmt.name is not None:
                scope[stmt.name] = result
        return result

    def _guard(self, stmt: _Statement, activation: Mapping[str, Any]) -> None:
        limits = self._limits
        shape = stmt.shape
        size = longest = 0
        for value in activation.values():
            if not callable(value):
                s, n = measure(value, limits.max_value_chars * 8)
                size += s
                longest = max(longest, n)
        if shape.comprehension_depth:
            width = max(longest, shape.largest_list_literal, 1)
            cost = shape.comprehensions * width ** (shape.comprehension_depth + 1)
            if cost > limits.max_cost:
                raise ScriptLimitError(
                    f"line {stmt.line}: refused to evaluate: map/filter over lists of up to {width} "
                    f"items nested {shape.comprehension_depth} deep is estimated at {cost:,} steps "
                    f"(limit {limits.max_cost:,}); filter the list first or split the work "
                    "across a WorkflowMap node"
                )
        if shape.concatenations >= 4 and size * (shape.concatenations + 1) > limits.max_value_chars:
            raise ScriptLimitError(
                f"line {stmt.line}: refused to evaluate: {shape.concatenations} concatenations of "
                f"inputs totalling {size:,} characters could exceed {limits.max_value_chars:,}"
            )

    def _failure(self, stmt: _Statement, exc: BaseException) -> ScriptError:
        where = f"line {stmt.line}: " if len(self._statements) > 1 else ""
        text = str(exc)
        if isinstance(exc, KeyError):
            text = f"no such key: {text}"
        helper = _HELPER_FAILURE.search(text)
        if helper is not None:
            kind, detail = helper.group(1), helper.group(2).removesuffix(".")
            if kind == "ScriptLimitError":
                return ScriptLimitError(f"{where}{_clean(detail)}")
            text = detail
        return ScriptError(f"{where}{_clean(text)}")

    def __repr__(self) -> str:
        return f"Script({self.source!r})"


def _check_names(compiled: CompiledExpression, bound: set[str] | frozenset[str], line: int) -> None:
    known = _BUILTIN_VARIABLES | bound | _CEL_TYPE_NAMES | _HOISTED
    unknown = sorted(compiled.variables - known)
    if unknown:
        raise ScriptError(
            f"line {line}: unknown name{'s' if len(unknown) > 1 else ''} "
            f"{', '.join(repr(n) for n in unknown)}; a script reads $ (its input), env.NAME, "
            "nodes.ID and names bound earlier with let"
        )


def _clean(message: str, limit: int = 400) -> str:
    text = message.replace(INPUT_NAME, "$").replace("_unwrap_", "unwrap")
    return text if len(text) <= limit else text[: limit - 1] + "…"
