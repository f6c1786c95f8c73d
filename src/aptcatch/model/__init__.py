"""Typed, frozen result and evidence models shared by every command and renderer."""

from aptcatch.model.scan import (
    CVE,
    SCAN_SCHEMA,
    Artifact,
    ArtifactError,
    Finding,
    Indicator,
    IndicatorType,
    ItemResult,
    Lure,
    ScanReport,
    TechniqueRef,
    ThemeScore,
)

__all__ = [
    "CVE",
    "SCAN_SCHEMA",
    "Artifact",
    "ArtifactError",
    "Finding",
    "Indicator",
    "IndicatorType",
    "ItemResult",
    "Lure",
    "ScanReport",
    "TechniqueRef",
    "ThemeScore",
]
