"""The evidence document: what was observed, by scan, hunt, a STIX bundle or an analyst.

Evidence is the common currency between observation (scan, hunt) and attribution. Every field is
optional; the JSON form is ``aptcatch.evidence/1`` (docs/evidence.md). Parsing and validation against
the knowledge base (unknown technique ids are errors, not silent drops) live in ``aptcatch.attribution``.
"""

from __future__ import annotations

from datetime import date
from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field

EVIDENCE_SCHEMA = "aptcatch.evidence/1"

ArtifactKind = Literal[
    "pdb_path",
    "macro_key",
    "mutex",
    "user_agent",
    "file_name",
    "lnk_machine_id",
    "imphash",
    "rich_hash",
    "codepage",
    "author",
    "yara_rule",
    "cve",
    "other",
]


EvidenceIndicatorType = Literal[
    "domain",
    "ipv4",
    "ipv6",
    "url",
    "email",
    "md5",
    "sha1",
    "sha256",
    "file_name",
    "pdb_path",
    "mutex",
    "user_agent",
]
EVIDENCE_INDICATOR_TYPES: frozenset[str] = frozenset(get_args(EvidenceIndicatorType))


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class EvidenceIndicator(_Frozen):
    type: EvidenceIndicatorType
    value: str
    seen_in: str | None = Field(default=None, description="where it was observed (artifact path, log file)")


class EvidenceArtifact(_Frozen):
    type: ArtifactKind
    value: str
    seen_in: str | None = None


class Target(_Frozen):
    sectors: tuple[str, ...] = ()
    countries: tuple[str, ...] = Field(default=(), description="ISO 3166-1 alpha-2 codes")


class LureFacts(_Frozen):
    language: str | None = None
    themes: tuple[str, ...] = ()


class Evidence(_Frozen):
    schema_: str = Field(default=EVIDENCE_SCHEMA, alias="schema")
    techniques: tuple[str, ...] = Field(default=(), description="ATT&CK technique ids (T1566.001 …)")
    software: tuple[str, ...] = Field(default=(), description="software names or ATT&CK ids (ZxxZ, S1013 …)")
    indicators: tuple[EvidenceIndicator, ...] = ()
    artifacts: tuple[EvidenceArtifact, ...] = ()
    target: Target = Field(default_factory=Target)
    lure: LureFacts = Field(default_factory=LureFacts)
    first_seen: date | None = None
    source: str | None = Field(default=None, description="what produced it: scan path, hunt, analyst")

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)
