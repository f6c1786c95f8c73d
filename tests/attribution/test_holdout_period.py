"""The hold-out strikes a campaign's reports by name and by URL, whichever source cites them; a group's
documented activity is dated by the reports its facts cite, and a case's date counts for the groups
active then."""

from __future__ import annotations

from datetime import date

from aptcatch.attribution.engine import attribute
from aptcatch.attribution.holdout import attack_cases
from aptcatch.attribution.profiles import Filters, build_profiles, citation_url, load_facts
from aptcatch.knowledge.models import Claim, Entry, Fact, Link
from aptcatch.knowledge.sqlite_store import SqliteStore
from aptcatch.model.evidence import Evidence

ATT = "MITRE ATT&CK Enterprise v18.1"
GAL = "MISP galaxy tool v1"
REPORT = "Vendor Campaign Report Jun 2021 <https://www.example.invalid/blog/campaign/>"


def _store() -> SqliteStore:
    campaign_claim = Claim(ATT, REPORT, "2022-01-01")
    old = Claim(ATT, "Vendor Old Report Mar 2012 <https://example.invalid/old>", "2013-01-01")
    recent = Claim(ATT, "Vendor Other Report Jan 2020 <https://example.invalid/other>", "2020-02-01")
    entries = [
        Entry(
            ATT,
            "intrusion-set--1",
            "group",
            "Alpha",
            links=(Link("uses", "malware--a", recent),),
            claim=recent,
        ),
        Entry(ATT, "intrusion-set--2", "group", "Beta", links=(Link("uses", "malware--b", old),), claim=old),
        Entry(ATT, "malware--a", "software", "AlphaRAT", claim=recent),
        Entry(ATT, "malware--b", "software", "BetaRAT", claim=old),
        Entry(ATT, "malware--c", "software", "CampaignRAT", claim=campaign_claim),
        Entry(
            ATT,
            "campaign--1",
            "campaign",
            "Operation Test",
            facts=(
                Fact("external_id", "C9999", campaign_claim),
                Fact("first_seen", "2021-03-01", campaign_claim),
            ),
            links=(
                Link("attributed-to", "intrusion-set--1", campaign_claim),
                Link("uses", "malware--c", campaign_claim),
            ),
            claim=campaign_claim,
        ),
    ]
    # A galaxy ties CampaignRAT to Alpha, citing the campaign's own report by its URL only.
    galaxy = [
        Entry(
            GAL,
            "gal-campaignrat",
            "software",
            "CampaignRAT Loader",
            links=(Link("used-by", "intrusion-set--1", Claim(GAL, "http://example.invalid/blog/campaign")),),
            claim=Claim(GAL),
        )
    ]
    s = SqliteStore()
    s.replace_sources([(ATT, "t", entries), (GAL, "t", galaxy)])
    return s


def test_citation_url_compares_without_scheme_www_and_slash() -> None:
    assert citation_url(REPORT) == "example.invalid/blog/campaign"
    assert citation_url("http://Example.invalid/blog/campaign") == "example.invalid/blog/campaign"
    assert citation_url("Vendor Report May 2020") == ""


def test_url_citation_is_struck_like_a_citation_name() -> None:
    drop = Filters(drop_citations=frozenset({"example.invalid/blog/campaign"}))
    assert not drop.claim_ok(Claim(GAL, "https://www.example.invalid/blog/campaign/"))
    assert drop.claim_ok(Claim(ATT, f"{REPORT} | Other Report May 2020 <https://example.invalid/x>"))
    assert drop.claim_ok(Claim(GAL, "https://example.invalid/blog/other"))


def test_holdout_removes_other_sources_citing_the_campaign_report() -> None:
    facts = load_facts(_store())
    (case,) = attack_cases(facts)
    assert "example.invalid/blog/campaign" in case.citations
    alpha = next(g for g, i in facts.groups.items() if i.name == "Alpha")
    gal_soft = next(s for s, n in facts.software_names.items() if n == "CampaignRAT Loader")
    full = build_profiles(facts)
    assert ("software", gal_soft) in full.groups[alpha].features
    held = build_profiles(facts, case.filters(Filters()))
    assert ("software", gal_soft) not in held.groups[alpha].features
    # ... and the case's evidence carries the campaign's start date
    assert case.evidence.first_seen == date(2021, 3, 1)


def test_activity_is_dated_by_the_reports_cited() -> None:
    facts = load_facts(_store())
    prof = build_profiles(facts)
    by_name = {p.info.name: p for p in prof.groups.values()}
    assert (by_name["Beta"].first_seen, by_name["Beta"].last_seen) == ("2012-03-01", "2012-03-01")
    # Alpha: its own report (Jan 2020) and the campaign's (Jun 2021); the hold-out strikes the latter
    assert (by_name["Alpha"].first_seen, by_name["Alpha"].last_seen) == ("2020-01-01", "2021-06-01")
    (case,) = attack_cases(facts)
    held = {p.info.name: p for p in build_profiles(facts, case.filters(Filters())).groups.values()}
    assert (held["Alpha"].first_seen, held["Alpha"].last_seen) == ("2020-01-01", "2020-01-01")


def test_a_date_inside_a_groups_activity_counts_for_it() -> None:
    prof = build_profiles(load_facts(_store()))
    names = {g: p.info.name for g, p in prof.groups.items()}

    def prob(ev: Evidence, name: str) -> float:
        r = attribute(ev, prof, top=5)
        return next(c.probability for c in r.candidates if names[c.id] == name)

    ev = Evidence(software=("AlphaRAT", "BetaRAT"))
    recent = ev.model_copy(update={"first_seen": date(2020, 6, 1)})
    old = ev.model_copy(update={"first_seen": date(2012, 6, 1)})

    def odds(e: Evidence) -> float:
        return prob(e, "Alpha") / prob(e, "Beta")

    assert odds(recent) > odds(ev) > odds(old)
    assert prob(recent, "Alpha") > prob(recent, "Beta")
