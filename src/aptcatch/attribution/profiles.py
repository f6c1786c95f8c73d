"""Group profiles: what the knowledge base says each group uses, targets and when, under knowledge filters.

A profile is the set of *features* a group is known for — ATT&CK techniques (direct, and indirect
through its software), software, indicators, target sectors and countries, suspected origin, lure
languages and themes, and the dates of its recorded activity — each with the :class:`Assertion` s that
support it, so every contribution the engine reports can name its sources.

Knowledge filters (:class:`Filters`) decide which claims count:

* ``exclude_sources``: case-insensitive substrings. A claim whose source matches is left out; a citation
  (ATT&CK ``external_references[].source_name <url>``, a galaxy reference URL) that matches is struck
  from the claim, and a claim whose citations are all struck is left out. A claim with other,
  unmatched citations stays: the fact is still reported by someone else.
* ``as_of``: only claims dated on or before it (ATT&CK ``created``, feed first-seen). Undated claims
  (galaxy clusters carry no dates) are left out too: nothing shows they were known by then.
* hold-out (the benchmark): ``drop_entities`` removes every statement that is about, or goes through,
  those campaigns or groups; ``drop_citations`` strikes those citation names, and citations of those
  report URLs (any source: a galaxy claim citing the same report by URL), like ``exclude_sources``
  strikes matches, but exactly.

A statement holds when every claim of its chain survives. One more rule keeps the filters honest: a
claim with no citation of its own (Tidal's MITRE-sourced clusters restate ATT&CK relationships without
references) does not keep a fact alive whose cited claims were all filtered out — it is a copy.

Profiles are built once per (store generation, filters) and cached; document frequencies (how many
groups have each feature) are precomputed for the engine's specificity weights.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date
from threading import Lock

from aptcatch.attribution.knowledge_facts import Assertion, GroupFacts, GroupInfo, load_facts
from aptcatch.knowledge.analysis import report_month
from aptcatch.knowledge.models import Claim
from aptcatch.knowledge.store import KnowledgeStore

BEHAVIOUR = ("technique", "software", "indicator")
_DATE = re.compile(r"^(\d{4})(?:-(\d{2}))?(?:-(\d{2}))?")
Feature = tuple[str, str]  # (kind, value)


def citations(c: Claim) -> list[str]:
    """The citations of a claim: ``name <url>`` items of an ATT&CK relationship, or one URL / name."""
    return [x.strip() for x in c.reference.split(" | ") if x.strip()] if c.reference else []


def citation_name(citation: str) -> str:
    return citation.split(" <", 1)[0].strip()


_URL = re.compile(r"(?i)\b(?:https?|ftp)://([^\s<>|]+)")


def citation_url(citation: str) -> str:
    """The report URL of a citation (``name <url>`` or a bare URL), compared without scheme, ``www.``
    and trailing slash, case-folded: ``""`` when it has none."""
    m = _URL.search(citation)
    if not m:
        return ""
    url = m.group(1).rstrip(">/").casefold()
    return url[4:] if url.startswith("www.") else url


def struck(citation: str, drop: frozenset[str]) -> bool:
    """Whether a hold-out strikes this citation: its name, or its report URL, is one of ``drop``."""
    if citation_name(citation) in drop:
        return True
    url = citation_url(citation)
    return bool(url) and url in drop


@dataclass(frozen=True)
class Filters:
    """Which claims count. Equal filters share one cached :class:`Profiles`."""

    exclude_sources: tuple[str, ...] = ()
    as_of: date | None = None
    drop_entities: frozenset[str] = frozenset()
    drop_citations: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        pats = tuple(sorted({p.strip().casefold() for p in self.exclude_sources if p.strip()}))
        object.__setattr__(self, "exclude_sources", pats)

    def claim_ok(self, c: Claim) -> bool:
        if self.as_of is not None and (not c.date or c.date[:10] > self.as_of.isoformat()):
            return False
        pats = self.exclude_sources
        if pats and any(p in c.source.casefold() for p in pats):
            return False
        if not c.reference or not (pats or self.drop_citations):
            return True
        return bool(self.kept_citations(c)) or not citations(c)

    def kept_citations(self, c: Claim) -> list[str]:
        """The citations of ``c`` these filters do not strike."""
        pats = self.exclude_sources
        return [
            x
            for x in citations(c)
            if not struck(x, self.drop_citations) and not any(p in x.casefold() for p in pats)
        ]

    def describe(self) -> dict[str, list[str] | str | None]:
        """The analyst-facing filters, as :attr:`AttributionResult.filters` shows them."""
        return {
            "exclude_sources": list(self.exclude_sources),
            "as_of": self.as_of.isoformat() if self.as_of else None,
        }


@dataclass
class GroupProfile:
    """One group's features with their supporting statements."""

    info: GroupInfo
    features: dict[Feature, list[Assertion]] = field(default_factory=dict)
    indirect: dict[str, list[Assertion]] = field(default_factory=dict)  # technique -> via its software
    parents: set[str] = field(default_factory=set)  # parent techniques of its sub-techniques
    by_parent: dict[str, list[str]] = field(default_factory=dict)  # parent -> its techniques (and itself)
    first_seen: str = ""
    last_seen: str = ""
    origin: str | None = None

    @property
    def id(self) -> str:
        return self.info.id

    def size(self, kind: str) -> int:
        return sum(1 for k, _ in self.features if k == kind)

    def values(self, kind: str) -> list[str]:
        return sorted(v for k, v in self.features if k == kind)


@dataclass
class Profiles:
    """All group profiles under one set of filters, with the document frequencies of every feature."""

    facts: GroupFacts
    filters: Filters
    groups: dict[str, GroupProfile]
    postings: dict[Feature, tuple[str, ...]]  # feature -> groups having it (direct)
    indirect_postings: dict[str, tuple[str, ...]]  # technique -> groups having it only via software
    parent_postings: dict[str, tuple[str, ...]]  # parent technique -> groups using one of its subs
    behavioural: int  # groups with at least one technique, software or indicator
    sizes: dict[str, dict[str, int]]  # kind -> group -> number of features of that kind
    mean_size: dict[str, float]  # kind -> mean size over the groups that have any
    kinds: frozenset[str] = frozenset()  # feature kinds some group has
    knows: dict[str, frozenset[str]] = field(default_factory=dict)  # kind -> groups with any of it
    cache: dict[object, object] = field(default_factory=dict, compare=False, repr=False)  # derived tables

    @property
    def all_groups(self) -> frozenset[str]:
        got = self.cache.get("all_groups")
        if not isinstance(got, frozenset):
            got = self.cache["all_groups"] = frozenset(self.groups)
        return got

    def df(self, feature: Feature) -> int:
        return len(self.postings.get(feature, ()))


def build_profiles(facts: GroupFacts, filters: Filters = Filters()) -> Profiles:
    """Apply ``filters`` to every assertion and index what survives."""
    ok_cache: dict[int, bool] = {}

    def ok(c: Claim) -> bool:
        k = id(c)
        got = ok_cache.get(k)
        if got is None:
            got = ok_cache[k] = filters.claim_ok(c)
        return got

    drop = filters.drop_entities
    kept: dict[tuple[str, str, str, bool], list[Assertion]] = defaultdict(list)
    lost_cited: set[tuple[str, str, str, bool]] = set()
    for a in facts.assertions:
        if a.group in drop or (drop and any(v in drop for v in a.via)):
            continue
        key = (a.group, a.kind, a.value, a.indirect)
        if all(ok(c) for c in a.chain):
            kept[key].append(a)
        elif a.chain[-1].reference:
            lost_cited.add(key)
    groups: dict[str, GroupProfile] = {}
    for (gid, kind, value, indirect), support in kept.items():
        if (gid, kind, value, indirect) in lost_cited and not any(s.chain[-1].reference for s in support):
            continue  # only uncited copies of a fact whose cited claims were all filtered out
        prof = groups.get(gid)
        if prof is None:
            prof = groups[gid] = GroupProfile(facts.groups[gid])
        if indirect:
            prof.indirect[value] = support
        else:
            prof.features[(kind, value)] = support
    return _index(facts, filters, groups)


def _index(facts: GroupFacts, filters: Filters, groups: dict[str, GroupProfile]) -> Profiles:
    postings: dict[Feature, list[str]] = defaultdict(list)
    indirect: dict[str, list[str]] = defaultdict(list)
    parents: dict[str, list[str]] = defaultdict(list)
    sizes: dict[str, dict[str, int]] = defaultdict(dict)
    behavioural = 0
    report_months: dict[int, tuple[str, ...]] = {}
    for gid, prof in groups.items():
        origins: Counter[str] = Counter()
        dates: list[str] = []
        for kind, value in prof.features:
            postings[(kind, value)].append(gid)
            if kind == "technique":
                prof.by_parent.setdefault(value.split(".", 1)[0], []).append(value)
                if "." in value:
                    prof.parents.add(value.split(".", 1)[0])
            elif kind == "origin":
                origins[value] += len(prof.features[(kind, value)])
            elif kind == "period" and (day := _day(value)):
                dates.append(day)
        dates += _report_months(prof, filters, report_months)
        for parent in prof.parents:
            parents[parent].append(gid)
        for t in prof.indirect:
            if ("technique", t) not in prof.features:
                indirect[t].append(gid)
        prof.indirect = {t: s for t, s in prof.indirect.items() if ("technique", t) not in prof.features}
        prof.origin = origins.most_common(1)[0][0] if origins else None
        prof.first_seen, prof.last_seen = (min(dates), max(dates)) if dates else ("", "")
        counts = Counter(k for k, _ in prof.features)
        for kind, n in counts.items():
            sizes[kind][gid] = n
        behavioural += any(counts[k] for k in BEHAVIOUR)
    mean = {k: (sum(v.values()) / len(v) if v else 0.0) for k, v in sizes.items()}
    return Profiles(
        facts=facts,
        filters=filters,
        groups=groups,
        postings={k: tuple(v) for k, v in postings.items()},
        indirect_postings={k: tuple(v) for k, v in indirect.items()},
        parent_postings={k: tuple(v) for k, v in parents.items()},
        behavioural=behavioural,
        sizes=dict(sizes),
        mean_size=mean,
        kinds=frozenset(k for k, _ in postings),
        knows={
            **{k: frozenset(v) for k, v in sizes.items()},
            "technique": frozenset(sizes.get("technique", {})) | {g for gs in indirect.values() for g in gs},
        },
    )


def _report_months(prof: GroupProfile, filters: Filters, memo: dict[int, tuple[str, ...]]) -> list[str]:
    """The first and last month of the reports the group's surviving techniques, software and
    indicators cite (ATT&CK citation names end in "Mon YYYY"): the span of its documented activity.

    Struck citations (a held-out campaign's reports, excluded sources) do not count.
    """
    months: set[str] = set()
    for (kind, _), support in prof.features.items():
        if kind in BEHAVIOUR:
            for a in support:
                c = a.chain[-1]
                got = memo.get(id(c))
                if got is None:
                    got = memo[id(c)] = tuple(
                        f"{m}-01" for x in filters.kept_citations(c) if (m := report_month(x))
                    )
                months.update(got)
    return [min(months), max(months)] if months else []


def _day(value: str) -> str:
    """An ISO day from a full or partial date ("2017" -> "2017-01-01"), or "" when it is none."""
    m = _DATE.match(value.strip())
    if not m:
        return ""
    y, mo, d = m.group(1), m.group(2) or "01", m.group(3) or "01"
    try:
        return date(int(y), int(mo), int(d)).isoformat()
    except ValueError:
        return ""


# -- caches: one GroupFacts per store generation, one Profiles per (generation, filters) ---------------
_LOCK = Lock()
_FACTS: dict[tuple[str, tuple[int, ...]], GroupFacts] = {}
_PROFILES: dict[tuple[str, tuple[int, ...], Filters], Profiles] = {}


def _store_key(store: KnowledgeStore) -> tuple[str, tuple[int, ...]]:
    where = str(store.path) if store.path is not None else f"memory:{id(store)}"
    gen = getattr(store, "generation", None)
    return where, ((int(gen("entities")), int(gen("indicators"))) if callable(gen) else ())


def group_facts(store: KnowledgeStore) -> GroupFacts:
    """The flattened knowledge of ``store``, read once per store generation."""
    key = _store_key(store)
    with _LOCK:
        got = _FACTS.get(key)
        if got is None:
            _FACTS.clear()
            got = _FACTS[key] = load_facts(store)
            got.generation = key[1]
        return got


def load_profiles(
    store: KnowledgeStore,
    exclude_sources: list[str] | tuple[str, ...] = (),
    as_of: date | None = None,
    *,
    disk_cache: bool = True,
) -> Profiles:
    """Profiles of every active group under the analyst's filters.

    Cached per process, and on disk beside the store (:mod:`aptcatch.attribution.cache`) so the next
    process reads them instead of rebuilding them; ``disk_cache=False`` skips the disk.
    """
    from aptcatch.attribution import cache

    filters = Filters(tuple(exclude_sources), as_of)
    key = (*_store_key(store), filters)
    with _LOCK:
        got = _PROFILES.get(key)
    if got is not None:
        return got
    path = cache.cache_file(store, filters) if disk_cache else None
    got = cache.read(path) if path is not None else None
    if got is None:
        got = build_profiles(group_facts(store), filters)
        if path is not None:
            cache.write(path, got)
    with _LOCK:
        if len(_PROFILES) > 16:
            _PROFILES.clear()
        _PROFILES[key] = got
        if _store_key(store) not in _FACTS:  # later filters build on the same facts
            _FACTS.clear()
            _FACTS[_store_key(store)] = got.facts
    return got
