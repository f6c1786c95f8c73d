"""Engine properties on the bundled knowledge snapshot: specificity, open set, normalisation, filters.

The store is built from the snapshot once per session (:func:`kb`, about 4 s with the profiles);
every test then works on in-memory profiles. Speed is measured by the benchmark, not asserted here.
"""

from __future__ import annotations

import functools
import math
import tempfile
from datetime import date
from pathlib import Path

import pytest

from aptcatch.attribution.engine import attribute
from aptcatch.attribution.holdout import attack_cases
from aptcatch.attribution.knowledge_facts import GroupFacts
from aptcatch.attribution.profiles import Filters, Profiles, build_profiles, group_facts, load_profiles
from aptcatch.knowledge.kb import open_store
from aptcatch.knowledge.sqlite_store import SqliteStore
from aptcatch.model.attribution import AttributionResult
from aptcatch.model.evidence import Evidence, EvidenceIndicator

GENERIC = ("T1105", "T1204.002", "T1059.001", "T1588.002", "T1566.001", "T1059.003", "T1036.005")


@functools.cache
def kb() -> SqliteStore:
    """The bundled snapshot in a temporary store, shared by the attribution tests of the session."""
    tmp = Path(tempfile.mkdtemp(prefix="aptcatch-attr-"))
    return open_store(tmp / "kb.sqlite")


@pytest.fixture(scope="module")
def facts() -> GroupFacts:
    return group_facts(kb())


@pytest.fixture(scope="module")
def profiles() -> Profiles:
    return load_profiles(kb())


def _by_name(p: Profiles, name: str) -> str:
    return next(g for g, prof in p.groups.items() if prof.info.name == name)


def _total(r: AttributionResult) -> float:
    return sum(c.probability for c in r.candidates) + r.unknown


def test_probabilities_and_unknown_sum_to_one(profiles: Profiles) -> None:
    ev = Evidence(techniques=("T1566.001", "T1204.002", "T1059.005"), software=("ZxxZ",))
    for top in (1, 5, 50):
        r = attribute(ev, profiles, top=top)
        assert len(r.candidates) == top
        assert _total(r) == pytest.approx(1.0, abs=1e-9)
        assert [c.probability for c in r.candidates] == sorted(
            (c.probability for c in r.candidates), reverse=True
        )
    assert r.candidates[0].name == "BITTER"  # ZxxZ is BITTER's alone
    assert attribute(Evidence(), profiles).unknown == 1.0


def test_exclusive_indicator_moves_its_group_first(profiles: Profiles) -> None:
    base = Evidence(techniques=GENERIC)
    before = attribute(base, profiles, top=3)
    key, groups = next(
        (k, g)
        for k, g in sorted(profiles.postings.items())
        if k[0] == "indicator"
        and len(g) == 1
        and k[1].startswith("domain:")
        and g[0] != before.candidates[0].id
    )
    domain = key[1].split(":", 1)[1]
    after = attribute(
        base.model_copy(update={"indicators": (EvidenceIndicator(type="domain", value=domain),)}), profiles
    )
    assert after.candidates[0].id == groups[0]
    top = after.candidates[0]
    assert top.evidence[0].kind == "indicator" and top.evidence[0].weight > 2.0
    assert top.evidence[0].sources  # with its feed
    assert "[.]" not in top.evidence[0].value  # raw in the result document; only the screen defangs


def test_removing_the_true_group_leaves_unknown_first(facts: GroupFacts) -> None:
    case = next(c for c in attack_cases(facts) if "SolarWinds" in c.name)
    closed = attribute(case.evidence, build_profiles(facts, case.filters(Filters())))
    assert closed.candidates[0].name == "APT29" and closed.candidates[0].probability > 0.5
    assert closed.candidates[0].evidence and closed.candidates[0].evidence[0].sources
    opened = attribute(case.evidence, build_profiles(facts, case.filters(Filters(), open_set=True)))
    assert all(c.name != "APT29" for c in opened.candidates)
    assert opened.unknown > max(c.probability for c in opened.candidates)
    assert _total(opened) == pytest.approx(1.0)


def test_large_profiles_do_not_win_on_generic_evidence(profiles: Profiles) -> None:
    sizes = profiles.sizes["technique"]
    largest = set(sorted(sizes, key=lambda g: -sizes[g])[:10])
    r = attribute(Evidence(techniques=GENERIC), profiles, top=5)
    assert not largest & {c.id for c in r.candidates}
    assert r.unknown > 0.5  # common techniques tell little: most of the mass stays on unknown
    assert all(c.evidence[0].weight < 2.0 for c in r.candidates)  # none weighs like a specific item


def test_unknown_items_are_reported_not_scored(profiles: Profiles) -> None:
    ev = Evidence(
        techniques=("T9999", "T1566.001"), software=("NoSuchMalware123",), target={"sectors": ["zzz"]}
    )
    r = attribute(ev, profiles)
    assert r.evidence_used == 1
    ignored = " ".join(r.evidence_ignored)
    assert "T9999" in ignored and "NoSuchMalware123" in ignored and "zzz" in ignored
    old = attribute(Evidence(techniques=("T1193",)), profiles)  # revoked id of T1566.001
    assert old.evidence_used == 1 and not old.evidence_ignored


def test_exclude_source_removes_claims(facts: GroupFacts, profiles: Profiles) -> None:
    apt29 = _by_name(profiles, "APT29")
    no_attack = build_profiles(facts, Filters(exclude_sources=("MITRE ATT&CK",)))
    for prof in no_attack.groups.values():
        for support in prof.features.values():
            assert all("ATT&CK" not in c.source for a in support for c in a.chain)
    assert not no_attack.groups[apt29].values("technique")
    assert profiles.groups[apt29].values("technique")
    # A citation: relationships citing only it go, those with another citation stay.
    uses = profiles.groups[apt29].features
    single = next(
        (f, s[0].chain[-1].reference)
        for f, s in uses.items()
        if f[0] == "technique"
        and len(s) == 1
        and len(s[0].chain) == 1
        and " | " not in s[0].chain[-1].reference
    )
    name = single[1].split(" <", 1)[0]
    cut = load_profiles(kb(), exclude_sources=[name])
    gone = single[0] not in cut.groups[apt29].features
    assert gone
    for s in cut.groups[apt29].features.values():
        for a in s:
            assert all(name.casefold() not in c.source.casefold() for c in a.chain)
    assert cut.filters.describe()["exclude_sources"] == [name.casefold()]


def test_as_of_keeps_only_what_was_recorded(facts: GroupFacts, profiles: Profiles) -> None:
    day = date(2018, 1, 1)
    old = load_profiles(kb(), as_of=day)
    assert old is load_profiles(kb(), as_of=day)  # cached per filters
    assert 0 < len(old.groups) < len(profiles.groups)
    for prof in old.groups.values():
        for support in prof.features.values():
            for a in support:
                assert all(c.date and c.date[:10] <= "2018-01-01" for c in a.chain)
    r = attribute(Evidence(techniques=GENERIC), old)
    assert r.filters["as_of"] == "2018-01-01"


def test_unknown_is_the_population_background(profiles: Profiles) -> None:
    """P(f | unknown) = b(f)·(average coverage + (1 − b(f))·ε): a group drawn from the population."""
    from aptcatch.attribution.calibration import DEFAULT
    from aptcatch.attribution.features import resolve
    from aptcatch.attribution.scoring import coverage, score

    items, _ = resolve(Evidence(techniques=("T1566.001", "T1059.005")), profiles)
    sc = score(items, profiles)
    for m, u in zip(sc.matches, sc.unknown_terms, strict=True):
        cov = coverage(profiles, "technique", DEFAULT.size_exponent)
        assert 0.0 < cov < 1.0
        expected = DEFAULT.technique_weight * math.log(m.base * (cov + (1 - m.base) * DEFAULT.miss))
        assert u == pytest.approx(expected)
        # a group recording the technique explains it better than the background; one missing it, worse
        assert DEFAULT.technique_weight * math.log(DEFAULT.miss * m.base) < u


def test_indirect_techniques_count_only_at_their_fitted_share(profiles: Profiles) -> None:
    """A technique a group has only through its software: share ``indirect`` of a match, or a miss at 0."""
    from aptcatch.attribution.calibration import DEFAULT
    from aptcatch.attribution.features import resolve
    from aptcatch.attribution.scoring import item_term, match_items

    t, groups = next((t, g) for t, g in profiles.indirect_postings.items() if g)
    items, _ = resolve(Evidence(techniques=(t,)), profiles)
    (m,) = match_items(items, profiles)
    gid = next(g for g in groups if g in m.indirect)
    status, on = item_term(profiles, m, gid, DEFAULT, 0.0)
    assert status == "indirect"
    status_off, off = item_term(profiles, m, gid, DEFAULT.with_(indirect=0.0), 0.0)
    assert status_off == "miss" and off < on
