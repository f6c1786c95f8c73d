"""``aptcatch rules update / list / path`` through click, with a temporary data directory."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from aptcatch.cli import cli
from aptcatch.rules.sigma_store import DATA_DIR_ENV, bundled_rules_dir
from tests.rules import archives


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def zip_path(tmp_path: Path) -> Path:
    path = tmp_path / "sigma_core.zip"
    path.write_bytes(archives.zip_bytes())
    return path


def test_update_list_path(tmp_path: Path, zip_path: Path) -> None:
    data = str(tmp_path / "data")
    code, out, err = run("rules", "update", "--from", str(zip_path), "--data-dir", data, "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["schema"] == "aptcatch.rules.update/1" and doc["rules"] == 3 and doc["skipped"] == 4
    assert {s["member"] for s in doc["skipped_members"]} >= {"rules/windows/broken.yml"}

    code, out, _ = run("rules", "list", "--data-dir", data, "--json")
    sets = {s["name"]: s for s in json.loads(out)["sets"]}
    assert code == 0 and sets["installed"]["rules"] == 3 and sets["installed"]["source"] == str(zip_path)
    assert sets["bundled"]["rules"] == len(list(bundled_rules_dir().glob("*.yml")))

    code, out, _ = run("rules", "path", "--installed", "--data-dir", data)
    assert code == 0 and Path(out.strip()) == Path(doc["path"]) and Path(out.strip()).is_dir()
    code, out, _ = run("rules", "path")
    assert code == 0 and Path(out.strip()) == bundled_rules_dir()


def test_terminal_output_names_counts_and_skips(tmp_path: Path, zip_path: Path) -> None:
    code, _, err = run("rules", "update", "--from", str(zip_path), "--data-dir", str(tmp_path))
    assert code == 0
    assert "installed 3 rules" in err and "skipped rules/windows/no_detection.yml" in err
    code, out, _ = run("rules", "list", "--data-dir", str(tmp_path))
    assert code == 0 and "installed" in out and "bundled" in out


def test_failure_exits_65_and_keeps_the_set(tmp_path: Path, zip_path: Path) -> None:
    data = str(tmp_path / "data")
    assert run("rules", "update", "--from", str(zip_path), "--data-dir", data)[0] == 0
    before = run("rules", "path", "--installed", "--data-dir", data)[1]
    bad = tmp_path / "bad.zip"
    bad.write_bytes(b"not an archive at all")
    code, _, err = run("rules", "update", "--from", str(bad), "--data-dir", data)
    assert code == 65 and str(bad) in err and "left as it was" in err
    assert run("rules", "path", "--installed", "--data-dir", data)[1] == before


def test_path_installed_without_a_set_and_env_data_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path / "env"))
    code, _, err = run("rules", "path", "--installed")
    assert code == 1 and str(tmp_path / "env") in err
    src = archives.folder(tmp_path / "src")
    assert run("rules", "update", "--from", str(src))[0] == 0
    assert (tmp_path / "env" / "sigma" / "current").is_file()
