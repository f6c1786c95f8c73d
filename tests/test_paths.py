"""One data directory for the knowledge store and the installed Sigma rule sets."""

from __future__ import annotations

from pathlib import Path

import pytest

from aptcatch.knowledge.kb import default_db_path
from aptcatch.paths import DATA_DIR_ENV, data_dir
from aptcatch.rules.sigma_store import installed_rules_dir


def test_env_moves_knowledge_and_rules_together(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path))
    assert data_dir() == tmp_path
    assert default_db_path() == tmp_path / "knowledge.sqlite"
    assert installed_rules_dir() is None  # nothing installed under the new folder
    assert data_dir(tmp_path / "x") == tmp_path / "x"


def test_default_is_the_platform_folder(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(DATA_DIR_ENV, raising=False)
    assert data_dir().name == "aptcatch"
