"""Archive/container extraction: zip (plain, ZipCrypto, AES), 7z, tar family, ISO, CAB/RAR (corpus),
limits and hostile input. Every input is built in memory."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import struct
import tarfile
import time
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path

import py7zr
import pycdlib
import pytest
import pyzipper

from aptcatch.capture.engine import ScanConfig, Scanner
from aptcatch.capture.formats import archive, archive_7z, archive_iso, archive_rar, email, msg
from aptcatch.capture.formats.archive_common import double_extension, lnk_or_script_only, traversal
from aptcatch.capture.limits import Limits
from aptcatch.model.scan import Artifact, ItemResult
from tests.memory import PeakGrowth

LNK = b"L\x00\x00\x00\x01\x14\x02\x00\x00\x00\x00\x00\xc0\x00\x00\x00\x00\x00\x00F" + b"\x00" * 60
TEXT = b"Quarterly report\n" * 20


def scanner(**kw: object) -> Scanner:
    cfg = ScanConfig(**kw)  # type: ignore[arg-type]
    mods = (archive, archive_7z, archive_iso, archive_rar, email, msg)
    return Scanner(cfg, analyzers=[a for m in mods for a in m.analyzers(cfg)])


def walk(a: Artifact) -> Iterator[Artifact]:
    yield a
    for c in a.children:
        yield from walk(c)


def ids(r: ItemResult) -> set[str]:
    return {f.id for f in r.findings}


def errors(r: ItemResult) -> list[str]:
    return [f"{e.kind}: {e.message}" for a in walk(r.artifact) for e in a.errors]


def make_zip(members: dict[str, bytes], comment: bytes = b"") -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for n, d in members.items():
            zf.writestr(n, d)
        zf.comment = comment
    return buf.getvalue()


def aes_zip(members: dict[str, bytes], password: bytes) -> bytes:
    buf = io.BytesIO()
    with pyzipper.AESZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED, encryption=pyzipper.WZ_AES) as zf:
        zf.setpassword(password)
        for n, d in members.items():
            zf.writestr(n, d)
    return buf.getvalue()


# -- zip ------------------------------------------------------------------------------------------------


def test_zip_members_metadata_and_comment() -> None:
    data = make_zip({"docs/report.txt": TEXT, "a.txt": b"hello"}, comment=b"see http://update-check.top/x")
    r = scanner().scan_bytes(data, name="r.zip")
    kids = {c.name: c for c in r.artifact.children}
    assert set(kids) == {"docs/report.txt", "a.txt"}
    meta = kids["docs/report.txt"].metadata
    assert meta["size"] == len(TEXT) and meta["method"] == "deflate" and meta["encrypted"] is False
    assert "compressed_size" in meta and "mtime" in meta
    assert r.artifact.metadata["comment"] == "see http://update-check.top/x"
    assert any(i.value == "http://update-check.top/x" for i in r.indicators)
    assert r.verdict == "clean" and not errors(r)


def test_aes_zip_opened_with_configured_password() -> None:
    data = aes_zip({"cv.docx.lnk": LNK}, b"S3cret!")
    r = scanner(passwords=("S3cret!",)).scan_bytes(data, name="cv.zip")
    assert [c.name for c in r.artifact.children] == ["cv.docx.lnk"]
    assert r.artifact.children[0].type == "lnk"
    assert {"archive.encrypted_opened", "archive.double_extension", "archive.lnk_or_script_only"} <= ids(r)
    assert r.verdict == "malicious"


def test_zip_default_password_infected_and_unknown_password() -> None:
    r = scanner().scan_bytes(aes_zip({"a.txt": TEXT}, b"infected"), name="s.zip")
    assert r.artifact.children and r.artifact.children[0].size == len(TEXT)
    r = scanner().scan_bytes(aes_zip({"a.txt": TEXT}, b"no-one-knows-this"), name="s.zip")
    assert not r.artifact.children
    assert "archive.encrypted" in ids(r)
    assert any(e.kind == "encrypted" for e in r.artifact.errors)
    assert r.artifact.metadata["members"] == ["a.txt"]


def test_name_rules() -> None:
    assert double_extension("Invoice.pdf.exe") and double_extension("cv.docx   .lnk")
    assert not double_extension("archive.tar.gz") and not double_extension("setup.exe")
    assert lnk_or_script_only(["Report.lnk"]) and lnk_or_script_only(["a/b.js"])
    assert not lnk_or_script_only(["Report.lnk", "Report.pdf"]) and not lnk_or_script_only(["setup.exe"])
    assert traversal("../../etc/passwd") and traversal("/abs") and traversal("C:\\x") and not traversal("a/b")


def test_path_traversal_recorded() -> None:
    r = scanner().scan_bytes(make_zip({"../../evil.txt": b"x", "ok.txt": b"y"}), name="t.zip")
    assert "archive.path_traversal" in ids(r)
    assert {c.name for c in r.artifact.children} == {"../../evil.txt", "ok.txt"}  # names stay strings


def test_truncated_zip_does_not_crash() -> None:
    data = make_zip({"a.txt": TEXT * 50, "b.txt": TEXT * 50})
    r = scanner().scan_bytes(data[: len(data) // 2], name="cut.zip")
    assert r.artifact.type == "zip"
    assert errors(r)


# -- limits and bombs -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def gib_bomb() -> bytes:
    """One member that decompresses to 1 GiB of zeros, written in 16 MiB chunks."""
    buf = io.BytesIO()
    chunk = bytes(1 << 24)
    with (
        zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf,
        zf.open("zeros.bin", "w", force_zip64=True) as fh,
    ):
        for _ in range(64):
            fh.write(chunk)
    return buf.getvalue()


def test_zip_bomb_ratio_limit(gib_bomb: bytes) -> None:
    t = time.perf_counter()
    with PeakGrowth() as peak:
        r = scanner().scan_bytes(gib_bomb, name="bomb.zip")
    assert time.perf_counter() - t < 2
    assert not r.artifact.children
    assert any(e.kind == "limit" for e in r.artifact.errors)
    assert "archive.bomb" in ids(r)
    assert peak.kib < 200 * 1024


def test_zip_bomb_read_stops_at_child_limit(gib_bomb: bytes) -> None:
    lim = Limits(max_ratio=1e9, max_child_size=8 << 20)
    with PeakGrowth() as peak:
        r = scanner(limits=lim).scan_bytes(gib_bomb, name="bomb.zip")
    assert not r.artifact.children and "archive.bomb" in ids(r)
    assert any("declared size" in e.message for e in r.artifact.errors)
    assert peak.kib < 200 * 1024


def test_lying_gzip_read_stops_at_budget() -> None:
    """ISIZE claims 1 KiB; the stream inflates to 256 MiB: the read stops at the 8 MiB child limit."""
    comp = zlib.compressobj(1, zlib.DEFLATED, 31)
    parts = [comp.compress(bytes(1 << 24)) for _ in range(16)]
    data = b"".join(parts) + comp.flush()
    data = data[:-4] + (1024).to_bytes(4, "little")
    with PeakGrowth() as peak:
        r = scanner(limits=Limits(max_child_size=8 << 20)).scan_bytes(data, name="z.gz")
    assert not r.artifact.children and "archive.bomb" in ids(r)
    assert any("exceeds 8388608" in e.message for e in r.artifact.errors)
    assert peak.kib < 100 * 1024


def _fan_out(inner: bytes, name: str, copies: int = 10) -> bytes:
    """A zip whose ``copies`` central-directory entries all point at one local member (same bytes)."""
    one = make_zip({name: inner})
    eocd = one.rfind(b"PK\x05\x06")
    cd_size, cd_off = struct.unpack("<II", one[eocd + 12 : eocd + 20])
    entry = one[cd_off : cd_off + cd_size]
    return (
        one[:cd_off]
        + entry * copies
        + struct.pack("<4s4H2IH", b"PK\x05\x06", 0, 0, copies, copies, cd_size * copies, cd_off, 0)
    )


def test_nested_archive_bomb_stays_small() -> None:
    data = b"leaf" * 10
    for level in range(6):
        data = _fan_out(data, f"level{level}.zip")
    assert len(data) < 10_000
    t = time.perf_counter()
    r = scanner(limits=Limits(max_depth=4)).scan_bytes(data, name="nested.zip")
    assert time.perf_counter() - t < 5
    nodes = list(walk(r.artifact))
    assert len(nodes) < 60
    assert sum(1 for n in nodes if n.metadata.get("duplicate_of")) >= 9
    assert any("nesting deeper than 4" in e for e in errors(r))


def test_member_count_limit() -> None:
    data = make_zip({f"f{i}.txt": str(i).encode() for i in range(10_000)})
    t = time.perf_counter()
    r = scanner(limits=Limits(max_children=100)).scan_bytes(data, name="many.zip")
    assert time.perf_counter() - t < 10
    assert len(r.artifact.children) == 100
    assert any("more than 100" in e.message for e in r.artifact.errors)
    assert r.artifact.metadata["member_count"] == 10_000


# -- 7z -------------------------------------------------------------------------------------------------


def make_7z(members: dict[str, bytes], password: str | None = None, header_encryption: bool = False) -> bytes:
    buf = io.BytesIO()
    with py7zr.SevenZipFile(buf, "w", password=password, header_encryption=header_encryption) as sz:
        for n, d in members.items():
            sz.writestr(d, n)
    return buf.getvalue()


def test_7z_plain_and_password() -> None:
    r = scanner().scan_bytes(make_7z({"a.txt": TEXT, "b/c.txt": b"x"}), name="a.7z")
    assert {c.name for c in r.artifact.children} == {"a.txt", "b/c.txt"}
    r = scanner(passwords=("Pa55!",)).scan_bytes(make_7z({"a.txt": TEXT}, "Pa55!", True), name="a.7z")
    assert [c.size for c in r.artifact.children] == [len(TEXT)]
    assert r.artifact.metadata["encrypted_headers"] is True
    r = scanner().scan_bytes(make_7z({"a.txt": TEXT}, "unknowable"), name="a.7z")
    assert not r.artifact.children and "archive.encrypted" in ids(r)


def test_7z_declared_size_limit_and_truncation() -> None:
    data = make_7z({"big.bin": bytes(3 << 20)})
    r = scanner(limits=Limits(max_child_size=1 << 20)).scan_bytes(data, name="b.7z")
    assert not r.artifact.children and "archive.bomb" in ids(r)
    r = scanner().scan_bytes(make_7z({"a.txt": TEXT * 100})[:60], name="cut.7z")
    assert any(e.kind == "parse" for e in r.artifact.errors)


# -- tar family -----------------------------------------------------------------------------------------


def make_tar(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for n, d in members.items():
            ti = tarfile.TarInfo(n)
            ti.size = len(d)
            ti.mtime = 1_600_000_000
            tf.addfile(ti, io.BytesIO(d))
    return buf.getvalue()


def test_tar_gz_bz2_xz() -> None:
    tar = make_tar({"x/readme.txt": TEXT, "run.js": b"var s = new ActiveXObject('WScript.Shell');"})
    gz = gzip.compress(tar)
    r = scanner().scan_bytes(gz, name="pkg.tgz")
    (inner,) = r.artifact.children
    assert inner.name == "pkg.tar" and inner.type == "tar"
    assert {c.name for c in inner.children} == {"x/readme.txt", "run.js"}
    for blob, name in ((bz2.compress(TEXT), "notes.txt.bz2"), (lzma.compress(TEXT), "notes.txt.xz")):
        r = scanner().scan_bytes(blob, name=name)
        assert [c.name for c in r.artifact.children] == ["notes.txt"]
    r = scanner().scan_bytes(gz[:-30], name="cut.tgz")
    assert any(e.kind in ("parse", "limit") for e in r.artifact.errors)


# -- ISO ------------------------------------------------------------------------------------------------


def make_iso(files: dict[str, bytes]) -> bytes:
    iso = pycdlib.PyCdlib()
    iso.new(joliet=3)
    for i, (n, d) in enumerate(files.items()):
        iso.add_fp(io.BytesIO(d), len(d), f"/F{i}.;1", joliet_path=f"/{n}")
    out = io.BytesIO()
    iso.write_fp(out)
    iso.close()
    return out.getvalue()


def test_iso_joliet_names_and_motw_finding() -> None:
    r = scanner().scan_bytes(make_iso({"Invitation.pdf.lnk": LNK, "readme.txt": TEXT}), name="a.iso")
    assert r.artifact.type == "iso" and r.artifact.metadata["filesystem"] == "joliet"
    assert {c.name for c in r.artifact.children} == {"Invitation.pdf.lnk", "readme.txt"}
    assert {"archive.disk_image_delivery", "archive.double_extension"} <= ids(r)
    r = scanner().scan_bytes(make_iso({"readme.txt": TEXT}), name="b.iso")
    assert "archive.disk_image_delivery" not in ids(r) and r.verdict == "clean"


# -- corpus ---------------------------------------------------------------------------------------------


STRELKA_ARCHIVES = [
    "test.zip", "test.rar", "test.7z", "test.tar", "test.gz", "test.bz2", "test.xz", "test.iso",
    "test_zip.cab", "test_lzx.cab", "test.onepkg", "test_aes256_password.zip", "test_mixedcrypto.zip",
    "test_zip_password.zip", "test_password.7z", "test_password_filenames.7z", "test_empty.zip",
    "test_comment_time.rar",
]  # fmt: skip


@pytest.mark.corpus
def test_strelka_archives_open(shared_data: Path) -> None:
    base = shared_data / "strelka-fixtures"
    pws = tuple((base / "test_passwords.dat").read_text().split())
    sc = scanner(passwords=pws)
    for name in STRELKA_ARCHIVES:
        r = sc.scan_file(base / name)
        assert r.artifact.children, name
        assert r.verdict != "malicious", name
    r = sc.scan_file(base / "test.onepkg")
    assert r.artifact.type == "cab" and any(c.type == "onenote" for c in r.artifact.children)
    r = sc.scan_file(base / "test_comment_time.rar")
    assert "Lorem ipsum" in str(r.artifact.metadata["comment"])
    r = sc.scan_file(base / "test_big.rar")  # 512 MB of zeros in 20 KB: ratio limit, nothing read
    assert "archive.bomb" in ids(r) and not r.artifact.children
    for name in ("test_password_encrypted_headers.rar", "test_password_mixed_encrypted_headers.rar"):
        r = sc.scan_file(base / name)  # names decrypted with the listed password
        assert "lorem.txt" in r.artifact.metadata["members"], name  # type: ignore[operator]
    data = (base / "test.rar").read_bytes()
    r = sc.scan_bytes(data[: len(data) // 2], name="cut.rar")
    assert r.artifact.type == "rar"


@pytest.mark.corpus
def test_maldocs_zips_open_with_default_password(shared_data: Path) -> None:
    """The live samples are read the way the project reads them: the encrypted zip, in memory."""
    zips = sorted((shared_data / "maldocs-dev").glob("*/*.zip"))
    assert zips
    sc = scanner()
    for z in zips:
        r = sc.scan_bytes(z.read_bytes(), name=z.name)
        assert len(r.artifact.children) == 1, z.name
        assert r.artifact.children[0].type not in ("unknown", "empty"), z.name
        assert "archive.encrypted_opened" in ids(r)


@pytest.mark.corpus
def test_oletools_zips_open(shared_data: Path) -> None:
    zips = sorted((shared_data / "oletools-testdata").rglob("*.zip"))
    assert zips
    sc = scanner(passwords=("infected-test",))
    for z in zips:
        r = sc.scan_bytes(z.read_bytes(), name=z.name)
        assert r.artifact.children, z.name
