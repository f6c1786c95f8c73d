"""``update_rules``: install from a zip, a tar.gz, a folder and a 127.0.0.1 HTTP server; member names
never become paths; failures (corrupt archive, 404, limits) leave the previous set as it was."""

from __future__ import annotations

import hashlib
import io
import json
import threading
import zipfile
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from aptcatch.rules.sigma_store import (
    DATA_DIR_ENV,
    ArchiveLimits,
    RulesError,
    bundled_rules_dir,
    data_dir,
    installed_rules_dir,
    installed_set,
    update_rules,
)
from tests.rules import archives

SERVED: dict[str, bytes] = {}


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/moved":
            self.send_response(302)
            self.send_header("Location", "/sigma_core.zip")
            self.end_headers()
            return
        if self.path == "/to-ftp":
            self.send_response(302)
            self.send_header("Location", "ftp://127.0.0.1/sigma_core.zip")
            self.end_headers()
            return
        if self.path == "/lying-length":
            self.send_response(200)
            self.send_header("Content-Length", str(10**9))
            self.end_headers()
            return
        body = SERVED.get(self.path)
        if body is None:
            self.send_error(404, "Not Found")
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/zip")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    SERVED["/sigma_core.zip"] = archives.zip_bytes()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def _zip_file(tmp_path: Path, members: dict[str, bytes] | None = None, name: str = "sigma_core.zip") -> Path:
    path = tmp_path / name
    path.write_bytes(archives.zip_bytes(members))
    return path


def _installed_ids(data: Path) -> set[str]:
    folder = installed_rules_dir(data)
    assert folder is not None
    return {str(yaml.safe_load(p.read_text())["id"]) for p in folder.glob("*.yml")}


def _snapshot(data: Path) -> dict[str, bytes]:
    """Every file under the data dir, for 'left intact' checks."""
    return {str(p.relative_to(data)): p.read_bytes() for p in sorted(data.rglob("*")) if p.is_file()}


def test_nothing_installed_and_bundled_folder(tmp_path: Path) -> None:
    assert installed_rules_dir(tmp_path) is None and installed_set(tmp_path) is None
    assert len(list(bundled_rules_dir().glob("*.yml"))) >= 12


def test_data_dir_override_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path / "env"))
    assert data_dir() == tmp_path / "env"
    assert data_dir(tmp_path / "arg") == tmp_path / "arg"
    monkeypatch.delenv(DATA_DIR_ENV)
    assert data_dir().name == "aptcatch"


def test_update_from_local_zip(tmp_path: Path) -> None:
    data = tmp_path / "data"
    archive = _zip_file(tmp_path)
    installed = update_rules(str(archive), data_dir=data)
    assert _installed_ids(data) == archives.VALID_IDS
    assert installed.rule_count == 3
    assert sorted(p.name for p in installed.rules_dir.iterdir()) == sorted(
        f"{i}.yml" for i in archives.VALID_IDS
    )
    m = installed.manifest
    assert m["sha256"] == hashlib.sha256(archive.read_bytes()).hexdigest()
    assert m["source"] == str(archive) and m["source_kind"] == "file"
    assert m["newest_rule_date"] == "2025-06-15"
    assert m["files"]["rules/windows/process_creation/proc_creation_win_a.yml"] == f"{archives.RULE_A_ID}.yml"
    reasons = {s["member"]: s["reason"] for s in m["skipped"]}
    assert reasons["rules/windows/no_detection.yml"] == "no detection with a condition"
    assert reasons["rules/windows/broken.yml"].startswith("not valid YAML")
    assert reasons["rules/windows/bad_condition.yml"].startswith("pySigma")
    assert "deprecated" in reasons["deprecated/windows/old.yml"]
    assert m["skipped_count"] == 4 and m["ignored_entries"] == 2  # README.md, LICENSE
    on_disk = json.loads((installed.folder / "manifest.json").read_text())
    assert on_disk == m


def test_update_from_tar_gz_and_folder(tmp_path: Path) -> None:
    tgz = tmp_path / "rules.tar.gz"
    tgz.write_bytes(archives.tar_gz_bytes())
    update_rules(str(tgz), data_dir=tmp_path / "d1")
    assert _installed_ids(tmp_path / "d1") == archives.VALID_IDS
    src = archives.folder(tmp_path / "src")
    installed = update_rules(str(src), data_dir=tmp_path / "d2")
    assert _installed_ids(tmp_path / "d2") == archives.VALID_IDS
    assert installed.manifest["source_kind"] == "folder" and len(installed.manifest["sha256"]) == 64
    uri = update_rules(src.as_uri(), data_dir=tmp_path / "d3")
    assert uri.manifest["sha256"] == installed.manifest["sha256"]


def test_zip_slip_member_is_not_a_path_on_disk(tmp_path: Path) -> None:
    evil = archives.rule(archives.EVIL_ID, "Evil", "\\evil.exe")
    members = {
        "../../evil.yml": evil,
        "/abs/evil2.yml": evil.replace(b"Evil", b"Evil2"),
        "..\\..\\e3.yml": evil,
    }
    data = tmp_path / "deep" / "er" / "data"
    installed = update_rules(str(_zip_file(tmp_path, members)), data_dir=data)
    assert not list(tmp_path.rglob("evil*.yml")) and not list(tmp_path.rglob("e3.yml"))
    assert not Path("/abs/evil2.yml").exists()
    assert installed.manifest["files"]["../../evil.yml"] == f"{archives.EVIL_ID}.yml"
    # Same id twice: the second gets a content-hash name; identical content is skipped, not written twice.
    assert installed.manifest["files"]["/abs/evil2.yml"].startswith("sha256-")
    assert installed.manifest["skipped"] == [
        {"member": "..\\..\\e3.yml", "reason": "same content as ../../evil.yml"}
    ]
    assert all(p.parent == installed.rules_dir for p in installed.rules_dir.parent.rglob("*.yml"))


def test_update_from_http_server_and_redirect(tmp_path: Path, server: str) -> None:
    installed = update_rules(f"{server}/sigma_core.zip", data_dir=tmp_path)
    assert installed.manifest["source_kind"] == "url"
    assert installed.manifest["sha256"] == hashlib.sha256(SERVED["/sigma_core.zip"]).hexdigest()
    assert _installed_ids(tmp_path) == archives.VALID_IDS
    assert update_rules(f"{server}/moved", data_dir=tmp_path).rule_count == 3


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/missing.zip", "HTTP 404"),
        ("/to-ftp", "redirect to a non-http"),
        ("/lying-length", "announced"),
    ],
)
def test_failed_download_leaves_previous_set(tmp_path: Path, server: str, path: str, message: str) -> None:
    update_rules(str(_zip_file(tmp_path)), data_dir=tmp_path / "data")
    before = _snapshot(tmp_path / "data")
    url = f"{server}{path}"
    with pytest.raises(RulesError, match=message) as info:
        update_rules(url, data_dir=tmp_path / "data", limits=ArchiveLimits(max_archive_bytes=10**6))
    assert url in str(info.value)
    assert _snapshot(tmp_path / "data") == before


def test_unreachable_and_unsupported_urls(tmp_path: Path) -> None:
    with pytest.raises(RulesError, match="only http and https"):
        update_rules("ftp://127.0.0.1/sigma.zip", data_dir=tmp_path)
    with pytest.raises(RulesError, match="download failed") as info:
        update_rules("http://127.0.0.1:9/sigma.zip", data_dir=tmp_path, limits=ArchiveLimits(timeout=2))
    assert "127.0.0.1:9" in str(info.value)
    with pytest.raises(RulesError, match="no such file"):
        update_rules(str(tmp_path / "nope.zip"), data_dir=tmp_path)


@pytest.mark.parametrize(
    "payload",
    [b"PK\x03\x04 this is not really a zip", b"\x1f\x8b\x08\x00garbage", b"plain text, no archive"],
)
def test_corrupt_archive_leaves_previous_set(tmp_path: Path, payload: bytes) -> None:
    data = tmp_path / "data"
    first = update_rules(str(_zip_file(tmp_path)), data_dir=data)
    before = _snapshot(data)
    bad = tmp_path / "bad.zip"
    bad.write_bytes(payload)
    with pytest.raises(RulesError, match="not a readable") as info:
        update_rules(str(bad), data_dir=data)
    assert str(bad) in str(info.value)
    assert _snapshot(data) == before
    assert installed_set(data) == first


def test_damaged_member_fails_whole_update(tmp_path: Path) -> None:
    data = tmp_path / "data"
    update_rules(str(_zip_file(tmp_path)), data_dir=data)
    before = _snapshot(data)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        for name, content in archives.MEMBERS.items():
            zf.writestr(name, content)
    raw = buf.getvalue()
    at = raw.index(b"Rule B")  # inside a stored member: its CRC no longer matches
    damaged = tmp_path / "damaged.zip"
    damaged.write_bytes(raw[:at] + b"Rule X" + raw[at + 6 :])
    with pytest.raises(RulesError, match="corrupt archive member") as info:
        update_rules(str(damaged), data_dir=data)
    assert "proc_creation_win_b.yml" in str(info.value)
    assert _snapshot(data) == before


def test_archive_with_no_valid_rule_is_refused(tmp_path: Path) -> None:
    data = tmp_path / "data"
    update_rules(str(_zip_file(tmp_path)), data_dir=data)
    before = _snapshot(data)
    empty = _zip_file(tmp_path, {"rules/x.yml": archives.NO_DETECTION, "README.md": b"x"}, "empty.zip")
    with pytest.raises(RulesError, match="no valid Sigma rule found"):
        update_rules(str(empty), data_dir=data)
    assert _snapshot(data) == before


def test_size_and_count_limits(tmp_path: Path) -> None:
    archive = _zip_file(tmp_path)
    with pytest.raises(RulesError, match="byte limit"):
        update_rules(str(archive), data_dir=tmp_path / "a", limits=ArchiveLimits(max_archive_bytes=100))
    with pytest.raises(RulesError, match="more than 2 rule files"):
        update_rules(str(archive), data_dir=tmp_path / "b", limits=ArchiveLimits(max_rule_files=2))
    big = archives.rule(archives.EVIL_ID, "Big", "\\big.exe") + b"# " + b"x" * 5000 + b"\n"
    members = {**archives.MEMBERS, "rules/big.yml": big}
    installed = update_rules(
        str(_zip_file(tmp_path, members, "big.zip")),
        data_dir=tmp_path / "c",
        limits=ArchiveLimits(max_member_bytes=4096),
    )
    assert {"member": "rules/big.yml", "reason": "larger than 4096 bytes"} in installed.skipped
    assert installed.rule_count == 3
    assert installed_set(tmp_path / "a") is None and installed_set(tmp_path / "b") is None


def test_switch_keeps_previous_and_prunes_older(tmp_path: Path) -> None:
    data = tmp_path / "data"
    versions = []
    for i, ids in enumerate(((archives.RULE_A_ID,), (archives.RULE_B_ID,), (archives.RULE_C_ID,))):
        members = {f"rules/r{i}.yml": archives.rule(ids[0], f"Rule {i}", f"\\{i}.exe")}
        versions.append(update_rules(str(_zip_file(tmp_path, members, f"{i}.zip")), data_dir=data).version)
        assert _installed_ids(data) == set(ids)
    assert len(set(versions)) == 3
    left = sorted(p.name for p in (data / "sigma" / "versions").iterdir())
    assert left == sorted(versions[1:])  # the previous one stays, the oldest is pruned


def test_tampered_pointer_is_ignored(tmp_path: Path) -> None:
    update_rules(str(_zip_file(tmp_path)), data_dir=tmp_path / "data")
    (tmp_path / "data" / "sigma" / "current").write_text("../../../etc\n")
    assert installed_rules_dir(tmp_path / "data") is None


@pytest.mark.corpus
def test_update_from_a_sigmahq_release_shaped_zip(shared_data: Path, tmp_path: Path) -> None:
    """The SigmaHQ checkout in ../shared/data, zipped like the release asset: every rule is accepted."""
    root = shared_data / "sigma"
    files = sorted(
        p
        for folder in ("rules", "rules-emerging-threats", "rules-threat-hunting")
        for p in (root / folder).rglob("*.yml")
    )
    archive = tmp_path / "sigma_all_rules.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for p in files:
            zf.write(p, p.relative_to(root).as_posix())
        zf.write(root / "LICENSE", "LICENSE")
    installed = update_rules(str(archive), data_dir=tmp_path / "data")
    assert installed.skipped == []
    assert installed.rule_count == len(files) > 2000
    assert installed.manifest["ignored_entries"] == 1
    bundled = {yaml.safe_load(p.read_text())["id"] for p in bundled_rules_dir().glob("*.yml")}
    assert not {f"{i}.yml" for i in bundled} & {p.name for p in installed.rules_dir.iterdir()}
