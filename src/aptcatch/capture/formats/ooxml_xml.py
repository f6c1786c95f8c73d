"""Safe XML and package-member helpers shared by the OOXML, ODF and Office-XML analysers.

XML comes from the standard library's ``xml.etree.ElementTree`` (expat), which never fetches external
entities. Entity expansion is refused outright: Office and ODF never write DTDs into their parts, so
any part holding ``<!DOCTYPE`` or ``<!ENTITY`` is reported and skipped instead of parsed — a smaller
guard than adding defusedxml as a dependency.
"""

from __future__ import annotations

import io
import re
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from xml.etree import ElementTree as ET

from aptcatch.capture.context import ArtifactContext
from aptcatch.capture.limits import LimitExceeded
from aptcatch.model.scan import JSONScalar

MAX_MEMBERS = 20_000
"""Most zip members looked at in one package."""
MAX_XML_PART = 48 * 1024 * 1024
"""Largest XML part parsed as a tree (larger ones are only scanned as bytes or skipped)."""

_DTD = re.compile(rb"<!(?:DOCTYPE|ENTITY)", re.I)


class UnsafeXML(ValueError):
    """The part declares a DTD or entities and is not parsed."""


def local(tag: str) -> str:
    """Tag or attribute name without its ``{namespace}``."""
    return tag.rsplit("}", 1)[-1]


def parse_xml(data: bytes) -> ET.Element:
    """Parse XML after refusing DTDs/entities; raises UnsafeXML or ET.ParseError."""
    if _DTD.search(data[:65536]) or (len(data) > 65536 and _DTD.search(data)):
        raise UnsafeXML("part declares a DTD or entities")
    return ET.fromstring(data)


def attr(el: ET.Element, name: str) -> str | None:
    """Attribute by local name, whatever its namespace."""
    for k, v in el.attrib.items():
        if local(k) == name:
            return v
    return None


def iter_local(root: ET.Element, name: str) -> Iterator[ET.Element]:
    for el in root.iter():
        if local(el.tag) == name:
            yield el


class Package:
    """A zip-based package read in memory, member by member, within the scan limits."""

    def __init__(self, ctx: ArtifactContext, data: bytes) -> None:
        self.ctx = ctx
        self.zf = zipfile.ZipFile(io.BytesIO(data))
        infos = self.zf.infolist()
        if len(infos) > MAX_MEMBERS:
            ctx.error("limit", f"package has {len(infos)} members; only the first {MAX_MEMBERS} are read")
            infos = infos[:MAX_MEMBERS]
        self.infos = [i for i in infos if not i.is_dir()]
        self.by_lower: dict[str, zipfile.ZipInfo] = {}
        for i in self.infos:
            self.by_lower.setdefault(i.filename.lower().lstrip("/"), i)
        self._cache: dict[str, bytes | None] = {}
        self._reported: set[str] = set()

    @property
    def names(self) -> list[str]:
        return [i.filename for i in self.infos]

    def has(self, name: str) -> bool:
        return name.lower().lstrip("/") in self.by_lower

    def info(self, name: str) -> zipfile.ZipInfo | None:
        return self.by_lower.get(name.lower().lstrip("/"))

    def read(self, name: str, max_size: int | None = None) -> bytes | None:
        """Member bytes (case-insensitive name) or None, recording why it could not be read."""
        key = name.lower().lstrip("/")
        if key in self._cache:
            return self._cache[key]
        info = self.by_lower.get(key)
        out: bytes | None = None
        if info is not None:
            out = self._read_info(info, max_size)
        self._cache[key] = out
        return out

    def _read_info(self, info: zipfile.ZipInfo, max_size: int | None) -> bytes | None:
        ctx = self.ctx
        if info.flag_bits & 0x1:
            self._once(info.filename, "encrypted", f"member {info.filename!r} is encrypted; not read")
            return None
        if max_size is not None and info.file_size > max_size:
            self._once(
                info.filename,
                "limit",
                f"member {info.filename!r} is {info.file_size} bytes, over {max_size}; not parsed",
            )
            return None
        try:
            ctx.check_ratio(info.filename, info.compress_size, info.file_size)
            with self.zf.open(info) as fh:
                return ctx.read_member(fh)
        except LimitExceeded as exc:
            self._once(info.filename, "limit", str(exc))
        except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError, OSError) as exc:
            self._once(info.filename, "parse", f"member {info.filename!r}: {type(exc).__name__}: {exc}")
        return None

    def _once(self, name: str, kind: str, message: str) -> None:
        if name not in self._reported:
            self._reported.add(name)
            self.ctx.error(kind, message[:500])

    def xml(self, name: str) -> ET.Element | None:
        """Parse a member as XML; None (with an error recorded) when absent, unsafe or malformed."""
        data = self.read(name, MAX_XML_PART)
        if data is None:
            return None
        return xml_or_error(self.ctx, name, data)


def xml_or_error(ctx: ArtifactContext, name: str, data: bytes) -> ET.Element | None:
    try:
        return parse_xml(data)
    except UnsafeXML:
        ctx.finding("ooxml.doctype", f"{name} declares a DTD/entities")
        ctx.error("parse", f"{name}: DTD/entity declarations; part not parsed")
    except ET.ParseError as exc:
        ctx.error("parse", f"{name}: malformed XML: {exc}"[:500])
    return None


def element_text(el: ET.Element) -> str:
    return "".join(el.itertext())


def meta_list(values: Iterable[str], limit: int = 50) -> list[JSONScalar]:
    """At most ``limit`` strings, typed for ``ctx.meta``."""
    out: list[JSONScalar] = []
    for v in values:
        if len(out) >= limit:
            break
        out.append(v)
    return out
