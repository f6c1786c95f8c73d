"""The knowledge base: groups, aliases, software, techniques and indicators, each claim with its source.

Reference data (ATT&CK, MISP galaxy) is kept per source as facts-only entries and merged into
identities by :mod:`aptcatch.knowledge.resolve`; indicator feeds are stored with their claims.
"""

from aptcatch.knowledge.errors import FeedError, KnowledgeError, NotFound
from aptcatch.knowledge.kb import default_db_path, open_store
from aptcatch.knowledge.models import (
    Claim,
    Entity,
    Entry,
    Fact,
    Hit,
    Indicator,
    IndicatorClaim,
    Link,
    Name,
)
from aptcatch.knowledge.sqlite_store import SqliteStore
from aptcatch.knowledge.store import KnowledgeStore

__all__ = [
    "Claim",
    "Entity",
    "Entry",
    "Fact",
    "FeedError",
    "Hit",
    "Indicator",
    "IndicatorClaim",
    "KnowledgeError",
    "KnowledgeStore",
    "Link",
    "Name",
    "NotFound",
    "SqliteStore",
    "default_db_path",
    "open_store",
]
