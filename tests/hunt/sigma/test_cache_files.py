"""The Sigma cache folder keeps the most recently used rule sets and plan files, and no stale temporaries."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from aptcatch.hunt.sigma import cache_files
from aptcatch.hunt.sigma.rules import load_rules


def _aged(path: Path, text: str, age_s: float) -> Path:
    path.write_text(text, encoding="utf-8")
    t = time.time() - age_s
    os.utime(path, (t, t))
    return path


def test_write_keeps_the_newest_of_its_kind_and_removes_stale_temporaries(tmp_path: Path) -> None:
    rules = [_aged(tmp_path / f"{i:064x}.json", "{}", 100 + i) for i in range(8)]
    plans = [_aged(tmp_path / f"plans-{i:064x}.json", "{}", 100 + i) for i in range(8)]
    stale = _aged(tmp_path / "x.json.123.tmp", "half", 2 * 3600)
    fresh = _aged(tmp_path / "y.json.456.tmp", "half", 5)  # another process may be writing it
    other = _aged(tmp_path / "notes.txt", "mine", 10**6)
    assert cache_files.write(tmp_path / f"{99:064x}.json", "{}")
    left = {p.name for p in tmp_path.iterdir()}
    kept_rules = {p.name for p in rules[: cache_files.KEEP - 1]} | {f"{99:064x}.json"}
    assert {n for n in left if n.endswith(".json") and not n.startswith("plans-")} == kept_rules
    assert {p.name for p in plans} <= left  # the other kind is pruned when it is written
    assert stale.name not in left and fresh.name in left and other.name in left
    cache_files.write(tmp_path / f"plans-{99:064x}.json", "{}")
    assert len([n for n in os.listdir(tmp_path) if n.startswith("plans-")]) == cache_files.KEEP


def test_reading_an_entry_keeps_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APTCATCH_CACHE_DIR", str(tmp_path))
    rule = tmp_path / "r.yml"
    rule.write_text(
        "title: t\nid: 6b1f0d3e-6a0e-4f0b-9a57-0a9c3d1e5a12\nlogsource: {product: windows}\n"
        "detection: {sel: {Image|endswith: '\\\\x.exe'}, condition: sel}\n",
        encoding="utf-8",
    )
    first = load_rules([rule])
    entry = cache_files.cache_dir() / f"{first.key}.json"
    old = time.time() - 10**5
    os.utime(entry, (old, old))
    for i in range(cache_files.KEEP):  # newer entries of other rule sets, all older than a fresh read
        _aged(cache_files.cache_dir() / f"{i:064x}.json", "{}", 1000)
    again = load_rules([rule])
    assert again.from_cache and entry.stat().st_mtime > old + 1
    cache_files.write(cache_files.cache_dir() / f"{77:064x}.json", "{}")
    assert entry.exists()


def test_an_unwritable_folder_only_costs_time(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("", encoding="utf-8")
    assert not cache_files.write(blocker / "sub" / "a.json", "{}")
    assert cache_files.prune(tmp_path / "missing", plans=False) == []
