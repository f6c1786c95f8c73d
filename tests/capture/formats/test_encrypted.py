"""Encrypted Office: in-memory decryption with VelvetSweatshop and candidate passwords."""

from __future__ import annotations

from pathlib import Path

import pytest

from aptcatch.capture.engine import Scanner
from aptcatch.capture.formats import encrypted
from aptcatch.model.scan import Artifact

ENC = "oletools-testdata/tests/test-data/encrypted"


def _walk(a: Artifact) -> list[Artifact]:
    out = [a]
    for c in a.children:
        out.extend(_walk(c))
    return out


def test_garbage_is_neither_encrypted_nor_decryptable() -> None:
    assert not encrypted.is_encrypted(b"not an office file")
    assert encrypted.try_decrypt(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100, "x") is None
    assert not encrypted._plausible(b"random noise that is no zip")


@pytest.mark.corpus
@pytest.mark.parametrize(
    "name",
    ["autostart-encrypt-standardpassword.xls", "autostart-encrypt-standardpassword.xlsm",
     "autostart-encrypt-standardpassword.xlsb", "dde-test-encrypt-standardpassword.xls",
     "dde-test-encrypt-standardpassword.xlsx", "dde-test-encrypt-standardpassword.xlsm",
     "dde-test-encrypt-standardpassword.xlsb"],
)  # fmt: skip
def test_velvetsweatshop_files_decrypt(shared_data: Path, name: str) -> None:
    data = (shared_data / ENC / name).read_bytes()
    assert encrypted.is_encrypted(data)
    assert encrypted.try_decrypt(data, "VelvetSweatshop") is not None


@pytest.mark.corpus
def test_autostart_macro_visible_after_decryption(shared_data: Path, scanner: Scanner) -> None:
    for ext in ("xlsm", "xlsb"):
        r = scanner.scan_file(shared_data / ENC / f"autostart-encrypt-standardpassword.{ext}")
        ids = {f.id for f in r.findings}
        assert {"office.encrypted_default_password", "vba.autoexec"} <= ids, ext
        assert r.artifact.children[0].name.startswith("decrypted ")
        assert any("Auto_Open" in str(a.metadata.get("vba_autoexec", "")) for a in _walk(r.artifact))


@pytest.mark.corpus
def test_dde_file_gets_decrypted_child(shared_data: Path, scanner: Scanner) -> None:
    r = scanner.scan_file(shared_data / ENC / "dde-test-encrypt-standardpassword.xlsx")
    assert r.artifact.children and r.artifact.children[0].type == "ooxml-excel"


@pytest.mark.corpus
def test_unknown_password_is_reported_not_malicious(shared_data: Path, scanner: Scanner) -> None:
    for path in (shared_data / ENC / "encrypted.doc", shared_data / "strelka-fixtures/test_password.doc"):
        r = scanner.scan_file(path)
        assert "office.encrypted_unknown_password" in {f.id for f in r.findings}
        assert any(e.kind == "encrypted" for e in r.artifact.errors)
        assert r.verdict != "malicious"
