"""Targeted sectors of a lure, from its themes, the e-mail domains and document metadata.

Rules are data (``data/sectors.toml``). Signals have different strengths: the recipient's domain is the
best evidence of whom the lure was aimed at (RECIPIENT), the sender's domain says whom the lure
impersonates or comes from (SENDER), organisation names in document metadata say where the decoy was
made (METADATA), and a theme implies its sectors in proportion to its score, only from THEME_MIN_SCORE.
A sector is reported when its summed strength reaches REPORT_MIN.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from aptcatch.model.scan import ThemeScore

RECIPIENT = 3.0
SENDER = 1.0
METADATA = 1.0
THEME_MIN_SCORE = 0.5
THEME_FACTOR = 2.0  # a theme adds score x THEME_FACTOR to each sector it implies
REPORT_MIN = 1.0
MAX_ADDRESSES = 50  # recipients examined per item (mass mailings list hundreds)

_DOMAIN = re.compile(r"@\[?([a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?)+)")
_CJK = re.compile("[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]")


@dataclass(frozen=True)
class SectorRules:
    vocabulary: dict[str, str]
    labels: dict[str, tuple[str, ...]]
    suffixes: dict[str, tuple[str, ...]]
    tokens: dict[str, tuple[str, ...]]
    words: dict[str, tuple[str, ...]]
    ignore: frozenset[str]
    organisation: re.Pattern[str] | None
    organisation_sectors: dict[str, tuple[str, ...]]


def _table(data: dict[str, Any], vocab: dict[str, str], where: str) -> dict[str, tuple[str, ...]]:
    out: dict[str, tuple[str, ...]] = {}
    for key, sectors in data.items():
        unknown = [s for s in sectors if s not in vocab]
        if unknown:
            raise ValueError(f"sectors.toml {where}.{key}: unknown sectors {unknown}")
        out[str(key).lower()] = tuple(sectors)
    return out


def compile_rules(data: dict[str, Any]) -> SectorRules:
    vocab = {str(k): str(v) for k, v in data["sectors"].items()}
    domain = data.get("domain", {})
    words = _table(domain.get("words", {}), vocab, "domain.words")
    short = [w for w in words if len(w) < 5]
    if short:
        raise ValueError(f"sectors.toml domain.words: keys under 5 characters belong in tokens: {short}")
    org = _table(data.get("organisation", {}), vocab, "organisation")
    alts = []
    for key in sorted(org, key=len, reverse=True):
        esc = re.escape(key).replace(r"\ ", r"\s+")
        alts.append(esc if _CJK.search(key) else rf"(?<!\w){esc}s?(?!\w)")
    return SectorRules(
        vocabulary=vocab,
        labels=_table(domain.get("labels", {}), vocab, "domain.labels"),
        suffixes=_table(domain.get("suffixes", {}), vocab, "domain.suffixes"),
        tokens=_table(domain.get("tokens", {}), vocab, "domain.tokens"),
        words=words,
        ignore=frozenset(str(d).lower() for d in domain.get("ignore", {}).get("providers", ())),
        organisation=re.compile("|".join(alts), re.IGNORECASE) if alts else None,
        organisation_sectors=org,
    )


@cache
def rules() -> SectorRules:
    with resources.files("aptcatch.capture").joinpath("data", "sectors.toml").open("rb") as fh:
        return compile_rules(tomllib.load(fh))


def domain_of(address: str) -> str | None:
    m = _DOMAIN.search(address.lower())
    return m.group(1).rstrip(".") if m else None


def domain_sectors(domain: str, r: SectorRules | None = None) -> dict[str, list[str]]:
    """Sectors a domain suggests, each with the hints that suggested it."""
    r = r or rules()
    domain = domain.lower().strip(".")
    if any(domain == d or domain.endswith("." + d) for d in r.ignore):
        return {}
    labels = domain.split(".")
    found: dict[str, list[str]] = {}

    def hit(sectors: Iterable[str], hint: str) -> None:
        for s in sectors:
            hints = found.setdefault(s, [])
            if hint not in hints:
                hints.append(hint)

    for suffix, sectors in r.suffixes.items():
        if domain == suffix or domain.endswith("." + suffix):
            hit(sectors, "." + suffix)
    for label in labels:
        if label in r.labels:
            hit(r.labels[label], label)
    # the last label is the TLD; word hints are looked for in the other labels
    tokens = {tok for label in labels for tok in label.split("-") if tok}
    for tok in sorted(tokens):
        if tok in r.tokens:
            hit(r.tokens[tok], tok)
    for label in labels[:-1]:
        for word, sectors in r.words.items():
            if word in label:
                hit(sectors, word)
    return found


def infer(
    themes: Sequence[ThemeScore],
    theme_sectors: dict[str, tuple[str, ...]],
    recipients: Sequence[str],
    sender: str | None,
    metadata: Sequence[str],
) -> tuple[tuple[str, ...], dict[str, list[str]]]:
    """Sectors (strongest first) and the reasons for each."""
    r = rules()
    strength: dict[str, float] = {}
    reasons: dict[str, list[str]] = {}

    def add(sector: str, amount: float, reason: str) -> None:
        strength[sector] = strength.get(sector, 0.0) + amount
        lst = reasons.setdefault(sector, [])
        if reason not in lst and len(lst) < 8:
            lst.append(reason)

    seen: set[str] = set()
    for address in recipients[:MAX_ADDRESSES]:
        domain = domain_of(address)
        if domain is None or domain in seen:
            continue
        seen.add(domain)
        for sector, hints in domain_sectors(domain, r).items():
            add(sector, RECIPIENT, f"recipient domain {domain} ({', '.join(hints)})")
    domain = domain_of(sender) if sender else None
    if domain is not None:
        for sector, hints in domain_sectors(domain, r).items():
            add(sector, SENDER, f"sender domain {domain} ({', '.join(hints)})")
    for ts in themes:
        if ts.score < THEME_MIN_SCORE:
            continue
        terms = ", ".join(ts.terms[:4])
        for sector in theme_sectors.get(ts.theme, ()):
            add(sector, ts.score * THEME_FACTOR, f"theme {ts.theme} ({terms})")
    if r.organisation is not None:
        for text in metadata:
            for line in text.splitlines()[:200]:
                for m in r.organisation.finditer(line):
                    key = " ".join(m.group().lower().split())
                    sectors = r.organisation_sectors.get(key) or r.organisation_sectors.get(
                        key.rstrip("s"), ()
                    )
                    snippet = " ".join(line.split())[:80]
                    for sector in sectors:
                        add(sector, METADATA, f"document metadata '{snippet}'")
    kept = [s for s, v in strength.items() if v >= REPORT_MIN]
    kept.sort(key=lambda s: (-strength[s], s))
    return tuple(kept), {s: reasons[s] for s in kept}
