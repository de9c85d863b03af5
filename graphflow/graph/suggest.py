"""The "did you mean" of validation messages: suggest a name only when it is a close match."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = ["CUTOFF", "close_match"]

#: The least :class:`difflib.SequenceMatcher` ratio a suggestion needs (difflib's default is 0.6).
CUTOFF = 0.7
_MAX_WORD = 200  # difflib is quadratic
_AFFIX = 3  # the shortest name suggested because it starts or ends the other


def close_match(word: str, choices: Iterable[str]) -> str | None:
    """Return the choice ``word`` most likely misspells, or ``None`` when none is close.

    Names are compared case-insensitively, and without the whole words they share at the start:
    ``WorkflowFrobnicate`` and ``WorkflowCondition`` share ``Workflow``, so ``Frobnicate`` is
    compared with ``Condition`` (not close) while ``WorkflowSript`` still finds
    ``WorkflowScript``. A name also matches a single choice it starts or ends (``WorkflowHttp``
    → ``WorkflowHttpRequest``, ``Delay`` → ``WorkflowDelay``, ``start`` → ``start_node``).
    """
    if not word or len(word) > _MAX_WORD:
        return None
    typed = word.lower()
    best: tuple[float, str] | None = None
    affixed: list[str] = []
    for choice in dict.fromkeys(choices):
        name = choice.lower()
        if name == typed:
            return choice
        if len(typed) >= _AFFIX and len(name) >= _AFFIX and _affix(typed, name):
            affixed.append(choice)
            continue
        shared = _shared_words(choice, typed)
        score = difflib.SequenceMatcher(None, typed[shared:], name[shared:]).ratio()
        if score >= CUTOFF and (best is None or score > best[0]):
            best = (score, choice)
    if best is not None:
        return best[1]
    return affixed[0] if len(affixed) == 1 else None


def _affix(typed: str, name: str) -> bool:
    return name.startswith(typed) or typed.startswith(name) or name.endswith(typed)


def _shared_words(choice: str, typed: str) -> int:
    """How many characters of whole words (``Workflow``, ``start_``) ``choice`` and ``typed`` share."""
    size = 0
    name = choice.lower()
    while size < min(len(name), len(typed)) and name[size] == typed[size]:
        size += 1
    while size > 0 and (size == len(choice) or not (choice[size].isupper() or choice[size - 1] in "_-. ")):
        size -= 1
    return size
