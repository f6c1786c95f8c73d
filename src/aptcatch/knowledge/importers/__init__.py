"""Importers: reference data (ATT&CK, MISP galaxy) become entries; feeds become indicators.

:func:`import_path` recognises what a file is (ATT&CK bundle, galaxy cluster file, STIX indicator
bundle, MISP event, CSV/TXT list) and stores it in one transaction: a malformed file raises
:class:`~aptcatch.knowledge.errors.FeedError` with its position and nothing of it is stored.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from aptcatch.knowledge.errors import FeedError
from aptcatch.knowledge.importers.attack import attack_entries, is_attack_bundle
from aptcatch.knowledge.importers.galaxy import galaxy_entries, galaxy_source, is_galaxy
from aptcatch.knowledge.importers.misp_feed import is_misp_event, read_misp_event
from aptcatch.knowledge.importers.stix_feed import is_stix_bundle, load_json, read_stix_feed
from aptcatch.knowledge.importers.text_feed import read_text_feed
from aptcatch.knowledge.models import Entry, Indicator
from aptcatch.knowledge.store import KnowledgeStore

__all__ = ["ImportResult", "import_paths", "read_reference", "reference_batches"]


@dataclass(frozen=True)
class ImportResult:
    path: str
    kind: str  # "attack", "galaxy", "stix", "misp", "text"
    source: str
    items: int
    new: int = 0


def read_reference(path: Path) -> tuple[str, str, list[Entry]] | None:
    """(kind, source, entries) when the file is ATT&CK or a galaxy cluster file, else None."""
    if path.suffix.lower() != ".json":
        return None
    doc = load_json(path)
    if is_attack_bundle(doc):
        entries = attack_entries(doc["objects"], str(path))
        return "attack", entries[0].source if entries else "MITRE ATT&CK", entries
    if is_galaxy(doc):
        return "galaxy", galaxy_source(doc, path.stem), galaxy_entries(doc, path.stem, str(path))
    return None


def reference_batches(paths: Sequence[Path]) -> list[tuple[str, str, list[Entry]]]:
    """Read ATT&CK / galaxy files (the ``country`` galaxy first: it teaches the country names)."""
    ordered = sorted(paths, key=lambda p: (p.stem != "country", str(p)))
    out = []
    for p in ordered:
        got = read_reference(p)
        if got is not None:
            out.append((got[1], str(p), got[2]))
    return out


def read_feed(
    path: Path, source: str | None = None, target: tuple[str, str] = ("", "")
) -> tuple[str, str, list[Indicator]]:
    """(kind, source, indicators) of an indicator feed."""
    src = source or f"feed {path.parent.name}/{path.name}"
    if path.suffix.lower() == ".json":
        doc = load_json(path)
        if is_stix_bundle(doc):
            return "stix", src, read_stix_feed(path, doc, src)
        if is_misp_event(doc):
            return "misp", src, read_misp_event(path, doc, src)
        raise FeedError(str(path), "", "JSON that is neither a STIX bundle, a MISP event nor a galaxy file")
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("cp1252", errors="replace")  # vendor lists saved from Windows editors
    return "text", src, read_text_feed(path, text, src, target)


def import_paths(
    store: KnowledgeStore,
    paths: Sequence[Path],
    target: tuple[str, str] = ("", ""),
    source: str | None = None,
) -> list[ImportResult]:
    """Import every file; reference files are replaced together and identities re-resolved once."""
    results: list[ImportResult] = []
    reference: list[tuple[str, str, list[Entry]]] = []
    feeds: list[Path] = []
    for p in paths:
        if not p.is_file():
            raise FeedError(str(p), "", "no such file")
        got = read_reference(p) if p.suffix.lower() == ".json" else None
        if got is None:
            feeds.append(p)
        else:
            reference.append((got[1], str(p), got[2]))
            results.append(ImportResult(str(p), got[0], got[1], len(got[2])))
    if reference:
        # Keep the sources already stored and replace the ones given (galaxy country first).
        reference.sort(key=lambda b: "country" not in b[0])
        store.replace_sources(reference)
    for p in feeds:
        kind, src, items = read_feed(p, source, target)
        new = store.add_indicators(src, str(p), items)
        results.append(ImportResult(str(p), kind, src, len(items), new))
    return results
