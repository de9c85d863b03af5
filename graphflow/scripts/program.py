"""Compiled scripts: parse once when the graph loads, evaluate many times, bounded every time.

A :class:`Script` is a list of compiled statements. Evaluation passes the CEL backend only the
variables a statement references (the backend converts each one on every call), binds ``let``
names for later statements and routes ``println`` lines to the run's output. Before each
statement the cost guard (:mod:`graphflow.scripts.guard`) measures what the statement receives:
too deep a value or an obvious bomb is refused; a statement proven cheap runs inline; anything
else sends the whole script to an isolated worker process (:mod:`graphflow.scripts.isolation`),
which is killed if it overruns :attr:`ScriptLimits.timeout` or :attr:`ScriptLimits.max_memory`.
Every value a statement returns or binds is measured against :attr:`ScriptLimits.max_value_chars`
and :attr:`ScriptLimits.max_value_depth`.
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
from graphflow.scripts.guard import SCALAR_CHARS, cost_bound, measure
from graphflow.scripts.lexer import INPUT_NAME, MEMORY_ROOTS, ROOTS, LexError, Path, Shape, split_statements

__all__ = ["DEFAULT_LIMITS", "Script", "ScriptLimits", "format_line", "measure"]

_CEL_TYPE_NAMES = frozenset({"int", "uint", "double", "bool", "string", "bytes", "list", "map", "null_type", "type"})
_BUILTIN_VARIABLES = ROOTS
_HELPER_FAILURE = re.compile(
    r"Python function call failed: (\w+): (.*?)(?:\. Check function arguments and their types\.)?$", re.S
)
_HELPER_NAMES = frozenset({"println", "_unwrap_", *FUNCTIONS})
_HOISTED = frozenset(f"_p{i}" for i in range(1024))
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_HOISTED_NAME = re.compile(r"\b_p(\d+)\b")
_SCALARS = (int, float, bool, type(None))


@dataclass(frozen=True, slots=True)
class ScriptLimits:
    """Bounds applied to every script and template.

    Attributes:
        max_source_chars: longest accepted source text.
        max_statements: most statements in one script.
        max_bracket_depth: deepest nesting of brackets in one statement.
        max_comprehension_depth: deepest nesting of ``map``/``filter``/``all``/``exists``.
        max_cost: largest estimated comprehension work refused before evaluation starts
            (list length to the power of nesting + 1).
        max_value_chars: largest value (in characters of its JSON form, estimated) a statement
            may receive, bind with ``let`` or return; also the most ``println`` output.
        max_value_depth: deepest nesting of a value a statement receives, binds or returns.
        inline_cost: largest guard bound (see :mod:`graphflow.scripts.guard`) of a statement
            that runs inline; a larger one runs in an isolated worker process.
        timeout: seconds an isolated evaluation may take before its worker is killed.
        max_memory: bytes an isolated evaluation may allocate before its worker is stopped.
        workers: most isolated worker processes alive at once (per ``max_memory``).
    """

    max_source_chars: int = 16_384
    max_statements: int = 200
    max_bracket_depth: int = 32
    max_comprehension_depth: int = 2
    max_cost: int = 2_000_000
    max_value_chars: int = 1_048_576
    max_value_depth: int = 64
    inline_cost: int = 1_000_000
    timeout: float = 0.1
    max_memory: int = 64 * 1024 * 1024
    workers: int = 2


DEFAULT_LIMITS = ScriptLimits()


class _NeedsIsolation(Exception):
    """The guard could not prove a statement cheap: the script runs in a worker instead."""


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


class _Compiled:
    """One CEL program, the field chains it expects resolved for it, and how often it reads each name."""

    __slots__ = ("execute", "names", "paths", "uses", "variables")

    def __init__(self, expression: CompiledExpression, paths: tuple[Path, ...], source: str) -> None:
        self.execute = expression.execute
        self.variables = expression.variables
        self.names = expression.variables | expression.functions
        self.paths = paths
        counts: dict[str, int] = {}
        for name in _IDENTIFIER.findall(source):
            if name in self.variables:
                counts[name] = counts.get(name, 0) + 1
        # Each reference may copy the whole value (over-counting a field name is only conservative).
        self.uses = tuple(counts.items())


class _Statement:
    __slots__ = ("chars", "fallback", "guarded", "line", "main", "name", "shape")

    def __init__(
        self, name: str | None, main: _Compiled, fallback: _Compiled | None, shape: Shape, line: int, chars: int
    ) -> None:
        self.name = name
        self.main = main
        self.fallback = fallback
        self.shape = shape
        self.line = line
        self.chars = chars
        self.guarded = shape.comprehension_depth > 0 or shape.concatenations >= 4

    def cost(self, inputs: int, cap: int) -> int:
        """The guard's bound on this statement's work given the size of what it receives."""
        shape = self.shape
        return cost_bound(inputs, self.chars, shape.tokens, shape.calls, shape.growths, cap)


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

    __slots__ = ("_fast", "_fast_inputs", "_limits", "_memory", "_statements", "source")

    def __init__(self, source: str, statements: list[_Statement], limits: ScriptLimits) -> None:
        self.source = source
        self._statements = statements
        self._limits = limits
        #: Whether the script reads ``memory`` or ``previous_runs`` (only then are they looked up).
        self._memory = any(
            MEMORY_ROOTS.keys() & compiled.names or any(path.root in MEMORY_ROOTS for path in compiled.paths)
            for stmt in statements
            for compiled in (stmt.main, stmt.fallback)
            if compiled is not None
        )
        only = statements[0]
        # The common case: one statement with no growth operation, no println and no helpers;
        # it still passes the guard's size check, inline.
        self._fast = (
            len(statements) == 1
            and not only.guarded
            and not only.shape.growths
            and not (_HELPER_NAMES & only.main.names)
        )
        # With no growth and no split, the bound is tokens * (inputs + chars): solved for inputs.
        self._fast_inputs = limits.inline_cost // max(only.shape.tokens, 1) - only.chars

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
            paths = part.paths
            try:
                main = compile_expression(part.source)
                paths = part.fallback_paths
                fallback = compile_expression(part.fallback_source) if part.fallback_source != part.source else None
            except ValueError as exc:
                raise ScriptError(f"line {part.line}: {_clean(str(exc), paths)}") from None
            _check_names(main, bound | shape.loop_variables, part.line)
            statements.append(
                _Statement(
                    part.name,
                    _Compiled(main, part.paths, part.source),
                    _Compiled(fallback, part.fallback_paths, part.fallback_source) if fallback else None,
                    shape,
                    part.line,
                    # A literal scalar measures as SCALAR_CHARS, more than its text.
                    len(part.source) + SCALAR_CHARS * shape.tokens,
                )
            )
            if part.name is not None:
                bound.add(part.name)
        return cls(source, statements, limits)

    @property
    def limits(self) -> ScriptLimits:
        """The bounds this script was compiled with and is evaluated under."""
        return self._limits

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

        A statement the guard cannot prove cheap sends the script to an isolated worker and
        *blocks the calling thread* until it answers (at most :attr:`ScriptLimits.timeout` once
        a worker is free); on an event loop, use :meth:`evaluate_async`.

        Args:
            input: the value ``$`` stands for.
            env: host-provided values, read as ``env.NAME``.
            nodes: outputs of completed nodes, read as ``nodes.ID``.
            output: where ``println`` appends its lines (dropped when ``None``).

        Raises:
            ScriptLimitError: a value was too large or deep, the guard refused a statement, or
                the isolated evaluation overran its time or memory budget and was stopped.
            ScriptError: evaluation failed (missing key, type mismatch, overflow…).
        """
        try:
            return self._here(input, env, nodes, output)
        except _NeedsIsolation:
            pass
        from graphflow.scripts.isolation import pool_for

        value, lines = pool_for(self._limits).evaluate(self.source, self._limits, input, env or {}, nodes or {})
        if output is not None:
            output.extend(lines)
        return value

    def evaluate_inline(
        self,
        input: Any,
        *,
        env: Mapping[str, Any] | None = None,
        nodes: Mapping[str, Any] | None = None,
        output: list[str] | None = None,
    ) -> Any:
        """:meth:`evaluate` that never leaves the calling thread: what the guard cannot prove cheap is refused.

        Templates use it: a hole is rendered synchronously, wherever a node renders it, so it
        must stay within the inline bound — a heavy computation belongs in a ``WorkflowScript``
        node (evaluated off the loop), whose output the template then reads.

        Raises:
            ScriptLimitError: the guard cannot prove the evaluation cheap (nothing ran).
            ScriptError: evaluation failed.
        """
        try:
            return self._here(input, env, nodes, output)
        except _NeedsIsolation:
            raise ScriptLimitError(
                f"{self.source[:80]!r} may do too much work to render in a template (the inputs it reads are too "
                "large for the inline bound); compute it in a WorkflowScript node and read that node's output"
            ) from None

    async def evaluate_async(
        self,
        input: Any,
        *,
        env: Mapping[str, Any] | None = None,
        nodes: Mapping[str, Any] | None = None,
        output: list[str] | None = None,
    ) -> Any:
        """:meth:`evaluate` for an event loop: an isolated evaluation is awaited, not waited for.

        The loop and every other run go on while a worker process evaluates; a script that
        overruns its budget fails with :class:`~graphflow.exceptions.ScriptLimitError` (code
        ``script_limit``) and only its own node fails.
        """
        try:
            return self._here(input, env, nodes, output)
        except _NeedsIsolation:
            pass
        from graphflow.scripts.isolation import pool_for

        value, lines = await pool_for(self._limits).evaluate_async(
            self.source, self._limits, input, env or {}, nodes or {}
        )
        if output is not None:
            output.extend(lines)
        return value

    def _here(
        self, input: Any, env: Mapping[str, Any] | None, nodes: Mapping[str, Any] | None, output: list[str] | None
    ) -> Any:
        """Evaluate on the calling thread: the one-statement fast path, else statement by statement.

        Raises:
            _NeedsIsolation: a statement the guard cannot prove cheap (nothing of it ran).
        """
        if self._fast:
            try:
                return self._evaluate_fast(input, env, nodes)
            except (_Unresolved, _NeedsIsolation):
                pass
        return self._evaluate_inline(input, env or {}, nodes or {}, output)

    def evaluate_isolated(self, input: Any, env: Mapping[str, Any], nodes: Mapping[str, Any], output: list[str]) -> Any:
        """Evaluate every statement here, without classifying (the worker process's entry point)."""
        return self._run(input, env, nodes, output, inline_only=False)

    def _evaluate_fast(self, input: Any, env: Mapping[str, Any] | None, nodes: Mapping[str, Any] | None) -> Any:
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
        if self._memory:
            for name, key in MEMORY_ROOTS.items():
                if name in variables:
                    activation[name] = (env or {}).get(key)
        if main.paths:
            _resolve(main.paths, _scope(input, env or {}, nodes or {}, self._memory), activation)
        inputs = 0
        for name, uses in main.uses:
            value = activation.get(name)
            if isinstance(value, _SCALARS):
                inputs += SCALAR_CHARS * uses
            elif type(value) is str:
                inputs += (len(value) + 2) * uses
            else:
                inputs += self._measure_input(stmt, value) * uses
        if inputs > self._fast_inputs:
            raise _NeedsIsolation
        try:
            return main.execute(activation)
        except EVALUATION_ERRORS as exc:
            raise self._failure(stmt, exc) from None

    def _evaluate_inline(
        self, input: Any, env: Mapping[str, Any], nodes: Mapping[str, Any], output: list[str] | None
    ) -> Any:
        lines: list[str] = []
        try:
            value = self._run(input, env, nodes, lines, inline_only=True)
        except _NeedsIsolation:
            raise
        except ScriptError:
            if output is not None:
                output.extend(lines)
            raise
        if output is not None:
            output.extend(lines)
        return value

    def _run(
        self, input: Any, env: Mapping[str, Any], nodes: Mapping[str, Any], lines: list[str], *, inline_only: bool
    ) -> Any:
        limits = self._limits
        scope = _scope(input, env, nodes, self._memory)
        helpers: dict[str, Callable[..., Any]] = {**FUNCTIONS, "_unwrap_": _unwrap_value}
        printed = 0

        def println(*values: Any) -> Any:
            nonlocal printed
            for value in values:
                printed += measure(value, limits.max_value_chars)[0]
            if printed > limits.max_value_chars:
                raise ScriptLimitError(f"println wrote more than {limits.max_value_chars:,} characters")
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
            inputs = sum(
                self._measure_input(stmt, activation[name]) * uses for name, uses in program.uses if name in activation
            )
            if stmt.guarded:
                self._guard(stmt, activation)
            if inline_only and stmt.cost(inputs, limits.inline_cost) > limits.inline_cost:
                raise _NeedsIsolation
            for name in program.names & helpers.keys():
                activation[name] = helpers[name]
            try:
                result = program.execute(activation)
            except ScriptLimitError:
                raise
            except EVALUATION_ERRORS as exc:
                raise self._failure(stmt, exc) from None
            self._check_value(stmt, result)
            if stmt.name is not None:
                scope[stmt.name] = result
        return result

    def _measure_input(self, stmt: _Statement, value: Any) -> int:
        limits = self._limits
        size, _, depth = measure(value, limits.max_value_chars * 8)
        if depth > limits.max_value_depth:
            raise ScriptLimitError(
                f"line {stmt.line}: a value the statement reads nests {depth} deep; the limit is "
                f"{limits.max_value_depth}"
            )
        return size

    def _check_value(self, stmt: _Statement, value: Any) -> None:
        limits = self._limits
        size, _, depth = measure(value, limits.max_value_chars)
        if size > limits.max_value_chars:
            raise ScriptLimitError(f"line {stmt.line}: the value grew past {limits.max_value_chars:,} characters")
        if depth > limits.max_value_depth:
            raise ScriptLimitError(
                f"line {stmt.line}: the value nests {depth} deep; the limit is {limits.max_value_depth}"
            )

    def _guard(self, stmt: _Statement, activation: Mapping[str, Any]) -> None:
        """Refuse obvious bombs before they start (a cheap, early and clear error)."""
        limits = self._limits
        shape = stmt.shape
        size = longest = 0
        for value in activation.values():
            if not callable(value):
                s, n, _ = measure(value, limits.max_value_chars * 8)
                size += s
                # A string can become that many items (split('')); a map iterates its keys.
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
        paths = stmt.main.paths + (stmt.fallback.paths if stmt.fallback else ())
        text = str(exc)
        if isinstance(exc, KeyError):
            text = f"no such key: {text}"
        helper = _HELPER_FAILURE.search(text)
        if helper is not None:
            kind, detail = helper.group(1), helper.group(2).removesuffix(".")
            if kind == "ScriptLimitError":
                return ScriptLimitError(f"{where}{_clean(detail, paths)}")
            text = detail
        return ScriptError(f"{where}{_clean(text, paths)}")

    def __repr__(self) -> str:
        return f"Script({self.source!r})"


def _scope(input: Any, env: Mapping[str, Any], nodes: Mapping[str, Any], memory: bool) -> dict[str, Any]:
    """The names a script reads, by value: ``$``, ``env``, ``nodes`` (and ``memory``, ``previous_runs``)."""
    scope: dict[str, Any] = {INPUT_NAME: input, "env": env, "nodes": nodes}
    if memory:
        for name, key in MEMORY_ROOTS.items():
            scope[name] = env.get(key)
    return scope


def _check_names(compiled: CompiledExpression, bound: set[str] | frozenset[str], line: int) -> None:
    known = _BUILTIN_VARIABLES | bound | _CEL_TYPE_NAMES | _HOISTED
    unknown = sorted(compiled.variables - known)
    if unknown:
        raise ScriptError(
            f"line {line}: unknown name{'s' if len(unknown) > 1 else ''} "
            f"{', '.join(repr(n) for n in unknown)}; a script reads $ (its input), env.NAME, memory, previous_runs, "
            "nodes.ID and names bound earlier with let"
        )


def _clean(message: str, paths: tuple[Path, ...] = (), limit: int = 400) -> str:
    """Say what the user wrote: ``$`` for the input, ``unwrap``, and each hoisted chain's text."""
    if paths:
        texts = {path.variable: path.text for path in paths}
        message = _HOISTED_NAME.sub(lambda m: texts.get(m.group(0), m.group(0)), message)
    text = message.replace(INPUT_NAME, "$").replace("_unwrap_", "unwrap")
    return text if len(text) <= limit else text[: limit - 1] + "…"
