"""From matches to :class:`~aptcatch.knowledge.models.Hit` objects: the claims of every indicator held in
memory, and the built indicators cached between batches.

* :class:`ClaimTable` holds the claims of every stored indicator, loaded in one pass with the match
  index (the store gives each indicator's claims as one JSON array, in the store's claim order), so a
  batch on the index path reads no SQL at all. Texts are kept as they come (equal ones shared) and
  parsed for the hit indicators only: memory about the claims' text size, one pointer per indicator.
* :class:`HitCache` keeps the built ``(Indicator, resolved targets)`` of each indicator id a lookup has
  hit, valid for one (indicators, entities) generation pair of the store: hunting hits the same
  indicators over and over. It starts afresh when it would grow past ``limit`` indicators.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from operator import itemgetter

from aptcatch.knowledge.match_index import Match
from aptcatch.knowledge.models import Claim, Hit, Indicator, IndicatorClaim

Claims = tuple[IndicatorClaim, ...]
Resolved = tuple[tuple[str, str], ...]  # (entity id, entity name) per resolved claim target
Target = tuple[str, str]  # (target kind, target) as the feed stated it
# (source, reference, date, confidence, target_kind, target, comment, first_seen, last_seen)
ClaimRow = Sequence[str]


def make_claim(row: ClaimRow) -> IndicatorClaim:
    s, r, d, c, tk, tg, cm, fs, ls = row
    return _indicator_claim(_claim(s, r, d, c), tk, tg, cm, fs, ls)


class ClaimTable:
    """The claims of every indicator of a store, by indicator id (ids are dense rowids).

    Kept as the store gives them, one JSON text per indicator (equal texts shared), and parsed only for
    the indicators a batch hits: loading stays one pass of cheap rows and the memory about the size of
    the claims' text, instead of two objects per claim for a million claims.
    """

    __slots__ = ("_texts", "distinct")

    def __init__(self, rows: Iterable[tuple[int, str]], max_id: int) -> None:
        """``rows``: (indicator id, JSON array of claim rows); indicators without claims may be absent."""
        texts: list[str] = ["[]"] * (max_id + 1)
        same: dict[str, str] = {}
        for iid, text in rows:
            texts[iid] = same.setdefault(text, text)
        self._texts = texts
        self.distinct = len(same)

    def of(self, ids: Iterable[int]) -> dict[int, Claims]:
        """The claims of these indicators; an equal claim list is parsed once."""
        texts, n = self._texts, len(self._texts)
        parsed: dict[str, Claims] = {}
        out: dict[int, Claims] = {}
        for i in ids:
            if 0 <= i < n:
                text = texts[i]
                got = parsed.get(text)
                if got is None:
                    got = parsed[text] = tuple([make_claim(row) for row in _parse(text)[0]])
                out[i] = got
        return out


class HitCache:
    """Built (Indicator, resolved targets) per indicator id, for one generation pair of a store."""

    __slots__ = ("_built", "_key", "limit")

    def __init__(self, limit: int = 65_536) -> None:
        self.limit = limit
        self._key: tuple[int, int] = (-1, -1)
        self._built: dict[int, tuple[Indicator, Resolved]] = {}

    def __len__(self) -> int:
        return len(self._built)

    def hits(
        self,
        values: Sequence[str],
        matched: Sequence[Match],
        generations: tuple[int, int],
        claims_of: Callable[[set[int]], Mapping[int, Claims]],
        resolve: Callable[[set[Target]], Mapping[Target, Resolved]],
    ) -> dict[str, list[Hit]]:
        """The hits of each of ``values`` (unique) from their matches, building only what is not cached.

        ``claims_of`` gives the claims of the indicator ids not built yet (a missing id has none);
        ``resolve`` what each claim target resolves to.
        """
        if generations != self._key:
            self._key, self._built = generations, {}
        built = self._built
        new = set(map(_ID, matched)).difference(built)
        if new:
            if len(built) + len(new) > self.limit:
                built.clear()
                new = set(map(_ID, matched))
            self._build(matched, new, claims_of(new), resolve)
        out: dict[str, list[Hit]] = {v: [] for v in values}
        hit = _hit
        for i, kind, iid, _, _ in matched:
            q = values[i]
            indicator, res = built[iid]
            out[q].append(hit(q, kind, indicator, res))
        return out

    def _build(
        self,
        matched: Sequence[Match],
        new: set[int],
        claims: Mapping[int, Claims],
        resolve: Callable[[set[Target]], Mapping[Target, Resolved]],
    ) -> None:
        empty: Claims = ()
        targets = {(c.target_kind, c.target) for cs in claims.values() for c in cs if c.target}
        resolved = resolve(targets) if targets else {}
        # id(claims) -> resolved: equal claim lists are often one tuple, which ``claims`` keeps alive.
        by_set: dict[int, Resolved] = {id(empty): ()}
        built, indicator = self._built, _indicator
        for _, _, iid, itype, value in matched:
            if iid in new and iid not in built:
                cs = claims.get(iid, empty)
                res = by_set.get(id(cs))
                if res is None:
                    ts = [(c.target_kind, c.target) for c in cs if c.target]
                    # A target resolves to one entity at most: one target needs no de-duplication.
                    if len(ts) == 1:
                        res = resolved[ts[0]]
                    else:
                        res = tuple(dict.fromkeys(r for t in ts for r in resolved[t]))
                    by_set[id(cs)] = res
                built[iid] = (indicator(itype, value, cs), res)


# Hits and indicators are built by the hundred thousand: the frozen dataclasses' generated __init__
# sets each field through object.__setattr__, setting the slots directly takes half the time. Same
# objects (tests compare them with normally built ones).
_ID = itemgetter(2)
_parse = json.JSONDecoder().raw_decode  # json.loads without its two wrappers: texts come from the store
_new = object.__new__


def _setters(cls: type, names: str) -> tuple[Callable[[object, object], None], ...]:
    return tuple(getattr(cls, name).__set__ for name in names.split())


_SET_HIT = _setters(Hit, "query match indicator resolved")
_SET_INDICATOR = _setters(Indicator, "type value claims")
_SET_CLAIM = _setters(Claim, "source reference date confidence")
_SET_INDICATOR_CLAIM = _setters(IndicatorClaim, "claim target_kind target comment first_seen last_seen")


def _hit(query: str, match: str, indicator: Indicator, resolved: Resolved) -> Hit:
    h: Hit = _new(Hit)
    sq, sm, si, sr = _SET_HIT
    sq(h, query)
    sm(h, match)
    si(h, indicator)
    sr(h, resolved)
    return h


def _indicator(itype: str, value: str, claims: Claims) -> Indicator:
    it: Indicator = _new(Indicator)
    st, sv, sc = _SET_INDICATOR
    st(it, itype)
    sv(it, value)
    sc(it, claims)
    return it


def _claim(source: str, reference: str, date: str, confidence: str) -> Claim:
    c: Claim = _new(Claim)
    ss, sr, sd, sc = _SET_CLAIM
    ss(c, source)
    sr(c, reference)
    sd(c, date)
    sc(c, confidence)
    return c


def _indicator_claim(
    claim: Claim, target_kind: str, target: str, comment: str, first_seen: str, last_seen: str
) -> IndicatorClaim:
    ic: IndicatorClaim = _new(IndicatorClaim)
    sc, sk, st, sm, sf, sl = _SET_INDICATOR_CLAIM
    sc(ic, claim)
    sk(ic, target_kind)
    st(ic, target)
    sm(ic, comment)
    sf(ic, first_seen)
    sl(ic, last_seen)
    return ic
