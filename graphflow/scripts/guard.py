"""The cost guard: measure what a statement receives and bound the work it can do.

The CEL binding cannot be interrupted and holds the GIL (measured: a thread evaluating a large
comprehension gets the interpreter to itself until it returns), so graphflow decides *before*
each statement runs whether it may run inline, on the caller's thread:

* every value the statement receives (its hoisted fields, ``let`` names, ``$``/``env``/``nodes``)
  is measured: its size ``S`` in JSON characters (each reference counted) and its nesting depth,
  which must stay under :attr:`~graphflow.scripts.ScriptLimits.max_value_depth` because the
  binding converts values recursively (a list nested ~8,000 deep overflows its stack: SIGSEGV);
* with ``L`` the statement's source length, no value the statement builds without a growth
  operation is larger than ``V0 = (S + L) * 4**calls``: every CEL operation's result is at most
  the sum of its operands, each helper's is at most its input, except ``split``, which at most
  quadruples it (``split('')`` of *n* characters is *n* one-character strings); no operation
  costs more than its operands' size, so the work is at most ``tokens * V0``;
* each growth operation (a comprehension, ``join``, ``replace``, ``matches``) can square the
  largest value: ``V(i) = V(i-1)**2`` (a ``map`` of *V* items each *V* large; a separator
  repeated *V* times; RE2 matching costs text * pattern). The *i*-th one iterates over at most
  ``V(i-1)`` items, accumulating quadratically in the binding (``V(i-1)**2 = V(i)``) and running
  a body of at most ``tokens * V(i-1)`` steps each time, so with *g* of them the work is at
  most ``2 * tokens * V(g)``.

A statement whose bound is at most :attr:`~graphflow.scripts.ScriptLimits.inline_cost` runs
inline (``$.a + 1`` costs ~100; a ``map`` over three numbers ~400,000); anything else runs in an isolated worker process
(:mod:`graphflow.scripts.isolation`) that is killed when it overruns its time or memory budget.
The bound only decides *where* a statement runs, so a conservative bound costs speed, never
safety.
"""

from __future__ import annotations

from typing import Any

__all__ = ["SCALAR_CHARS", "cost_bound", "measure", "value_bound"]

#: The JSON size counted for a scalar: the longest an int, a double or a timestamp renders.
SCALAR_CHARS = 32


def measure(value: Any, stop_at: int) -> tuple[int, int, int]:
    """Return ``value``'s size in JSON characters, its longest list/map/string and its depth.

    The walk stops once the size passes ``stop_at`` (the returned size is then only known to be
    larger), so measuring a huge value costs no more than measuring the limit.
    """
    size = longest = depth = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, level = stack.pop()
        if level > depth:
            depth = level
        if isinstance(item, (str, bytes)):
            size += len(item) + 2
            longest = max(longest, len(item))
        elif isinstance(item, dict):
            size += 2
            longest = max(longest, len(item))
            for key, val in item.items():
                size += len(key) + 4 if isinstance(key, str) else SCALAR_CHARS
                stack.append((val, level + 1))
        elif isinstance(item, (list, tuple)):
            size += 2 + len(item)
            longest = max(longest, len(item))
            stack.extend((v, level + 1) for v in item)
        else:
            size += SCALAR_CHARS
        if size > stop_at:
            break
    return size, longest, depth


def value_bound(inputs: int, source_chars: int, calls: int, growths: int, cap: int) -> int:
    """The largest value (JSON characters) a statement can build; at most ``cap + 1``."""
    bound = (inputs + source_chars) << (2 * calls)
    for _ in range(growths):
        if bound > cap:
            break
        bound *= bound
    return min(bound, cap + 1)


def cost_bound(inputs: int, source_chars: int, tokens: int, calls: int, growths: int, cap: int) -> int:
    """An upper bound on a statement's work, in steps; at most ``cap + 1``.

    Args:
        inputs: total JSON size of the values it receives, each counted once per reference.
        source_chars: its source length (literals are part of what it can build from).
        tokens: its token count (a bound on the number of operations in its AST).
        calls: its function calls.
        growths: its comprehensions, ``join``, ``replace`` and ``matches`` calls.
        cap: the bound that matters; larger results are reported as ``cap + 1``.
    """
    cost = tokens * value_bound(inputs, source_chars, calls, growths, cap)
    return min(cost * 2 if growths else cost, cap + 1)
