"""Trigger automations' ``filter``: decided on the publish path, in a couple of microseconds.

Most filters compare one field of the payload with a literal (``$.priority == 'high'``,
``$.kind != 'bot'``). Those are decided here in Python, without a call into CEL — exactly as
CEL decides them: a missing field or a value that is not a map on the way is an error in CEL
(``no such key``), and an error holds for no event, so it is ``False`` for ``==`` and ``!=``
alike; a value of another type than the literal (``null``, a number, a list) is simply not equal
(heterogeneous equality: ``1 == true`` is false, unlike Python's). A property test checks the two
agree. Every other filter is a compiled script, evaluated inline.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from graphflow.exceptions import GraphflowError

__all__ = ["FilterCheck", "compile_filter"]

#: ``payload → holds?``
FilterCheck = Callable[[Any], bool]

_SIMPLE = re.compile(
    r"""\s*\$((?:\.[A-Za-z_][A-Za-z0-9_]*)+)\s*(==|!=)\s*
        (?:'([^'\\\n]*)'|"([^"\\\n]*)"|(true|false))\s*""",
    re.VERBOSE,
)


def compile_filter(source: str) -> FilterCheck:
    """A check for ``source``: the Python fast path for ``$.a.b == / != literal``, else the script.

    Raises:
        GraphflowError: the filter does not compile (automations refuse it when stored).
    """
    simple = _SIMPLE.fullmatch(source)
    if simple is not None:
        keys = tuple(simple.group(1)[1:].split("."))
        single, double, flag = simple.group(3), simple.group(4), simple.group(5)
        literal: Any = single if single is not None else double if double is not None else flag == "true"
        return _compare(keys, literal, simple.group(2) == "==")
    from graphflow.scripts import Script

    script = Script.compile(source)

    def check(payload: Any) -> bool:
        try:
            return script.evaluate_inline(payload) is True
        except GraphflowError:
            return False

    return check


def _compare(keys: tuple[str, ...], literal: Any, equal: bool) -> FilterCheck:
    kind = type(literal)

    def check(payload: Any) -> bool:
        value = payload
        for key in keys:
            if type(value) is not dict or key not in value:
                return False  # CEL: no such key (or not a map): an error holds for nothing
            value = value[key]
        same = type(value) is kind and value == literal  # CEL: values of two types are never equal
        return same is equal

    return check
