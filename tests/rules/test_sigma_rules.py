"""The bundled Sigma rules: well-formed for pySigma, complete metadata, real ATT&CK techniques (checked
against the knowledge snapshot shipped in the package), unique ids, and the sysmon + windows pipelines
apply to every rule."""

from __future__ import annotations

import re
import uuid
from datetime import date
from functools import cache
from pathlib import Path

import pytest
import yaml
from sigma.collection import SigmaCollection
from sigma.pipelines.sysmon import sysmon_pipeline
from sigma.pipelines.windows import windows_logsource_pipeline
from sigma.rule import SigmaRule
from sigma.validation import SigmaValidator
from sigma.validators.core import validators

from aptcatch.knowledge.snapshot import SNAPSHOT_PATH, read_snapshot
from aptcatch.rules.sigma_store import bundled_rules_dir

RULE_FILES = sorted(bundled_rules_dir().glob("*.yml"))
# Categories the sysmon pipeline turns into an EventID condition.
SYSMON_CATEGORIES = {
    "process_creation",
    "file_event",
    "network_connection",
    "registry_set",
    "image_load",
    "dns_query",
}
# Validators that need data pySigma would download, or that concern other tag schemes.
OFFLINE_SKIP = {"attacktag", "d3_fendtag", "tlptag", "tlpv1_tag", "tlpv2_tag"}


@cache
def attack_vocabulary() -> tuple[frozenset[str], frozenset[str]]:
    """Active technique ids and tactic short names of the ATT&CK release in the bundled snapshot."""
    techniques, tactics = set(), set()
    for entry in read_snapshot(SNAPSHOT_PATH)["entries"]:
        if entry["kind"] != "technique" or not entry.get("active", True):
            continue
        for fact in entry["facts"]:
            if fact[0] == "external_id":
                techniques.add(fact[1].lower())
            elif fact[0] == "tactic":
                tactics.add(fact[1].lower())
    return frozenset(techniques), frozenset(tactics)


def load(path: Path) -> SigmaRule:
    (rule,) = SigmaCollection.from_yaml(path.read_text(encoding="utf-8")).rules
    return rule


def test_the_set_has_the_promised_size() -> None:
    assert 12 <= len(RULE_FILES) <= 20


@pytest.mark.parametrize("path", RULE_FILES, ids=lambda p: p.stem)
def test_rule_parses_and_has_complete_metadata(path: Path) -> None:
    rule = load(path)
    for condition in rule.detection.parsed_condition:
        condition.parse()  # conditions are parsed lazily; force it
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(rule.id, uuid.UUID)
    assert rule.title and len(rule.title) <= 120
    assert rule.description and raw["author"] == "aptcatch"
    assert isinstance(raw["date"], date)
    assert rule.status is not None and rule.status.name.lower() in {"experimental", "test"}
    assert rule.level is not None
    assert raw["falsepositives"]
    assert rule.logsource.product == "windows" and rule.logsource.category in SYSMON_CATEGORIES
    for ref in raw.get("references", []):
        assert re.fullmatch(r"https://attack\.mitre\.org/techniques/T\d{4}(/\d{3})?/", ref), ref


@pytest.mark.parametrize("path", RULE_FILES, ids=lambda p: p.stem)
def test_attack_tags_exist_in_the_shipped_attack_release(path: Path) -> None:
    techniques, tactics = attack_vocabulary()
    tags = [t for t in load(path).tags if t.namespace == "attack"]
    names = {t.name.lower() for t in tags}
    assert any(re.fullmatch(r"t\d{4}(\.\d{3})?", n) for n in names), "no technique tag"
    for name in names:
        if re.fullmatch(r"t\d{4}(\.\d{3})?", name):
            assert name in techniques, f"attack.{name} is not an active technique"
        else:
            assert name in tactics, f"attack.{name} is not a tactic"
    for ref in yaml.safe_load(path.read_text(encoding="utf-8")).get("references", []):
        tid = ref.rstrip("/").split("/techniques/")[1].replace("/", ".").lower()
        assert tid in techniques, ref


def test_ids_and_titles_are_unique() -> None:
    rules = [load(p) for p in RULE_FILES]
    assert len({r.id for r in rules}) == len(rules)
    assert len({r.title for r in rules}) == len(rules)


def test_pysigma_validators_find_nothing() -> None:
    collection = SigmaCollection.load_ruleset([str(p) for p in RULE_FILES])
    validator = SigmaValidator([cls for name, cls in validators.items() if name not in OFFLINE_SKIP])
    issues = validator.validate_rules(collection)
    assert not issues, "\n".join(str(i)[:300] for i in issues)


@pytest.mark.parametrize("path", RULE_FILES, ids=lambda p: p.stem)
def test_sysmon_and_windows_pipelines_apply(path: Path) -> None:
    rule = load(path)
    pipeline = sysmon_pipeline() + windows_logsource_pipeline()
    pipeline.apply(rule)
    assert rule.logsource.service == "sysmon"
    assert {"sysmon_" + str(rule.logsource.category) + "_eventid", "windows_logsource_sysmon"} <= set(
        pipeline.applied_ids
    )


def test_rules_use_the_spec_modifiers_they_promise() -> None:
    text = "\n".join(p.read_text(encoding="utf-8") for p in RULE_FILES)
    for modifier in ("|endswith", "|contains|all", "|windash", "|re", "|cidr"):
        assert modifier in text, modifier
    assert re.search(r"condition: .*\bnot\b", text)
