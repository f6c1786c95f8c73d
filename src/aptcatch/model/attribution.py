"""The attribution result: ranked candidate groups with probabilities, reasons and provenance.

Probabilities of the candidates plus ``unknown`` (the share for "a group not in the knowledge base")
sum to 1. Every evidence contribution names the knowledge-base facts it used and their sources.
JSON form ``aptcatch.attribution/1`` (docs/attribution.md).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

ATTRIBUTION_SCHEMA = "aptcatch.attribution/1"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class SourceRef(_Frozen):
    source: str = Field(description="e.g. 'MITRE ATT&CK Enterprise v18.1', 'MISP galaxy threat-actor'")
    reference: str | None = Field(default=None, description="URL or citation source_name")
    date: str | None = None


class Contribution(_Frozen):
    kind: str = Field(
        description="technique | software | indicator | artifact | sector | country | "
        "language | theme | period"
    )
    value: str
    weight: float = Field(description="log-likelihood contribution to this candidate (negative = against)")
    explanation: str
    sources: tuple[SourceRef, ...] = ()


class Conflict(_Frozen):
    """Public claims that disagree (e.g. two vendors naming different groups for one indicator)."""

    about: str
    claims: tuple[str, ...]
    sources: tuple[SourceRef, ...] = ()


class Candidate(_Frozen):
    id: str = Field(description="knowledge-base entity id")
    name: str
    aliases: tuple[str, ...] = ()
    attack_id: str | None = None
    country: str | None = None
    probability: float = Field(ge=0.0, le=1.0)
    score: float = Field(description="unnormalised log score")
    evidence: tuple[Contribution, ...] = Field(default=(), description="for, strongest first")
    against: tuple[Contribution, ...] = Field(default=(), description="strongest evidence against")
    conflicts: tuple[Conflict, ...] = ()


class AttributionResult(_Frozen):
    schema_: str = Field(default=ATTRIBUTION_SCHEMA, alias="schema")
    candidates: tuple[Candidate, ...] = ()
    unknown: float = Field(ge=0.0, le=1.0, description="share for 'not a group in the knowledge base'")
    evidence_used: int = 0
    evidence_ignored: tuple[str, ...] = Field(default=(), description="items known to no source, with why")
    filters: dict[str, list[str] | str | None] = Field(
        default_factory=dict, description="--exclude-source / --as-of in force"
    )
    duration_ms: float = 0.0

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)
