"""Terminal view, JSON document and ATT&CK Navigator layer, on hand-built attribution results."""

from __future__ import annotations

import json
import re

import pytest
from rich.console import Console

from aptcatch.attribution.navigator import (
    BOTH,
    OBSERVED,
    PROFILE,
    claim_allowed,
    layer_for_result,
    navigator_layer,
    profile_techniques,
)
from aptcatch.attribution.render import (
    attribution_document,
    bar,
    defang_text,
    format_source,
    render_attribution,
)
from aptcatch.knowledge.models import Claim
from aptcatch.model.attribution import AttributionResult, Candidate, Conflict, Contribution, SourceRef
from tests.attribution.test_evidence_io import small_store

ATT = SourceRef(
    source="MITRE ATT&CK Enterprise v18.1",
    reference="Vendor Report 2019 <https://vendor.example/r> | Other Report <https://other.example/x>",
    date="2019-06-01",
)
FEED = SourceRef(source="feed bitter/iocs.csv", reference="https://feeds.example/bitter", date="2021-01-01")


def sample_result() -> AttributionResult:
    hazy = Candidate(
        id="intrusion-set--g1",
        name="HAZY TIGER",
        aliases=("Bitter", "T-APT-17"),
        attack_id="G9001",
        country="IN",
        probability=0.7,
        score=5.0,
        evidence=(
            Contribution(
                kind="indicator",
                value="update.example-cdn.test",
                weight=4.2,
                explanation="domain update.example-cdn.test listed for this group only",
                sources=(FEED,),
            ),
            Contribution(
                kind="technique", value="T1566.001", weight=0.4, explanation="common", sources=(ATT,)
            ),
        ),
        against=(
            Contribution(kind="country", value="CN", weight=-0.9, explanation="never seen targeting CN"),
        ),
        conflicts=(
            Conflict(
                about="update.example-cdn.test",
                claims=("HAZY TIGER", "QUILTED TIGER"),
                sources=(FEED, ATT),
            ),
        ),
    )
    quilted = Candidate(
        id="intrusion-set--g2", name="QUILTED TIGER", attack_id="G9002", probability=0.1, score=1.0
    )
    return AttributionResult(
        candidates=(hazy, quilted),
        unknown=0.2,
        evidence_used=3,
        evidence_ignored=("software ZzZ: not in the knowledge base",),
        filters={"exclude_sources": ["mandiant"], "as_of": None},
        duration_ms=1.5,
    )


def _render(result: AttributionResult, **kw: int) -> str:
    console = Console(width=160, record=True, color_system=None)
    render_attribution(result, console, **kw)
    return console.export_text()


def test_terminal_view_has_chart_reasons_sources_and_conflicts() -> None:
    text = _render(sample_result())
    lines = text.splitlines()
    chart = [ln for ln in lines if re.search(r"\d+\.\d%$", ln.strip())]
    assert "HAZY TIGER" in chart[0] and "70.0%" in chart[0]
    assert "unknown" in chart[1] and "20.0%" in chart[1]  # ranked with the candidates
    assert "QUILTED TIGER" in chart[2]
    assert "█" in chart[0]
    assert "update[.]example-cdn[.]test" in text  # defanged
    assert "update.example-cdn.test" not in text
    assert "feed bitter/iocs.csv" in text and "Vendor Report 2019" in text  # sources of facts
    assert "https://vendor.example" not in text  # citation names, not URLs
    assert "against" in text and "never seen targeting CN" in text
    assert "conflicting public claims" in text
    conflict_row = next(ln for ln in lines if "HAZY TIGER" in ln and "QUILTED TIGER" in ln)
    assert conflict_row.index("HAZY TIGER") < conflict_row.index("QUILTED TIGER")  # side by side
    assert "exclude_sources=mandiant" in text
    assert "software ZzZ" in text


def test_unknown_first_is_said_plainly() -> None:
    result = AttributionResult(unknown=1.0, evidence_used=0)
    text = _render(result)
    assert "No known group" in text
    assert "100.0%" in text
    assert "fits no group" in text


def test_narrow_console_puts_sources_under_reasons() -> None:
    console = Console(width=80, record=True, color_system=None)
    render_attribution(sample_result(), console)
    text = console.export_text()
    assert "why · source" in text and "feed bitter/iocs.csv" in text
    assert max(len(line) for line in text.splitlines()) <= 80


def test_explain_limits_panels() -> None:
    text = _render(sample_result(), explain=1)
    assert "#1 HAZY TIGER" in text and "#2 QUILTED TIGER" not in text


def test_json_document_is_the_model_dump() -> None:
    result = sample_result()
    doc = attribution_document(result)
    assert doc["schema"] == "aptcatch.attribution/1"
    assert json.loads(json.dumps(doc)) == doc
    assert doc["candidates"][0]["evidence"][0]["value"] == "update.example-cdn.test"  # raw in JSON
    for key in ("id", "name", "aliases", "attack_id", "probability", "evidence"):
        assert key in doc["candidates"][0]
    assert AttributionResult.model_validate(doc) == result
    assert sum(c["probability"] for c in doc["candidates"]) + doc["unknown"] == pytest.approx(1.0)


@pytest.mark.parametrize(("f", "cells"), [(0.0, 0), (1.0, 32), (0.5, 16), (2.0, 32), (-1.0, 0)])
def test_bar(f: float, cells: int) -> None:
    b = bar(f)
    assert len(b) == 32
    assert b.count("█") == cells


def test_helpers() -> None:
    assert format_source(FEED) == "feed bitter/iocs.csv — https://feeds.example/bitter (2021-01-01)"
    assert defang_text("seen at http://a.test/x and 198.51.100.7, not in report.pdf") == (
        "seen at hxxp://a[.]test/x and 198[.]51[.]100[.]7, not in report.pdf"
    )
    assert defang_text("(evil[.]test)") == "(evil[.]test)"  # already defanged stays as it is


# -- Navigator -------------------------------------------------------------------------------------------
def test_layer_marks_three_kinds_with_legend() -> None:
    layer = navigator_layer(
        ["T1566.001", "T1203", "bogus"],
        ["T1566.001", "T1221"],
        candidate="HAZY TIGER (G9001)",
        probability=0.7,
    )
    assert layer["versions"] == {"attack": "18", "navigator": "5.2.0", "layer": "4.5"}
    assert layer["domain"] == "enterprise-attack"
    assert layer["name"]
    by_id = {t["techniqueID"]: t for t in layer["techniques"]}
    assert set(by_id) == {"T1566.001", "T1203", "T1221"}
    assert (by_id["T1566.001"]["score"], by_id["T1566.001"]["color"]) == BOTH[:2]
    assert (by_id["T1203"]["score"], by_id["T1203"]["color"]) == OBSERVED[:2]
    assert (by_id["T1221"]["score"], by_id["T1221"]["color"]) == PROFILE[:2]
    assert len({BOTH[1], OBSERVED[1], PROFILE[1]}) == 3
    assert [i["color"] for i in layer["legendItems"]] == [BOTH[1], OBSERVED[1], PROFILE[1]]
    assert layer["gradient"]["minValue"] < layer["gradient"]["maxValue"]
    assert {"name": "overlap", "value": "1"} in layer["metadata"]
    json.dumps(layer)


def test_layer_matches_the_navigator_45_shape() -> None:
    """Required fields and types of layer format 4.5 (mitre-attack/attack-navigator layers/spec/v4.5)."""
    layer = navigator_layer(["T1566.001"], [])
    assert isinstance(layer["name"], str) and layer["domain"] in (
        "enterprise-attack",
        "mobile-attack",
        "ics-attack",
    )
    assert {"navigator", "layer"} <= set(layer["versions"])
    for t in layer["techniques"]:
        assert re.fullmatch(r"T\d{4}(\.\d{3})?", t["techniqueID"])
        assert isinstance(t["score"], int | float) and re.fullmatch(r"#[0-9a-f]{6}", t["color"])
    for item in layer["legendItems"]:
        assert set(item) == {"label", "color"}
    for m in layer["metadata"]:
        assert set(m) == {"name", "value"} and isinstance(m["value"], str)
    assert len(layer["gradient"]["colors"]) >= 2


def test_layer_for_result_reads_profile_from_the_store() -> None:
    store = small_store()
    result = sample_result().model_copy(
        update={"candidates": tuple(c.model_copy(update={"id": c.id}) for c in sample_result().candidates)}
    )
    layer = layer_for_result(result, ["T1566.001", "T1203"], store)
    by_id = {t["techniqueID"]: t["score"] for t in layer["techniques"]}
    assert by_id == {"T1566.001": 3, "T1203": 2, "T1059.005": 1, "T1221": 1}
    assert "HAZY TIGER (G9001)" in layer["name"]
    empty = layer_for_result(AttributionResult(unknown=1.0), ["T1203"], store)
    assert [t["score"] for t in empty["techniques"]] == [2]
    given = layer_for_result(result, ["T1203"], None, profile=["T1203"])
    assert [t["score"] for t in given["techniques"]] == [3]


def test_profile_filters() -> None:
    store = small_store()
    assert profile_techniques(store, "intrusion-set--g1") == {"T1566.001", "T1059.005", "T1221"}
    assert profile_techniques(store, "intrusion-set--g1", exclude_sources=["vendor report"]) == set()
    from datetime import date

    assert profile_techniques(store, "intrusion-set--g1", as_of=date(2019, 1, 1)) == set()
    assert profile_techniques(store, "nope") == set()
    c = Claim("X", "A <https://a.example> | B <https://b.example>", "2020-01-01")
    assert claim_allowed(c, ["a.example"])  # B still stands
    assert not claim_allowed(c, ["example"])
    assert not claim_allowed(Claim("feed Mandiant"), ["MANDIANT"])
