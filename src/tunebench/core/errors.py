"""User-facing errors: one line saying what and where, never a traceback."""

from __future__ import annotations


class UserError(Exception):
    """A problem with the user's input or environment, reported as one line with a non-zero exit.

    `where` names the place (file, record index, field) so the user can fix it without guessing.
    """

    exit_code = 2

    def __init__(self, message: str, where: str | None = None):
        self.message = message
        self.where = where
        super().__init__(self.one_line())

    def one_line(self) -> str:
        return f"{self.where}: {self.message}" if self.where else self.message


class DataError(UserError):
    """Bad data: malformed file, record, field or image."""

    exit_code = 1


class UnsafeCheckpointError(UserError):
    """A checkpoint format that can execute code on load (pickle) without the explicit allow flag."""
