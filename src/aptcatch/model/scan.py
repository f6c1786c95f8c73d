"""The scan result model: one typed, frozen, versioned document that every renderer reads.

The JSON form is ``ScanReport.to_json_dict()``; its layout is documented in ``docs/scan-schema.md`` and
its JSON Schema is produced by ``ScanReport.model_json_schema()`` (``aptcatch schema scan``).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

SCAN_SCHEMA = "aptcatch.scan/1"

Verdict = Literal["clean", "suspicious", "malicious"]
Severity = Literal["info", "low", "medium", "high", "critical"]
SEVERITY_ORDER: dict[str, int] = {"info": 0, "low": 1, "medium": 2, "high": 3, "critical": 4}

JSONScalar = str | int | float | bool | None


class IndicatorType(StrEnum):
    URL = "url"
    DOMAIN = "domain"
    IPV4 = "ipv4"
    IPV6 = "ipv6"
    EMAIL = "email"
    MD5 = "md5"
    SHA1 = "sha1"
    SHA256 = "sha256"
    FILE_PATH = "file_path"
    REGISTRY_KEY = "registry_key"
    FILE_NAME = "file_name"
    PDB_PATH = "pdb_path"
    USER_AGENT = "user_agent"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ArtifactError(_Frozen):
    """Why an analyser could not (fully) read an artifact. The scan always goes on."""

    analyzer: str
    kind: Literal["limit", "parse", "timeout", "encrypted", "unsupported", "memory", "internal"]
    message: str


class Artifact(_Frozen):
    """One node of the delivery chain: the submitted file or anything extracted from it."""

    id: str = Field(description="Stable id inside the item: '0', '0.1', '0.1.3' …")
    name: str = Field(description="Name as seen by the victim (attachment / member / stream name)")
    type: str = Field(description="Type identified from content (see docs/scan-schema.md)")
    sha256: str
    md5: str
    size: int
    depth: int
    metadata: dict[str, JSONScalar | list[JSONScalar]] = Field(default_factory=dict)
    children: tuple[Artifact, ...] = ()
    errors: tuple[ArtifactError, ...] = ()


class Finding(_Frozen):
    id: str = Field(description="Finding rule id, e.g. 'vba.autoexec'")
    title: str
    severity: Severity
    weight: float = Field(description="Contribution to the item score (0..1) before chain combination")
    techniques: tuple[str, ...] = ()
    cves: tuple[str, ...] = ()
    artifact: str = Field(description="id of the artifact it was seen in")
    artifact_path: str = Field(description="names from the submitted item down to the artifact")
    detail: str = ""
    source: str = Field(default="aptcatch", description="analyser or rule set that produced it")


class Indicator(_Frozen):
    type: IndicatorType
    value: str = Field(description="Raw (not defanged) value")
    artifact: str
    context: str = Field(default="", description="where in the artifact: vba, relationship, lnk …")


class CVE(_Frozen):
    id: str
    title: str
    product: str
    fix: str
    reference: str
    artifacts: tuple[str, ...] = ()


class ThemeScore(_Frozen):
    theme: str
    score: float
    terms: tuple[str, ...] = ()


class Lure(_Frozen):
    language: str | None = Field(description="ISO 639-1 code of the dominant language of the lure text")
    languages: dict[str, float] = Field(default_factory=dict)
    themes: tuple[ThemeScore, ...] = ()
    sectors: tuple[str, ...] = ()
    sector_reasons: dict[str, list[str]] = Field(default_factory=dict)
    subject: str | None = None
    sender: str | None = None
    recipients: tuple[str, ...] = ()
    text_chars: int = 0
    excerpt: str = ""


class TechniqueRef(_Frozen):
    id: str
    name: str
    artifacts: tuple[str, ...] = ()


class ItemResult(_Frozen):
    path: str
    sha256: str
    size: int
    type: str
    verdict: Verdict
    score: int = Field(ge=0, le=100)
    reasons: tuple[str, ...] = Field(default=(), description="finding ids that contributed, strongest first")
    techniques: tuple[str, ...] = ()
    technique_refs: tuple[TechniqueRef, ...] = ()
    findings: tuple[Finding, ...] = ()
    indicators: tuple[Indicator, ...] = ()
    cves: tuple[CVE, ...] = ()
    lure: Lure
    artifact: Artifact
    errors: tuple[str, ...] = Field(default=(), description="item-level problems (unreadable input …)")
    duration_ms: float = 0.0


class ScanReport(_Frozen):
    schema_: str = Field(default=SCAN_SCHEMA, alias="schema")
    tool: str = "aptcatch"
    version: str
    items: tuple[ItemResult, ...] = ()

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    def to_json_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True)
