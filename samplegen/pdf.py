"""Small PDF writer with exact cross-reference offsets.

Enough of ISO 32000 for lure structure: a catalog (optionally with ``/OpenAction`` pointing at a
JavaScript action), one page of Helvetica text (FlateDecode content stream), and optional
``/URI`` link annotations. The JavaScript is a string in the file, never run by anything here.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field


def pdf_string(text: str) -> str:
    """A PDF literal string, escaping backslash and parentheses (ASCII only)."""
    text.encode("ascii")
    return "(" + text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)") + ")"


@dataclass
class PdfSpec:
    """What goes in the document."""

    lines: Sequence[str]
    title: str = ""
    author: str = ""
    javascript: str | None = None
    links: Sequence[tuple[str, tuple[int, int, int, int]]] = field(default_factory=list)
    compress_js: bool = False


def build_pdf(spec: PdfSpec) -> bytes:
    """Serialise ``spec`` into a one-page PDF 1.7 file."""
    objects: list[bytes] = []

    def add(body: bytes | str) -> int:
        objects.append(body.encode("latin-1") if isinstance(body, str) else body)
        return len(objects)

    def stream(data: bytes, extra: str = "") -> bytes:
        packed = zlib.compress(data, 9)
        head = f"<< /Length {len(packed)} /Filter /FlateDecode{extra} >>\nstream\n".encode("latin-1")
        return head + packed + b"\nendstream"

    catalog = add("")  # placeholder, filled once the other numbers are known
    pages = add("")
    font = add("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>")
    text_ops = ["BT", "/F1 12 Tf", "14 TL", "72 740 Td"]
    for i, line in enumerate(spec.lines):
        size = "/F1 16 Tf" if i == 0 else "/F1 12 Tf"
        text_ops += [size, f"{pdf_string(line)} Tj", "T*"]
    text_ops.append("ET")
    content = add(stream("\n".join(text_ops).encode("latin-1")))
    annots = []
    for uri, rect in spec.links:
        action = f"<< /Type /Action /S /URI /URI {pdf_string(uri)} >>"
        annots.append(
            add(
                f"<< /Type /Annot /Subtype /Link /Rect [{' '.join(map(str, rect))}] "
                f"/Border [0 0 0] /A {action} >>"
            )
        )
    annot_ref = f" /Annots [{' '.join(f'{n} 0 R' for n in annots)}]" if annots else ""
    page = add(
        f"<< /Type /Page /Parent {pages} 0 R /MediaBox [0 0 612 792] /Contents {content} 0 R "
        f"/Resources << /Font << /F1 {font} 0 R >> >>{annot_ref} >>"
    )
    open_action = ""
    if spec.javascript is not None:
        if spec.compress_js:
            js_stream = add(stream(spec.javascript.encode("latin-1")))
            js = add(f"<< /Type /Action /S /JavaScript /JS {js_stream} 0 R >>")
        else:
            js = add(f"<< /Type /Action /S /JavaScript /JS {pdf_string(spec.javascript)} >>")
        open_action = f" /OpenAction {js} 0 R"
    info = add(
        f"<< /Title {pdf_string(spec.title)} /Author {pdf_string(spec.author)} "
        "/Producer (Microsoft Word 2016) /CreationDate (D:20200121081200+08'00') >>"
    )
    objects[catalog - 1] = f"<< /Type /Catalog /Pages {pages} 0 R{open_action} >>".encode("latin-1")
    objects[pages - 1] = f"<< /Type /Pages /Kids [{page} 0 R] /Count 1 >>".encode("latin-1")

    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode("latin-1") + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f\r\n".encode("latin-1")
    for offset in offsets:
        out += f"{offset:010d} 00000 n\r\n".encode("latin-1")
    out += (
        f"trailer\n<< /Size {len(objects) + 1} /Root {catalog} 0 R /Info {info} 0 R >>\n"
        f"startxref\n{xref}\n%%EOF\n"
    ).encode("latin-1")
    return bytes(out)
