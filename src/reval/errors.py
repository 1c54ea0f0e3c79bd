"""reval's exception hierarchy: small, with messages a person can act on.

Each error's ``str()`` says what happened and what to do next; errors about
uploaded data carry their :class:`reval.ingest.problems.Problem` list.
"""

from __future__ import annotations


class RevalError(Exception):
    """Base of reval's errors; ``str()`` is always a message a person can act on."""
