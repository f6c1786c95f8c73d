from __future__ import annotations

from pathlib import Path

from aptcatch.capture.engine import ScanConfig, Scanner
from aptcatch.capture.formats.yara_scan import YaraAnalyzer, compile_rules


def scan(data: bytes, **cfg: object) -> object:
    config = ScanConfig(**cfg)  # type: ignore[arg-type]
    return Scanner(config, analyzers=[YaraAnalyzer(compile_rules(config))]).scan_bytes(data, name="x.bin")


def test_builtin_rule_raises_catalogued_finding() -> None:
    r = scan(b"{\\rtf1{\\object\\objupdate{\\*\\objdata 0105000002000000}}}")
    assert "yara.rtf_autoupdate_object" in [f.id for f in r.findings]  # type: ignore[attr-defined]


def test_user_rules_with_metadata_and_broken_file(tmp_path: Path) -> None:
    (tmp_path / "good.yar").write_text(
        'rule apt_demo { meta: family = "ZxxZ" actor = "BITTER" score = 80 '
        'strings: $a = "zxxz-marker" condition: $a }'
    )
    (tmp_path / "broken.yar").write_text("rule broken { condition: nosuchthing }")
    compiled = compile_rules(ScanConfig(yara_dirs=(tmp_path,)))
    assert any("broken.yar" in k for k in compiled.skipped)
    r = Scanner(ScanConfig(), analyzers=[YaraAnalyzer(compiled)]).scan_bytes(b"..zxxz-marker..", name="a")
    f = r.findings[0]
    assert f.id == "yara.rule_high"
    assert "family=ZxxZ" in f.detail and "actor=BITTER" in f.detail
    assert r.artifact.metadata["yara"] == ["good.apt_demo"]


def test_signature_base_globals_are_defined(tmp_path: Path) -> None:
    (tmp_path / "g.yar").write_text('rule by_ext { condition: extension == "bin" }')
    r = scan(b"x", yara_dirs=(tmp_path,), builtin_yara=False)
    assert [f.id for f in r.findings] == ["yara.rule_low"]  # type: ignore[attr-defined]
    assert r.verdict == "clean"  # type: ignore[attr-defined]
