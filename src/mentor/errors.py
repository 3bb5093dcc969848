"""The errors a user can fix. Each message names the input and the fix, on one line.

The CLI prints ``error: <message>`` and exits with the class's ``exit_code``; the API maps
``http_status`` to the response. Anything that is not a ``MentorError`` is a bug and keeps its
traceback.
"""

from __future__ import annotations


class MentorError(Exception):
    """Base of every error mentor reports to a user as one line."""

    exit_code = 1
    http_status = 500

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        self.message = message
        self.hint = hint
        super().__init__(message if hint is None else f"{message} ({hint})")

    def __str__(self) -> str:
        return self.message if self.hint is None else f"{self.message} ({self.hint})"


class ConfigError(MentorError):
    """mentor.yaml, a --set override or a command's options are wrong."""

    exit_code = 2
    http_status = 400


class WorkspaceError(MentorError):
    """The workspace is missing, already exists, or is damaged."""

    exit_code = 2
    http_status = 500


class DataError(MentorError):
    """An input file or row cannot be used (named as file:line)."""

    exit_code = 3
    http_status = 400


class ModelError(MentorError):
    """A model or adapter directory is missing or broken."""

    exit_code = 4
    http_status = 500


class JobError(MentorError):
    """A training or evaluation job cannot go on."""

    exit_code = 5
    http_status = 409


class NotFoundError(MentorError):
    """A named thing (version, job, benchmark, backup) does not exist."""

    exit_code = 6
    http_status = 404


class IntegrityError(MentorError):
    """A checksum does not match: a backup or version was changed or damaged."""

    exit_code = 7
    http_status = 500
