"""Errors of the knowledge base that carry where they happened (file and position)."""

from __future__ import annotations


class KnowledgeError(Exception):
    """Base class of knowledge-base errors."""


class FeedError(KnowledgeError):
    """A feed could not be read. ``position`` is "line N", "object N" or "attribute N"; nothing was stored."""

    def __init__(self, path: str, position: str, message: str) -> None:
        self.path = path
        self.position = position
        self.message = message
        where = f"{path}: {position}" if position else path
        super().__init__(f"{where}: {message}")


class NotFound(KnowledgeError):
    """No entity by that name or id."""
