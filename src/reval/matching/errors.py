"""Errors from the matching engine: what went wrong and what to try."""

from __future__ import annotations

from typing import Literal

from reval.errors import RevalError

MatchingReason = Literal[
    "treatment_not_binary",
    "no_treated",
    "no_controls",
    "covariate_constant",
    "covariate_missing",
    "perfect_separation",
    "no_matches",
    "missing_column",
    "unreadable_file",
]


class MatchingError(RevalError):
    """The data cannot be matched as asked; ``reason`` says why for machines."""

    def __init__(self, message: str, *, reason: MatchingReason) -> None:
        super().__init__(message)
        self.reason = reason
