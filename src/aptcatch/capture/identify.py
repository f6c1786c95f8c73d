"""Type identification from content, never from the file name.

Written by hand on top of olefile and zipfile because libmagic stops at "Composite Document File" or
"Zip archive": triage needs the Office flavour inside (Word/Excel/PowerPoint, an encrypted OOXML
package, a bare Equation Editor object, an Outlook message, an OPC package vs. ODF vs. a plain zip),
which only opening the container tells. The file name is used only to break ties between script
languages whose text looks alike (a ``.js`` and a ``.vbs`` body can be a single line).
"""

from __future__ import annotations

import io
import re
import zipfile

import olefile

from aptcatch.capture.types import FileType

OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
LNK_MAGIC = b"\x4c\x00\x00\x00\x01\x14\x02\x00\x00\x00\x00\x00\xc0\x00\x00\x00\x00\x00\x00\x46"
ONENOTE_MAGIC = bytes.fromhex("e4525c7b8cd8a74daeb15378d02996d3")

CLSID_EQUATION = "0002CE02-0000-0000-C000-000000000046"
CLSID_MSI = {"000C1084-0000-0000-C000-000000000046", "000C1086-0000-0000-C000-000000000046"}
CLSID_PACKAGE = "0003000C-0000-0000-C000-000000000046"

_EMAIL_HEADERS = re.compile(
    rb"(?im)^(received|from|to|subject|message-id|return-path|date|mime-version|x-[\w-]+|"
    rb"delivered-to|reply-to|content-type|dkim-signature|authentication-results|thread-topic):[ \t]"
)
_HTML = re.compile(rb"(?i)<\s*(!doctype\s+html|html|head|body|script|iframe|meta|div|form|a\s+href)\b")
_HTA = re.compile(rb"(?i)<\s*hta:application\b")
_SCT = re.compile(rb"(?i)<\s*(scriptlet|component|registration)\b")
_WSF = re.compile(rb"(?i)<\s*(job|package)\b[^>]*>.*<\s*script\b", re.S)
_VBS_HINTS = re.compile(
    rb"(?im)^\s*(dim|set|sub|function|end\s+sub|on\s+error|option\s+explicit|private\s+sub|"
    rb"public\s+sub)\b|CreateObject\s*\(|WScript\.|\bExecute(Global)?\b"
)
_JS_HINTS = re.compile(
    rb"(?m)\bvar\s+\w+\s*=|\bfunction\s*\w*\s*\(|new\s+ActiveXObject|\bWScript\.|eval\s*\(|"
    rb"\blet\s+\w+\s*=|\bconst\s+\w+\s*="
)
_PS_HINTS = re.compile(
    rb"(?i)\$\w+\s*=|Invoke-(Expression|WebRequest|RestMethod)|New-Object\s|IEX\b|"
    rb"\[System\.|-EncodedCommand|Start-Process|DownloadString|\[Convert\]::"
)
_BAT_HINTS = re.compile(
    rb"(?im)^\s*(@echo\s+off|echo\s|set\s+\w+=|if\s+exist|goto\s|call\s|rem\s|:\w+\s*$|::)"
)


def identify(data: bytes, name: str = "") -> FileType:
    """Best content-based type for ``data``; ``name`` only breaks ties among scripts."""
    if not data:
        return FileType.EMPTY
    head = data[:8]
    if head == OLE_MAGIC:
        return _identify_ole(data)
    if head[:4] in (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08"):
        return _identify_zip(data)
    if data.startswith(b"{\\rt"):
        return FileType.RTF
    if data[:20] == LNK_MAGIC:
        return FileType.LNK
    if data[:16] == ONENOTE_MAGIC or data[:15] == ONENOTE_MAGIC[1:]:  # 2nd: first byte lost in transit
        return FileType.ONENOTE
    if data.startswith(b"ITSF"):
        return FileType.CHM
    if data.startswith(b"Rar!\x1a\x07"):
        return FileType.RAR
    if data.startswith(b"7z\xbc\xaf\x27\x1c"):
        return FileType.SEVENZIP
    if data.startswith(b"\x1f\x8b"):
        return FileType.GZIP
    if data.startswith(b"BZh") and data[3:4].isdigit():
        return FileType.BZIP2
    if data.startswith(b"\xfd7zXZ\x00"):
        return FileType.XZ
    if data.startswith(b"MSCF"):
        return FileType.CAB
    if data.startswith(b"MZ"):
        return _identify_mz(data)
    if data.startswith(b"\x7fELF"):
        return FileType.ELF
    if len(data) > 262 and data[257:262] == b"ustar":
        return FileType.TAR
    for off in (0x8001, 0x8801, 0x9001):
        if data[off : off + 5] == b"CD001":
            return FileType.ISO
    if b"%PDF-" in data[:1024]:
        return FileType.PDF
    if data.startswith((b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"BM", b"\x01\x00\x00\x00")) and not _is_text(
        data
    ):
        return FileType.IMAGE
    return _identify_text(data, name)


def _identify_mz(data: bytes) -> FileType:
    if len(data) >= 0x40:
        off = int.from_bytes(data[0x3C:0x40], "little")
        if 0 < off < len(data) - 4 and data[off : off + 4] == b"PE\x00\x00":
            return FileType.PE
    return FileType.UNKNOWN


def _identify_ole(data: bytes) -> FileType:
    try:
        ole = olefile.OleFileIO(io.BytesIO(data))
    except Exception:
        return FileType.OLE_OTHER
    try:
        streams = {"/".join(p).lower() for p in ole.listdir(streams=True, storages=True)}
        clsid = (ole.root.clsid or "").upper() if ole.root is not None else ""
    except Exception:
        return FileType.OLE_OTHER
    finally:
        ole.close()
    if "encryptedpackage" in streams and "encryptioninfo" in streams:
        return FileType.OLE_ENCRYPTED
    if "worddocument" in streams:
        return FileType.OLE_DOC
    if "workbook" in streams or "book" in streams:
        return FileType.OLE_XLS
    if "powerpoint document" in streams:
        return FileType.OLE_PPT
    if any(s.startswith("__substg1.0_") for s in streams):
        return FileType.MSG
    if clsid == CLSID_EQUATION or "equation native" in streams:
        return FileType.OLE_EQUATION
    if clsid in CLSID_MSI:
        return FileType.MSI
    if "vba/dir" in streams or ("project" in streams and any(s.startswith("vba/") for s in streams)):
        return FileType.OLE_VBA_PROJECT
    if "\x01ole10native" in streams or clsid == CLSID_PACKAGE:
        return FileType.OLE_PACKAGE
    return FileType.OLE_OTHER


def _identify_zip(data: bytes) -> FileType:
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        names = zf.namelist()
    except Exception:
        return FileType.ZIP
    lower = {n.lower() for n in names}
    if "mimetype" in lower:
        try:
            mt = zf.read(next(n for n in names if n.lower() == "mimetype"))[:100]
        except Exception:
            mt = b""
        if mt.startswith(b"application/vnd.oasis.opendocument"):
            return FileType.ODF
    if "[content_types].xml" in lower:
        if any(n.startswith("word/") for n in lower):
            return FileType.OOXML_WORD
        if any(n.startswith("xl/") for n in lower):
            return FileType.OOXML_EXCEL
        if any(n.startswith("ppt/") for n in lower):
            return FileType.OOXML_POWERPOINT
        if any(n.startswith(("documents/", "fixeddocumentsequence")) for n in lower) or any(
            n.endswith(".fdseq") for n in lower
        ):
            return FileType.XPS
        return FileType.OOXML_OTHER
    return FileType.ZIP


def _is_text(data: bytes) -> bool:
    sample = data[:4096]
    if sample.startswith((b"\xff\xfe", b"\xfe\xff")):
        return True
    if b"\x00" in sample:
        return False
    try:
        sample.decode("utf-8")
        return True
    except UnicodeDecodeError as exc:
        if exc.start > len(sample) - 4:  # cut in the middle of a multibyte character
            return True
    printable = sum(1 for b in sample if 32 <= b < 127 or b in (9, 10, 13))
    return printable / max(len(sample), 1) > 0.85


def _text_head(data: bytes) -> bytes:
    head = data[:65536]
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return head.decode("utf-16").encode("utf-8", "replace")
        except UnicodeDecodeError:
            return head
    return head.lstrip(b"\xef\xbb\xbf")


def _identify_text(data: bytes, name: str) -> FileType:
    if not _is_text(data):
        return FileType.UNKNOWN
    head = _text_head(data)
    stripped = head.lstrip()
    lname = name.lower()
    first = stripped[:4096]
    if first.startswith(b"ID;P") or first.startswith(b"ID;"):
        return FileType.SLK
    if first.startswith(b"[InternetShortcut]") or b"\n[InternetShortcut]" in first:
        return FileType.URL_SHORTCUT
    if re.match(rb"(?i)WEB\r?\n\d\r?\n", first):
        return FileType.IQY
    if _looks_like_email(head):
        return FileType.EML
    if re.search(rb"(?i)MIME-Version:.*multipart/related", first, re.S) and b"Content-Location" in head:
        return FileType.MHT
    if first.startswith(b"<?xml") or first.startswith(b"<"):
        low = first.lower()
        if b'progid="word.document"' in low or b"<w:worddocument" in low or b"<pkg:package" in low:
            return FileType.WORD_XML
        if b'progid="excel.sheet"' in low or b"urn:schemas-microsoft-com:office:spreadsheet" in low:
            return FileType.EXCEL_XML
    if _HTA.search(head):
        return FileType.HTA
    if _SCT.search(first) and re.search(rb"(?i)<\s*script\b", head):
        return FileType.SCT
    if _WSF.search(head):
        return FileType.WSF
    if _HTML.search(first):
        return FileType.HTML
    if first.startswith(b"<?xml"):
        return FileType.XML
    return _identify_script(head, lname)


_EXT_SCRIPT = {
    ".js": FileType.JS,
    ".jse": FileType.JS,
    ".vbs": FileType.VBS,
    ".vbe": FileType.VBS,
    ".ps1": FileType.POWERSHELL,
    ".psm1": FileType.POWERSHELL,
    ".bat": FileType.BATCH,
    ".cmd": FileType.BATCH,
    ".hta": FileType.HTA,
    ".csv": FileType.CSV,
}


def _identify_script(head: bytes, lname: str) -> FileType:
    scores = {
        FileType.VBS: len(_VBS_HINTS.findall(head)),
        FileType.JS: len(_JS_HINTS.findall(head)),
        FileType.POWERSHELL: len(_PS_HINTS.findall(head)),
        FileType.BATCH: len(_BAT_HINTS.findall(head)),
    }
    ext = "." + lname.rsplit(".", 1)[-1] if "." in lname else ""
    if b"#@~^" in head[:4096]:  # Microsoft Script Encoder output (.vbe / .jse)
        return FileType.JS if ext in (".jse", ".js") else FileType.VBS
    hinted = _EXT_SCRIPT.get(ext)
    if hinted in scores and scores[hinted] > 0:
        return hinted
    best, score = max(scores.items(), key=lambda kv: kv[1])
    if score >= 2:
        return best
    if hinted is FileType.CSV or _looks_like_csv(head):
        return FileType.CSV
    return FileType.TEXT


def _looks_like_email(head: bytes) -> bool:
    block = head.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0][:16384]
    found = {m.group(1).lower() for m in _EMAIL_HEADERS.finditer(block)}
    if not found:
        return False
    strong = found & {b"received", b"message-id", b"return-path", b"mime-version", b"subject"}
    return len(found) >= 3 and bool(strong) and (b"from" in found or b"received" in found)


def _looks_like_csv(head: bytes) -> bool:
    lines = [ln for ln in head.splitlines()[:20] if ln.strip()]
    if len(lines) < 1:
        return False
    counts = [ln.count(b",") + ln.count(b";") for ln in lines]
    return min(counts) >= 1 and (len(set(counts)) <= 2 or lines[0].startswith(b"="))
