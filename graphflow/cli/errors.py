"""The two ways a command ends early: the user asked for something wrong, or it did not work."""

from __future__ import annotations

from typing import ClassVar

from graphflow.exceptions import GraphflowError

__all__ = ["CommandFailedError", "UsageError"]


class UsageError(GraphflowError, ValueError):
    """A bad argument (a missing file, a bad URL, a number out of range): exit code 2.

    The message names the argument and says what to give instead.
    """

    code = "usage_error"
    exit_code: ClassVar[int] = 2


class CommandFailedError(GraphflowError, RuntimeError):
    """The arguments were fine but the command could not do its job: exit code 1."""

    code = "command_failed"
    exit_code: ClassVar[int] = 1
