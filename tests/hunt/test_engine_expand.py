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
