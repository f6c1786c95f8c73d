"""Which files a hunt reads from the folders it is given."""

from __future__ import annotations

import os
from pathlib import Path

from aptcatch.hunt.engines.duckdb import expand


def test_files_under_folders_sorted_symlinks_skipped(tmp_path: Path) -> None:
    root = tmp_path / "logs"
    (root / "b" / "deep").mkdir(parents=True)
    (root / "a-c").mkdir()
    for rel in ("z.log", "b/x.evtx", "b/deep/y.json", "a-c/w.log"):
        (root / rel).write_text("x")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.log").write_text("x")
    os.symlink(outside, root / "linked-folder")
    os.symlink(outside / "secret.log", root / "linked.log")
    files, missing = expand([str(root), f"file://{root / 'z.log'}", str(tmp_path / "gone")])
    rels = [f.relative_to(root).as_posix() for f in files]
    # Path order (by parts) within a folder argument, arguments in the order given
    assert rels == ["a-c/w.log", "b/deep/y.json", "b/x.evtx", "z.log", "z.log"]
    assert missing == [str(tmp_path / "gone")]


def test_files_under_a_folder_come_in_path_order_not_string_order(tmp_path: Path) -> None:
    # '-' and '.' sort before '/' as characters, after the end of a name as parts of a path
    names = ["a/x.log", "a-c/w.log", "a.log", "a/b/c.log", "a b/d.log", "ab", "a/b.log", "é/z", "Z/y", "a0"]
    for rel in names:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("x")
    files, _ = expand([str(tmp_path) + "/"])
    expected = sorted(tmp_path / rel for rel in names)
    assert files == expected and [str(f) for f in files] != sorted(str(f) for f in files)
    assert all(type(f) is type(tmp_path) for f in files)
    assert expand(["file://" + str(tmp_path)])[0] == expected
