"""In-memory match index: answers which stored indicators a batch of looked-up values matches.

An optimisation layer in front of any store, not a second meaning: it matches exactly what
:func:`aptcatch.knowledge.indicators.query_keys` describes (exact key, parent domains, IPv4-in-CIDR,
URL host), and the tests check it against the store's SQL matching. Built once from the store's
``(id, type, value, ip_lo, prefix)`` rows and tagged with the store's indicator *generation*; the store
rebuilds it when the generation in the database has moved (an import, here or in another process).

Layout, hand-written because it is a few dicts:

* ``values[type][normalised value] -> indicator id`` — exact matches, and parent domains by walking
  the suffixes of a queried domain against ``values["domain"]``;
* ``networks[prefix length][network as int] -> indicator id`` for every IPv4 CIDR; a queried address
  is masked once per prefix length present and looked up (most specific block first).

The commonest hunted values (IPv4, hashes, domains) take fast paths that build no key strings; any
other value goes through ``query_keys`` itself.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from socket import inet_aton, inet_ntoa

from aptcatch.knowledge import indicators as ind

MatchRow = tuple[int, str, str, int | None, int | None]  # id, type, value, ip_lo, prefix
# Position of the value in the batch, match kind, indicator id, its type and normalised value.
Match = tuple[int, str, int, str, str]

_FULL = 0xFFFFFFFF


class MatchIndex:
    __slots__ = ("_masks", "generation", "lengths", "networks", "size", "values")

    def __init__(self, rows: Iterable[MatchRow], generation: int = 0) -> None:
        self.generation = generation
        self.values: dict[str, dict[str, int]] = {}
        self.networks: dict[int, dict[int, int]] = {}
        size = 0
        for iid, itype, value, ip_lo, prefix in rows:
            size += 1
            table = self.values.get(itype)
            if table is None:
                table = self.values[itype] = {}
            table[value] = iid
            if itype == "cidr" and ip_lo is not None and prefix is not None:
                self.networks.setdefault(prefix, {})[ip_lo] = iid
        self.size = size
        self.lengths: tuple[int, ...] = tuple(sorted(self.networks, reverse=True))
        self._masks = tuple(
            (p, (_FULL << (32 - p)) & _FULL if p else 0, self.networks[p]) for p in self.lengths
        )

    def match_many(self, values: Sequence[str]) -> list[Match]:
        """Every match, in batch order, most specific match first for each value."""
        out: list[Match] = []
        add = out.append
        get = self.values.get
        empty: dict[str, int] = {}
        ipv4s, domains, files = get("ipv4", empty), get("domain", empty), get("file_name", empty)
        hashes = {t: get(t, empty) for t in ind.HASH_TYPES.values()}
        masks = self._masks
        ipv4_re, hex_re, domain_re, hash_types = ind.IPV4_RE, ind.HEX_RE, ind.DOMAIN_RE, ind.HASH_TYPES
        # One scan of the whole batch tells whether any value may be defanged (rarely, in hunting).
        blob = "\n".join(values)
        fanged = any(m in blob for m in ("[", "(", "{", "\ufeff")) or "hxxp" in blob.lower()
        for i, raw in enumerate(values):
            v = raw.strip()
            low = v.lower()
            if fanged and ("[" in v or "(" in v or "{" in v or "hxxp" in low or "\ufeff" in v):
                v = ind.refang(v)
                low = v.lower()
            if v[:1].isdigit() and v[-1:].isdigit() and ipv4_re.fullmatch(v):
                if (iid := ipv4s.get(v)) is not None:
                    add((i, "exact", iid, "ipv4", v))
                if masks:
                    n = int.from_bytes(inet_aton(v), "big")
                    for plen, mask, nets in masks:
                        if (iid := nets.get(n & mask)) is not None:
                            net = inet_ntoa((n & mask).to_bytes(4, "big"))
                            add((i, "cidr", iid, "cidr", f"{net}/{plen}"))
            elif len(v) in hash_types and hex_re.fullmatch(v):
                itype = hash_types[len(v)]
                if (iid := hashes[itype].get(low)) is not None:
                    add((i, "exact", iid, itype, low))
            elif "/" not in v and domain_re.fullmatch(low):
                if (iid := domains.get(low)) is not None:
                    add((i, "exact", iid, "domain", low))
                if (iid := files.get(low)) is not None:
                    add((i, "exact", iid, "file_name", low))
                # Parents with at least two labels: a.b.example.com -> b.example.com, example.com.
                dot = low.find(".")
                while (nxt := low.find(".", dot + 1)) >= 0:
                    if (iid := domains.get(parent := low[dot + 1 :])) is not None:
                        add((i, "parent-domain", iid, "domain", parent))
                    dot = nxt
            else:
                for kind, key in ind.query_keys(v, self.lengths):
                    qtype, _, value = key.partition(":")
                    if (iid := get(qtype, empty).get(value)) is not None:
                        add((i, kind, iid, qtype, value))
        return out

    def match(self, value: str) -> list[tuple[str, int]]:
        return [(kind, iid) for _, kind, iid, _, _ in self.match_many([value])]
