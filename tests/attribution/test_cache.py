"""The on-disk profile cache: a new process reads the profiles instead of rebuilding them, and never
reads profiles of another store content, other filters or another builder."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from aptcatch.attribution import cache, profiles
from aptcatch.knowledge.models import Claim, Entry, Link
from aptcatch.knowledge.sqlite_store import SqliteStore

ATT = "MITRE ATT&CK Enterprise v18.1"


def _store(path: Path, software: str = "ZxxZ") -> SqliteStore:
    c = Claim(ATT, "Report <https://example.invalid/r>", "2020-01-01")
    group = Entry(ATT, "intrusion-set--1", "group", "BITTER", links=(Link("uses", "malware--1", c),), claim=c)
    soft = Entry(ATT, "malware--1", "software", software, claim=c)
    s = SqliteStore(path)
    s.replace_sources([(ATT, "t", [group, soft])])
    return s


def _new_process() -> None:
    """What a new process starts with: no profiles or facts in memory."""
    profiles._PROFILES.clear()
    profiles._FACTS.clear()


def _no_build(*_: object, **__: object) -> profiles.Profiles:
    raise AssertionError("profiles were rebuilt instead of read from the cache")


def test_second_process_reads_the_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = _store(tmp_path / "kb.sqlite")
    _new_process()
    first = profiles.load_profiles(store)
    files = list((tmp_path / "kb.sqlite.attribution-cache").glob("profiles-*.pickle"))
    assert len(files) == 1
    _new_process()
    monkeypatch.setattr(profiles, "build_profiles", _no_build)
    again = profiles.load_profiles(store)
    assert again is not first
    assert again.postings == first.postings
    assert [p.info.name for p in again.groups.values()] == ["BITTER"]
    support = next(iter(again.groups.values())).features
    assert [a.chain[0].reference for s in support.values() for a in s] == [
        "Report <https://example.invalid/r>"
    ]


def test_filters_and_store_changes_get_their_own_file(tmp_path: Path) -> None:
    store = _store(tmp_path / "kb.sqlite")
    _new_process()
    profiles.load_profiles(store)
    profiles.load_profiles(store, exclude_sources=["example.invalid"])
    profiles.load_profiles(store, as_of=date(2019, 1, 1))
    where = tmp_path / "kb.sqlite.attribution-cache"
    assert len(list(where.glob("profiles-*.pickle"))) == 3
    before = cache.cache_file(store, profiles.Filters())
    store.replace_sources([(ATT, "t2", [])])  # any write moves the store's generation
    after = cache.cache_file(store, profiles.Filters())
    assert before is not None and after is not None and before != after
    _new_process()
    assert profiles.load_profiles(store).groups == {}  # the old file is not read for the new content


def test_broken_file_is_dropped_and_rebuilt(tmp_path: Path) -> None:
    store = _store(tmp_path / "kb.sqlite")
    _new_process()
    profiles.load_profiles(store)
    path = cache.cache_file(store, profiles.Filters())
    assert path is not None
    path.write_bytes(b"not a pickle")
    _new_process()
    assert [p.info.name for p in profiles.load_profiles(store).groups.values()] == ["BITTER"]
    assert cache.read(path) is not None  # rewritten


def test_unwritable_directory_or_memory_store_means_no_cache(tmp_path: Path) -> None:
    store = _store(tmp_path / "kb.sqlite")
    (tmp_path / "kb.sqlite.attribution-cache").write_text("a file where the directory would go")
    _new_process()
    assert [p.info.name for p in profiles.load_profiles(store).groups.values()] == ["BITTER"]
    memory = SqliteStore()
    assert cache.cache_file(memory, profiles.Filters()) is None


def test_old_files_are_pruned(tmp_path: Path) -> None:
    store = _store(tmp_path / "kb.sqlite")
    _new_process()
    for year in range(2000, 2000 + cache.MAX_FILES + 3):
        profiles.load_profiles(store, as_of=date(year, 1, 1))
    assert len(list((tmp_path / "kb.sqlite.attribution-cache").glob("profiles-*.pickle"))) == cache.MAX_FILES
