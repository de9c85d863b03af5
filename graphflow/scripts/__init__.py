"""The script and template language: CEL with ``$``, ``let``, ``println`` and ``unwrap``.

Scripts compile once, when the graph loads, and evaluate many times under the bounds of
:class:`ScriptLimits`. Nothing in a script reaches Python: no ``eval``/``exec``, no attribute
access to Python objects, only data in and data out. See ``docs/scripts.md``.
"""

from graphflow.scripts.program import DEFAULT_LIMITS, Script, ScriptLimits
from graphflow.scripts.template import Template, compile_template

__all__ = ["DEFAULT_LIMITS", "Script", "ScriptLimits", "Template", "compile_script", "compile_template"]


def compile_script(source: str, *, limits: ScriptLimits = DEFAULT_LIMITS) -> Script:
    """Compile a script (see :meth:`Script.compile`)."""
    return Script.compile(source, limits=limits)
