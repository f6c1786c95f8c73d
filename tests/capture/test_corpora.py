"""Whole-scanner checks on the real corpora in ../shared/data (skipped when absent).

Per-format details are tested beside each analyser; here the expectations the issue names are checked
end to end: oletools' own samples show what they were made to show, Strelka's benign fixtures are
opened and not flagged, and the live maldocs are caught.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from aptcatch.capture.engine import ScanConfig, Scanner
from aptcatch.model.scan import Artifact, ItemResult

pytestmark = pytest.mark.corpus


def walk(a: Artifact) -> list[Artifact]:
    out = [a]
    for c in a.children:
        out.extend(walk(c))
    return out


def ids(r: ItemResult) -> set[str]:
    return {f.id for f in r.findings}


def family(r: ItemResult, prefix: str) -> bool:
    return any(i.startswith(prefix) for i in ids(r))


@pytest.fixture(scope="module")
def otd(shared_data: Path) -> Path:
    return shared_data / "oletools-testdata" / "tests" / "test-data"


@pytest.fixture(scope="module")
def oscanner() -> Scanner:
    """oletools zips its samples with the password 'infected-test', given as an analyst would (-p)."""
    return Scanner(ScanConfig(passwords=("infected-test",)))


def test_oletools_dde_samples_show_dde(oscanner: Scanner, otd: Path) -> None:
    names = [
        "dde-test.docx",
        "dde-test.docm",
        "dde-test.xlsx",
        "dde-test.xlsm",
        "dde-test.xlsb",
        "dde-in-excel2003.xml",
        "dde-in-csv.csv",
        "dde-test-from-office2003.doc.zip",
        "dde-test-from-office2016.doc.zip",
        "dde-in-word2003.xml.zip",
        "dde-in-word2007.xml.zip",
    ]
    missing = [n for n in names if not family(oscanner.scan_file(otd / "msodde" / n), "dde.")]
    assert not missing


def test_oletools_harmless_files_stay_clean(oscanner: Scanner, otd: Path) -> None:
    for p in [*sorted((otd / "msodde").glob("harmless-clean*")), otd / "ooxml" / "harmless-clean.xml"]:
        r = oscanner.scan_file(p)
        assert r.verdict == "clean", (p.name, r.reasons)


def test_oletools_excel4_samples_show_xlm(oscanner: Scanner, otd: Path) -> None:
    for p in sorted((otd / "excel4-macros").iterdir()):
        r = oscanner.scan_file(p)
        assert family(r, "xlm."), (p.name, ids(r))


def test_oletools_encrypted_files_are_decrypted(oscanner: Scanner, otd: Path) -> None:
    """The VelvetSweatshop files are decrypted and analysed; the others (password unknown) say so."""
    for p in sorted((otd / "encrypted").iterdir()):
        r = oscanner.scan_file(p)
        decrypted = [a for a in walk(r.artifact) if a.name.startswith("decrypted")]
        if "standardpassword" in p.name:
            assert decrypted, (p.name, [e.message for a in walk(r.artifact) for e in a.errors])
            if p.name.startswith("autostart"):
                assert any(i.startswith("vba.autoexec") or i.startswith("xlm.") for i in ids(r)), (
                    p.name,
                    ids(r),
                )
        else:
            assert "office.encrypted_unknown_password" in ids(r), (p.name, ids(r))
            assert any(e.kind == "encrypted" for a in walk(r.artifact) for e in a.errors), p.name


def test_oletools_external_links_show_remote_target(oscanner: Scanner, otd: Path) -> None:
    for p in sorted((otd / "oleobj" / "external_link").iterdir()):
        r = oscanner.scan_file(p)
        assert any(i.type.value in ("url", "file_path") for i in r.indicators) or family(
            r, "ooxml.external"
        ), (
            p.name,
            ids(r),
        )


def test_oletools_embedded_objects_are_found(oscanner: Scanner, otd: Path) -> None:
    for p in sorted((otd / "oleobj").glob("embedded-simple-2007.*")):
        r = oscanner.scan_file(p)
        assert len(walk(r.artifact)) > 1, p.name


def test_oletools_rtf_objects(oscanner: Scanner, otd: Path) -> None:
    r = oscanner.scan_file(otd / "rtfobj" / "issue_185.rtf.zip")
    rtf = [a for a in walk(r.artifact) if a.type == "rtf"]
    assert rtf
    assert rtf[0].children, "RTF objects must be extracted"


# fixtures made not to open: a RAR bomb (refused by the ratio limit), a 7z whose password is meant to be
# brute-forced (not in the listed passwords), an empty zip
NOT_MEANT_TO_OPEN = {"test_big.rar", "test_password_brute.7z", "test_empty.zip"}


def test_strelka_benign_fixtures(shared_data: Path) -> None:
    folder = shared_data / "strelka-fixtures"
    pw = []
    for name in ("test_passwords.dat", "test_passwords_alternate.dat"):
        pw += [x.strip() for x in (folder / name).read_text(errors="replace").splitlines() if x.strip()]
    scanner = Scanner(ScanConfig(passwords=tuple(pw)))
    mail, archives = {"eml", "msg"}, {"zip", "rar", "7z", "tar", "gzip", "bzip2", "xz", "iso", "cab"}
    not_opened, malicious = [], []
    for p in sorted(folder.iterdir()):
        if p.name in {"LICENSE", "test_passwords.dat", "test_passwords_alternate.dat"}:
            continue
        r = scanner.scan_file(p)
        if r.verdict == "malicious":
            malicious.append((p.name, r.reasons))
        if p.name in NOT_MEANT_TO_OPEN:
            continue
        parse_errors = [e.message for e in r.artifact.errors if e.kind == "parse"]
        if r.type in mail and (parse_errors or not (r.lure.subject or r.lure.sender)):
            not_opened.append((p.name, parse_errors))
        if r.type in archives and not r.artifact.children:
            not_opened.append((p.name, [e.message for e in r.artifact.errors]))
    assert not malicious
    assert not not_opened


def test_live_maldocs_detection_rate(shared_data: Path) -> None:
    import csv

    from aptcatch.capture.runner import scan_paths

    rows = list(csv.DictReader((shared_data / "maldocs-dev" / "MANIFEST.tsv").open(), delimiter="\t"))
    results = scan_paths([shared_data / "maldocs-dev" / r["zip"] for r in rows], ScanConfig(), jobs=2)
    flagged = sum(1 for r in results if r.verdict != "clean")
    assert flagged / len(rows) >= 0.95, [Path(r.path).name for r in results if r.verdict == "clean"]
