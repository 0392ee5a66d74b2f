"""Errors of ``hearth eval``; each message is one line a user can act on.

EvaluationError
├── DatasetError          the question file is missing, empty or has a bad line (which line, and why)
├── TargetNotFound        the server has no such collection or assistant (it answered 404)
├── ServerUnreachable     no answer from the server at that URL
└── ServerRefused         the server refused the run itself (a bad key, 401/403)
"""

from __future__ import annotations


class EvaluationError(Exception):
    """Base of the errors that stop an evaluation run."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class DatasetError(EvaluationError):
    """The question file cannot be used."""


class TargetNotFound(EvaluationError):
    """No collection or assistant by that name for this key."""


class ServerUnreachable(EvaluationError):
    """The server does not answer."""


class ServerRefused(EvaluationError):
    """The server answers, but not to this run (authentication, permissions)."""
