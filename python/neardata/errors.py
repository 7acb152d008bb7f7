"""Exceptions raised by :mod:`neardata`."""

from __future__ import annotations

from typing import Optional, Sequence


class ProfileError(ValueError):
    """A host profile, workload or argument was refused.

    The message is one line naming what was expected and what was found. The attributes say
    where, when that is known.

    Attributes
    ----------
    file : str or None
        The file (or ``"<string>"``, or the argument) the bad value came from.
    field : str or None
        Dotted path of the field (``transports.tcp.unloaded.server.per_byte``).
    value : str or None
        The value seen, as text.
    """

    def __init__(
        self,
        message: str,
        file: Optional[str] = None,
        field: Optional[str] = None,
        value: Optional[str] = None,
    ) -> None:
        super().__init__(message)
        self.file = file
        self.field = field
        self.value = value


class CalibrationError(RuntimeError):
    """The ``calibrate`` command failed or could not be found.

    Attributes
    ----------
    command : list of str
        The command that was run.
    returncode : int or None
        Its exit status (``None`` when it could not be started).
    output : str
        The last lines of what it printed (stdout and stderr).
    """

    def __init__(
        self, message: str, command: Sequence[str], returncode: Optional[int], output: str
    ) -> None:
        super().__init__(message)
        self.command = list(command)
        self.returncode = returncode
        self.output = output
