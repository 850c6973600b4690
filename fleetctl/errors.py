"""The FleetError tree. The CLI catches these once and turns them into one line and an exit code."""

from __future__ import annotations


class FleetError(Exception):
    """An error meant for the person at the terminal: one line, optional hint, exit code."""

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class ConfigError(FleetError):
    """The fleet file (or another input file) is wrong; nothing was started or changed."""

    exit_code = 2

    def __init__(self, path: object, key: str | None, expected: str, line: int | None = None) -> None:
        where = str(path)
        if line is not None:
            where += f":{line}"
        if key:
            where += f": {key}"
        super().__init__(f"{where}: {expected}")
        self.path = path
        self.key = key


class UsageError(FleetError):
    """Arguments that cannot be acted on (unknown agent, bad --since, ...)."""

    exit_code = 2


class StoreError(FleetError):
    """The state database cannot be used; the message says how to recover."""

    exit_code = 2


class StoreUnreachable(StoreError):
    """The store's database server cannot be reached (down, refused, or the login failed)."""

    exit_code = 1


class OperationFailed(FleetError):
    """Something was tried and did not work (a spawn failed, a process survived)."""

    exit_code = 1
