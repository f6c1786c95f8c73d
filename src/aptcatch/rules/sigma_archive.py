"""Reading a Sigma rule set from a URL, a local archive or a folder, inside limits, without extracting.

``aptcatch rules update --from URL|FILE`` takes a SigmaHQ release asset (``sigma_all_rules.zip``,
``sigma_core.zip``…), a ``.tar.gz``/``.tar`` of rules, or a plain folder. Downloads use ``urllib``
(http and https only, redirects too, a socket timeout plus an overall deadline, a size cap) and are
kept in memory. Archives are read with ``zipfile``/``tarfile`` member by member into memory: a member
name is only ever a label in the manifest and never becomes a path on disk (no ``extract``), so
``../../evil.yml`` or an absolute name cannot write anywhere. Only regular ``*.yml``/``*.yaml`` members
are read, each under a size cap, with caps on their number and total size (zip bombs, lying headers).

The stdlib readers are used instead of a library such as libarchive because they expose each member's
declared size and let us read it with a hard byte limit, which is all this needs.
"""

from __future__ import annotations

import http.client
import io
import os
import tarfile
import time
import urllib.error
import urllib.request
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO, Literal
from urllib.parse import urlsplit

__all__ = ["ArchiveLimits", "Member", "RulesError", "Source", "load_source", "read_members"]

RULE_SUFFIXES = (".yml", ".yaml")
SKIPPED_FOLDERS = frozenset({"deprecated", "unsupported"})  # SigmaHQ's retired rules


class RulesError(Exception):
    """A rule set could not be fetched or read; nothing of it was installed."""


@dataclass(frozen=True)
class ArchiveLimits:
    """Caps for one update; the defaults hold SigmaHQ's largest release asset many times over."""

    max_archive_bytes: int = 64 * 1024 * 1024
    max_member_bytes: int = 1024 * 1024
    max_rule_files: int = 20_000
    max_total_bytes: int = 256 * 1024 * 1024
    max_entries: int = 200_000
    timeout: float = 60.0  # seconds, each socket operation
    deadline: float = 600.0  # seconds, the whole download


@dataclass(frozen=True)
class Source:
    """What ``--from`` named: raw archive bytes (URL or file) or a folder."""

    text: str
    kind: Literal["url", "file", "folder"]
    data: bytes | None = None
    folder: Path | None = None


@dataclass
class Member:
    """One candidate rule file read into memory, or the reason it was not read."""

    name: str
    data: bytes | None = None
    skipped: str | None = None


@dataclass
class MemberScan:
    """The candidates of a source plus how many other entries it held."""

    members: list[Member] = field(default_factory=list)
    ignored_entries: int = 0


class _SameSchemeRedirects(urllib.request.HTTPRedirectHandler):
    """Follow redirects (release assets live behind one) but only to http or https."""

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: IO[bytes],
        code: int,
        msg: str,
        headers: http.client.HTTPMessage,
        newurl: str,
    ) -> urllib.request.Request | None:
        if urlsplit(newurl).scheme not in ("http", "https"):
            raise urllib.error.HTTPError(
                newurl, code, f"redirect to a non-http(s) URL: {newurl}", headers, fp
            )
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def fetch_url(url: str, limits: ArchiveLimits, user_agent: str = "aptcatch-rules-update") -> bytes:
    """Download ``url`` into memory within the limits; every failure names the URL."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise RulesError(f"{url}: only http and https URLs (or a local file or folder) are accepted")
    opener = urllib.request.build_opener(_SameSchemeRedirects)
    request = urllib.request.Request(url, headers={"User-Agent": user_agent})
    started = time.monotonic()
    try:
        with opener.open(request, timeout=limits.timeout) as resp:
            length = resp.headers.get("Content-Length", "")
            if length.isdigit() and int(length) > limits.max_archive_bytes:
                raise RulesError(
                    f"{url}: {length} bytes announced, over the {limits.max_archive_bytes} limit"
                )
            buf = bytearray()
            while chunk := resp.read(1 << 16):
                buf += chunk
                if len(buf) > limits.max_archive_bytes:
                    raise RulesError(f"{url}: larger than the {limits.max_archive_bytes} byte limit")
                if time.monotonic() - started > limits.deadline:
                    raise RulesError(f"{url}: download took longer than {limits.deadline:g} s")
            return bytes(buf)
    except urllib.error.HTTPError as exc:
        raise RulesError(f"{url}: download failed: HTTP {exc.code} {exc.reason}") from exc
    except urllib.error.URLError as exc:
        raise RulesError(f"{url}: download failed: {exc.reason}") from exc
    except (OSError, http.client.HTTPException) as exc:
        raise RulesError(f"{url}: download failed: {exc}") from exc


def load_source(text: str, limits: ArchiveLimits) -> Source:
    """Resolve ``--from``: an http(s) URL, a ``file:`` URL, an archive file or a folder."""
    parts = urlsplit(text)
    if "://" in text and parts.scheme != "file":
        return Source(text, "url", data=fetch_url(text, limits))
    path = Path(parts.path) if parts.scheme == "file" else Path(text)
    if path.is_dir():
        return Source(text, "folder", folder=path)
    if not path.is_file():
        raise RulesError(f"{text}: no such file or folder")
    size = path.stat().st_size
    if size > limits.max_archive_bytes:
        raise RulesError(f"{text}: {size} bytes, over the {limits.max_archive_bytes} byte limit")
    try:
        return Source(text, "file", data=path.read_bytes())
    except OSError as exc:
        raise RulesError(f"{text}: cannot read: {exc}") from exc


def _candidate(name: str) -> str | None:
    """Why a member name is not a rule candidate, '' when it is one, None when it is not a rule file."""
    parts = [p for p in PurePosixPath(name.replace("\\", "/")).parts if p not in ("/", "")]
    if not parts or not parts[-1].lower().endswith(RULE_SUFFIXES):
        return None
    if SKIPPED_FOLDERS & {p.lower() for p in parts[:-1]}:
        return "in a deprecated/unsupported folder"
    return ""


class _Budget:
    """Counts rule files and bytes read so far against the limits."""

    def __init__(self, source: str, limits: ArchiveLimits) -> None:
        self.source, self.limits, self.files, self.bytes, self.entries = source, limits, 0, 0, 0

    def entry(self) -> None:
        self.entries += 1
        if self.entries > self.limits.max_entries:
            raise RulesError(f"{self.source}: more than {self.limits.max_entries} archive entries")

    def rule_file(self, size: int) -> None:
        self.files += 1
        self.bytes += size
        if self.files > self.limits.max_rule_files:
            raise RulesError(f"{self.source}: more than {self.limits.max_rule_files} rule files")
        if self.bytes > self.limits.max_total_bytes:
            raise RulesError(f"{self.source}: rule files exceed {self.limits.max_total_bytes} bytes in all")


def _read_capped(fh: IO[bytes], cap: int) -> bytes | None:
    data = fh.read(cap + 1)
    return None if len(data) > cap else data


def _zip_members(source: Source, data: bytes, budget: _Budget, scan: MemberScan) -> None:
    cap = budget.limits.max_member_bytes
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        infos = zf.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError) as exc:
        raise RulesError(f"{source.text}: not a readable zip archive: {exc}") from exc
    with zf:
        for info in infos:
            budget.entry()
            why = None if info.is_dir() else _candidate(info.filename)
            if why is None:
                scan.ignored_entries += 1
                continue
            if why or info.file_size > cap:
                scan.members.append(Member(info.filename, skipped=why or f"larger than {cap} bytes"))
                continue
            try:
                with zf.open(info) as fh:
                    content = _read_capped(fh, cap)
            except RuntimeError as exc:  # encrypted member
                scan.members.append(Member(info.filename, skipped=f"unreadable: {exc}"))
                continue
            except (zipfile.BadZipFile, zlib.error, OSError, EOFError, NotImplementedError) as exc:
                raise RulesError(f"{source.text}: corrupt archive member {info.filename!r}: {exc}") from exc
            if content is None:
                scan.members.append(Member(info.filename, skipped=f"larger than {cap} bytes"))
                continue
            budget.rule_file(len(content))
            scan.members.append(Member(info.filename, data=content))


def _tar_members(source: Source, data: bytes, budget: _Budget, scan: MemberScan) -> None:
    cap = budget.limits.max_member_bytes
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as tf:
            while (info := tf.next()) is not None:
                budget.entry()
                why = _candidate(info.name) if info.isfile() else None
                if why is None:
                    scan.ignored_entries += 1
                    continue
                if why or info.size > cap:
                    scan.members.append(Member(info.name, skipped=why or f"larger than {cap} bytes"))
                    continue
                fh = tf.extractfile(info)  # a file object in memory, never a path
                content = _read_capped(fh, cap) if fh is not None else None
                if content is None:
                    scan.members.append(Member(info.name, skipped="unreadable or over the size limit"))
                    continue
                budget.rule_file(len(content))
                scan.members.append(Member(info.name, data=content))
    except (tarfile.TarError, zlib.error, EOFError, OSError, ValueError) as exc:
        raise RulesError(f"{source.text}: not a readable zip or tar archive: {exc}") from exc


def _folder_members(source: Source, root: Path, budget: _Budget, scan: MemberScan) -> None:
    cap = budget.limits.max_member_bytes
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames.sort()
        for fname in sorted(filenames):
            budget.entry()
            path = Path(dirpath) / fname
            name = path.relative_to(root).as_posix()
            why = _candidate(name) if path.is_file() and not path.is_symlink() else None
            if why is None:
                scan.ignored_entries += 1
                continue
            size = path.stat().st_size
            if why or size > cap:
                scan.members.append(Member(name, skipped=why or f"larger than {cap} bytes"))
                continue
            try:
                with path.open("rb") as fh:
                    content = _read_capped(fh, cap)
            except OSError as exc:
                raise RulesError(f"{source.text}: cannot read {name}: {exc}") from exc
            if content is None:
                scan.members.append(Member(name, skipped=f"larger than {cap} bytes"))
                continue
            budget.rule_file(len(content))
            scan.members.append(Member(name, data=content))


def read_members(source: Source, limits: ArchiveLimits) -> MemberScan:
    """Every rule-file candidate of ``source`` (zip, tar of any compression, or folder), in order."""
    budget, scan = _Budget(source.text, limits), MemberScan()
    if source.folder is not None:
        _folder_members(source, source.folder, budget, scan)
    elif source.data is not None and zipfile.is_zipfile(io.BytesIO(source.data)):
        _zip_members(source, source.data, budget, scan)
    elif source.data is not None:
        _tar_members(source, source.data, budget, scan)
    return scan
