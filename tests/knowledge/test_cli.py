"""The intel CLI on a small store, and `update` against a local HTTP server on 127.0.0.1."""

from __future__ import annotations

import json
import shutil
import sqlite3
import threading
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from click.testing import CliRunner

from aptcatch.knowledge.cli import intel
from tests.knowledge.test_core import MISP_EVENT, STIX_FEED

GALAXY = {
    "type": "threat-actor",
    "version": 1,
    "name": "Threat Actor",
    "uuid": "7cdff317-a673-4474-84ec-4f1754947823",
    "values": [
        {
            "value": "HAZY TIGER",
            "uuid": "1e9bd6fe-e009-41ce-8e92-ad78c73ee772",
            "meta": {
                "synonyms": ["Bitter", "TA397", "APT-C-08"],
                "country": "IN",
                "refs": ["https://example.org/r"],
                "cfr-target-category": ["Government", "Energy"],
            },
        },
        {
            "value": "QUILTED TIGER",
            "uuid": "2e9bd6fe-e009-41ce-8e92-ad78c73ee772",
            "meta": {"synonyms": ["Patchwork"], "country": "IN"},
        },
    ],
}
G360 = {
    "type": "360net-threat-actor",
    "version": 6,
    "name": "360",
    "uuid": "1f73e14f-b882-4032-a565-26dc653b0daf",
    "values": [
        {
            "value": "蔓灵花 - APT-C-08",
            "uuid": "4d76da10-0bfe-51d4-b071-61593c8f1983",
            "meta": {"country": "pakistan", "target-category": ["医疗"], "synonyms": []},
        }
    ],
}


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(intel, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout


@pytest.fixture(scope="module")
def template_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh --db is initialised from the bundled snapshot, then the test files are imported (once)."""
    tmp = tmp_path_factory.mktemp("cli")
    files = []
    for name, doc in (
        ("threat-actor.json", GALAXY),
        ("360net.json", G360),
        ("feed.json", STIX_FEED),
        ("e.misp.json", MISP_EVENT),
    ):
        (tmp / name).write_text(json.dumps(doc), encoding="utf-8")
        files.append(str(tmp / name))
    path = tmp / "kb.sqlite"
    code, _ = run("import", *files, "--db", str(path))
    assert code == 0
    con = sqlite3.connect(path)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    return path


@pytest.fixture
def db(template_db: Path, tmp_path: Path) -> Path:
    path = tmp_path / "kb.sqlite"
    shutil.copyfile(template_db, path)
    return path


def test_show_json_has_names_with_sources_and_disagreement(db: Path) -> None:
    code, out = run("show", "TA397", "--json", "--db", str(db))
    doc = json.loads(out)
    assert code == 0 and doc["name"] in ("BITTER", "HAZY TIGER")
    assert all(n["source"] for n in doc["names"])
    assert any(d["attr"] == "country" for d in doc["disagreements"])  # IN vs PK (test data)


def test_show_terminal_lists_sources(db: Path) -> None:
    code, out = run("show", "蔓灵花", "--db", str(db))
    assert code == 0 and "MISP galaxy 360net v6" in out and "healthcare" in out


def test_groups_filter_and_lookup(db: Path, tmp_path: Path) -> None:
    code, out = run("groups", "--country", "IN", "--sector", "healthcare", "--json", "--db", str(db))
    names = [g["name"] for g in json.loads(out)["groups"]]
    assert code == 0 and ("BITTER" in names or "HAZY TIGER" in names)
    code, out = run(
        "lookup", "x.evil.example", "203.0.113.9", "--json", "-o", str(tmp_path / "l.json"), "--db", str(db)
    )
    res = json.loads(out)["results"]
    assert code == 0 and res["x.evil.example"][0]["match"] == "parent-domain"
    assert (tmp_path / "l.json").is_file()
    assert run("lookup", "nothing.invalid", "--db", str(db))[0] == 1


def test_export_timeline_rank(db: Path, tmp_path: Path) -> None:
    code, _ = run(
        "export",
        "--stix",
        str(tmp_path / "s.json"),
        "--misp",
        str(tmp_path / "m.json"),
        "--group",
        "BITTER",
        "--db",
        str(db),
    )
    assert code == 0 and (tmp_path / "s.json").is_file()
    code, out = run("timeline", "BITTER", "--json", "--db", str(db))
    assert code == 0 and any("indicator" in e["what"] for e in json.loads(out)["events"])
    code, out = run("rank", "--year", "2024", "--json", "--db", str(db))
    doc = json.loads(out)
    assert code == 0 and "score" in doc["measure"] and doc["groups"]


def test_malformed_feed_exit_code(db: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.txt"
    bad.write_text("ok.example\nnot an indicator\n", encoding="utf-8")
    result = CliRunner().invoke(intel, ["import", str(bad), "--db", str(db)])
    assert result.exit_code == 65 and "line 2" in result.stderr


@pytest.fixture
def http_dir(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    root = tmp_path / "www"
    root.mkdir()
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(SimpleHTTPRequestHandler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", root
    server.shutdown()
    server.server_close()


def test_update_from_local_http_and_file(db: Path, http_dir: tuple[str, Path], tmp_path: Path) -> None:
    base, root = http_dir
    changed = json.loads(json.dumps(GALAXY))
    changed["version"] = 2
    changed["values"][0]["meta"]["synonyms"].append("NEWNAME-42")
    (root / "threat-actor.json").write_text(json.dumps(changed), encoding="utf-8")
    code, _ = run("update", "--from", f"{base}/threat-actor.json", "--db", str(db))
    assert code == 0
    code, out = run("show", "NEWNAME-42", "--json", "--db", str(db))
    assert code == 0 and json.loads(out)["name"] in ("BITTER", "HAZY TIGER")
    local = tmp_path / "threat-actor.json"
    local.write_text(json.dumps(GALAXY), encoding="utf-8")
    code, _ = run("update", "--from", str(local), "--db", str(db))
    assert code == 0
    assert run("update", "--from", f"{base}/missing.json", "--db", str(db))[0] == 65
