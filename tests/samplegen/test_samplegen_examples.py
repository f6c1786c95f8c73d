"""Every example is harmless, small, reproducible and identical to the committed examples/."""

from __future__ import annotations

import base64
import email
import email.policy
import io
import ipaddress
import re
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from samplegen import EXAMPLES, build, build_all, build_bytes, ovba
from samplegen.__main__ import main
from samplegen.cfb import SIGNATURE, read_cfb

REPO = Path(__file__).resolve().parents[2]
EXAMPLES_DIR = REPO / "examples"
NAMES = [e.name for e in EXAMPLES]

TEST_NETS = [ipaddress.ip_network(n) for n in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24")]
RESERVED_SUFFIXES = (".test", ".example", ".invalid", ".localhost")
# XML namespace and relationship-type URIs: identifiers in OOXML, never fetched.
NAMESPACE_HOSTS = {"schemas.openxmlformats.org", "schemas.microsoft.com", "purl.org", "www.w3.org"}
LURE_HOSTS = {
    "wuhan-travel-form.eml": "update.example-cdn.test",  # only after evaluating the VBA string building
    "remote-template.docx": "templates.example-cdn.test",
    "dde-field.docx": "198.51.100.7",
    "invoice.zip": "cdn.example-cdn.test",
    "report.zip": "cdn.example-cdn.test",  # inside the base64 -enc argument
    "openaction-js.pdf": "docs.example-cdn.test",
}
URL = re.compile(rb"(?i)\b(?:https?|ftp|hxxps?)://([^/\s\"'<>()\\:]+)")
MAIL = re.compile(rb"[\w.+-]+@([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)")


def _blobs(path: str, data: bytes, depth: int = 0) -> Iterator[tuple[str, bytes, bool]]:
    """Yield (path, bytes, is_container) for ``data`` and everything nested inside it."""
    assert depth < 8
    container = True
    if data[:4] == b"PK\x03\x04":
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            for info in zf.infolist():
                yield from _blobs(f"{path}!{info.filename}", zf.read(info), depth + 1)
    elif path.endswith(".eml"):
        msg = email.message_from_bytes(data, policy=email.policy.default)
        yield f"{path}!headers", str(msg.items()).encode("utf-8"), False
        for index, part in enumerate(msg.walk()):
            if not part.is_multipart():
                name = part.get_filename() or f"part{index}"
                payload = part.get_payload(decode=True)
                assert isinstance(payload, bytes)
                yield from _blobs(f"{path}!{name}", payload, depth + 1)
    elif data[:8] == SIGNATURE:
        for name, stream in read_cfb(data).items():
            yield from _blobs(f"{path}!{name}", stream, depth + 1)
            if name.startswith("VBA/") and name not in ("VBA/dir", "VBA/_VBA_PROJECT"):
                source = ovba.decompress(stream)
                yield f"{path}!{name}#source", source, False
                yield f"{path}!{name}#evaluated", _evaluate_vba(source.decode("cp936")).encode(), False
    elif data[:5] == b"{\\rtf":
        for match in re.finditer(rb"\\objdata", data):
            tail = data[match.end() :]
            tail = re.sub(rb"\{\\\*\\[a-z]+\d*\}|\\[a-z]+\d* ?|\s+", b"", tail)
            hexdigits = re.match(rb"[0-9a-fA-F]+", tail)
            assert hexdigits
            raw = bytes.fromhex(hexdigits.group().decode()[: len(hexdigits.group()) // 2 * 2])
            yield f"{path}!objdata", raw, False
            if SIGNATURE in raw:
                yield from _blobs(f"{path}!objdata!cfb", raw[raw.index(SIGNATURE) :], depth + 1)
        container = False
    elif data[:5] == b"%PDF-":
        for index, match in enumerate(re.finditer(rb"stream\n(.*?)\nendstream", data, re.S)):
            yield f"{path}!stream{index}", zlib.decompress(match.group(1)), False
        container = False
    elif data[:4] == b"\x4c\x00\x00\x00":  # shell link
        for shift in (0, 1):  # UTF-16 strings may start at odd offsets
            text = data[shift:].decode("utf-16-le", "ignore").encode("utf-8")
            yield f"{path}#utf16+{shift}", text, False
            for enc in re.findall(rb"-enc ([A-Za-z0-9+/=]+)", text):
                yield f"{path}#enc", base64.b64decode(enc).decode("utf-16-le").encode(), False
        container = False
    else:
        container = False
    yield path, data, container


def _evaluate_vba(source: str) -> str:
    """Evaluate ``x = "a" & Chr(98) & y`` assignments (enough for the lure's string building)."""
    values: dict[str, str] = {}
    token = re.compile(r'\s*(?:"((?:[^"]|"")*)"|Chr\((\d+)\)|Environ\("(\w+)"\)|(\w+))\s*(&|$)')
    for line in re.sub(r" _\r?\n\s*", " ", source).splitlines():
        match = re.fullmatch(r"\s*(\w+) = (.+)", line)
        if not match:
            continue
        out, pos, expr = [], 0, match.group(2)
        while pos < len(expr):
            part = token.match(expr, pos)
            if not part:
                break
            text, code, env, name, _amp = part.groups()
            if text is not None:
                out.append(text.replace('""', '"'))
            elif code:
                out.append(chr(int(code)))
            elif env:
                out.append(f"%{env}%")
            else:
                out.append(values.get(name, ""))
            pos = part.end()
        else:
            values[match.group(1)] = "".join(out)
    return "\n".join(f"{k}={v}" for k, v in values.items())


def _host_ok(host: bytes) -> bool:
    text = host.decode("ascii", "replace").lower().rstrip(".")
    if text in NAMESPACE_HOSTS:
        return True
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return text.endswith(RESERVED_SUFFIXES)
    return any(address in net for net in TEST_NETS)


@pytest.mark.parametrize("name", NAMES)
def test_example_is_harmless(name: str) -> None:
    blobs = list(_blobs(name, build_bytes(name)))
    hosts = set()
    for path, data, _container in blobs:
        assert not data.startswith(b"MZ"), f"PE header in {path}"
        assert not data.startswith(b"\x7fELF"), f"ELF header in {path}"
        assert b"This program cannot be run in DOS mode" not in data, path
        for candidate in (data, data.decode("utf-16-le", "ignore").encode("utf-8", "ignore")):
            for host in URL.findall(candidate):
                assert _host_ok(host), f"{path}: non-reserved host {host!r}"
                hosts.add(host)
            for domain in MAIL.findall(candidate):
                assert _host_ok(domain), f"{path}: non-reserved mail domain {domain!r}"
    # the walk really reaches the hidden parts: each lure's network indicator is seen
    if name in LURE_HOSTS:
        assert LURE_HOSTS[name].encode() in hosts, (name, hosts)


def test_vba_string_building_yields_the_documented_command() -> None:
    blobs = {p: d for p, d, _ in _blobs("wuhan-travel-form.eml", build_bytes("wuhan-travel-form.eml"))}
    evaluated = next(d for p, d in blobs.items() if p.endswith("VBA/ThisWorkbook#evaluated")).decode()
    values = dict(line.split("=", 1) for line in evaluated.splitlines())
    assert values["cmd"] == build.LURE_COMMAND
    assert values["p"].startswith("%APPDATA%\\Microsoft\\Windows\\Start Menu\\Programs\\Startup\\")
    assert build.LURE_COMMAND.encode() not in blobs["wuhan-travel-form.eml!" + build.XLSM_NAME]


def test_sizes() -> None:
    sizes = {name: len(build_bytes(name)) for name in NAMES}
    assert all(size < 100_000 for size in sizes.values()), sizes
    assert sum(sizes.values()) < 1_000_000


def test_build_bytes_unknown_name() -> None:
    with pytest.raises(KeyError):
        build_bytes("nope.bin")


def test_generation_is_reproducible() -> None:
    for example in EXAMPLES:
        assert example.builder() == build_bytes(example.name)


def _leaves(name: str, data: bytes) -> list[tuple[str, bytes]]:
    return [(p, d) for p, d, container in _blobs(name, data) if not container]


@pytest.mark.parametrize("name", NAMES)
def test_committed_examples_are_up_to_date(name: str) -> None:
    path = EXAMPLES_DIR / name
    if not path.exists():
        pytest.fail(f"{path} missing: run python -m samplegen examples")
    committed = path.read_bytes()
    fresh = build_bytes(name)
    if committed != fresh:
        # A different zlib build deflates differently; compare what the containers hold.
        assert _leaves(name, committed) == _leaves(name, fresh), "run python -m samplegen examples"


def test_committed_readme_is_up_to_date() -> None:
    assert (EXAMPLES_DIR / "README.md").read_text(encoding="utf-8") == build.readme()


def test_cli_writes_everything(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(tmp_path / "out")]) == 0
    written = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert written == sorted([*NAMES, "README.md", "logs"])
    assert (tmp_path / "out" / "logs" / "iocs.txt").is_file()
    assert "wuhan-travel-form.eml" in capsys.readouterr().out
    assert [p.name for p in build_all(tmp_path / "again")][-1] == "README.md"
