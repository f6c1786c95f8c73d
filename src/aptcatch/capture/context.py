"""What an analyser sees and may do: the per-artifact context and the per-item state behind it.

Analysers never build result objects themselves. They call ``ArtifactContext`` methods to record
findings, indicators, children, text and metadata; the engine freezes all of it into the result model.
All state of one run lives here (``ItemState``), never on configuration objects.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import IO

from aptcatch.capture import catalog
from aptcatch.capture.indicators import extract_indicators
from aptcatch.capture.limits import LimitExceeded, Limits, read_limited
from aptcatch.capture.types import FileType
from aptcatch.model.scan import ArtifactError, IndicatorType, JSONScalar

DEFAULT_PASSWORDS: tuple[str, ...] = (
    "infected",
    "malware",
    "virus",
    "password",
    "123456",
    "1234",
    "12345",
    "123",
    "VelvetSweatshop",
    "P@ssw0rd",
    "2023",
    "2024",
)

MetaValue = JSONScalar | list[JSONScalar]

LURE_METADATA_KEYS = frozenset({"company", "manager", "category", "organization", "organisation"})


@dataclass
class RawFinding:
    id: str
    artifact: str
    detail: str
    source: str


@dataclass
class RawIndicator:
    type: IndicatorType
    value: str
    artifact: str
    context: str


@dataclass
class Node:
    """A mutable artifact under analysis; frozen into ``model.Artifact`` at the end."""

    id: str
    name: str
    data: bytes
    depth: int
    parent: Node | None
    type_hint: FileType | None = None
    type: FileType = FileType.UNKNOWN
    sha256: str = ""
    md5: str = ""
    metadata: dict[str, MetaValue] = field(default_factory=dict)
    children: list[Node] = field(default_factory=list)
    errors: list[ArtifactError] = field(default_factory=list)
    duplicate_of: str | None = None
    children_truncated: bool = False

    def __post_init__(self) -> None:
        self.sha256 = hashlib.sha256(self.data).hexdigest()
        self.md5 = hashlib.md5(self.data, usedforsecurity=False).hexdigest()

    @property
    def path(self) -> str:
        names: list[str] = []
        node: Node | None = self
        while node is not None:
            names.append(node.name)
            node = node.parent
        return " > ".join(reversed(names))


@dataclass
class LureText:
    kind: str
    text: str
    artifact: str


@dataclass
class ItemState:
    """Everything one submitted item accumulates while its tree is analysed."""

    limits: Limits
    passwords: list[str] = field(default_factory=list)
    findings: list[RawFinding] = field(default_factory=list)
    indicators: list[RawIndicator] = field(default_factory=list)
    texts: list[LureText] = field(default_factory=list)
    text_chars: int = 0
    email_subject: str | None = None
    email_sender: str | None = None
    email_recipients: list[str] = field(default_factory=list)
    artifact_count: int = 1
    extracted_bytes: int = 0
    seen: dict[str, str] = field(default_factory=dict)

    def add_passwords(self, candidates: Iterable[str]) -> None:
        for pw in candidates:
            pw = pw.strip()
            if pw and pw not in self.passwords and len(self.passwords) < 64:
                self.passwords.append(pw)


class ArtifactContext:
    """The API an analyser gets for one artifact."""

    def __init__(self, node: Node, state: ItemState, analyzer: str) -> None:
        self._node = node
        self._state = state
        self.analyzer = analyzer

    # -- what is being analysed ------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self._node.name

    @property
    def data(self) -> bytes:
        return self._node.data

    @property
    def type(self) -> FileType:
        return self._node.type

    @property
    def depth(self) -> int:
        return self._node.depth

    @property
    def artifact_id(self) -> str:
        return self._node.id

    @property
    def path(self) -> str:
        return self._node.path

    @property
    def limits(self) -> Limits:
        return self._state.limits

    @property
    def parent_type(self) -> FileType | None:
        return self._node.parent.type if self._node.parent is not None else None

    @property
    def metadata(self) -> dict[str, MetaValue]:
        return self._node.metadata

    # -- recording -------------------------------------------------------------------------------
    def finding(self, fid: str, detail: str = "", source: str | None = None) -> None:
        """Record a finding from the catalogue (an unknown id is a programming error)."""
        catalog.finding(fid)
        detail = detail if len(detail) <= 500 else detail[:497] + "..."
        for f in self._state.findings:  # same finding, same artifact, same detail: once
            if f.id == fid and f.artifact == self._node.id and f.detail == detail:
                return
        self._state.findings.append(RawFinding(fid, self._node.id, detail, source or self.analyzer))

    def has_finding(self, fid: str, anywhere: bool = False) -> bool:
        return any(f.id == fid and (anywhere or f.artifact == self._node.id) for f in self._state.findings)

    def indicator(self, type: IndicatorType, value: str, context: str = "") -> None:
        self._state.indicators.append(RawIndicator(type, value, self._node.id, context or self.analyzer))

    def indicators_from_text(self, text: str, context: str) -> None:
        """Extract URLs, domains, IPs, e-mails, hashes, paths, registry keys from free text."""
        for itype, value in extract_indicators(text):
            self.indicator(itype, value, context)

    def text(self, text: str, kind: str = "document") -> None:
        """Visible lure text (document body, e-mail subject/body) for language and theme analysis."""
        room = self.limits.max_text_chars - self._state.text_chars
        if room <= 0 or not text.strip():
            return
        text = text[:room]
        self._state.text_chars += len(text)
        self._state.texts.append(LureText(kind, text, self._node.id))

    def email_headers(self, subject: str | None, sender: str | None, recipients: Iterable[str]) -> None:
        if self._state.email_subject is None and subject:
            self._state.email_subject = subject
        if self._state.email_sender is None and sender:
            self._state.email_sender = sender
        for r in recipients:
            if r and r not in self._state.email_recipients:
                self._state.email_recipients.append(r)

    def meta(self, key: str, value: MetaValue) -> None:
        if isinstance(value, str) and len(value) > 1000:
            value = value[:997] + "..."
        self._node.metadata[key] = value
        if key in LURE_METADATA_KEYS and isinstance(value, str):
            self.text(value, "metadata")  # organisation names hint at the targeted sector

    def error(self, kind: str, message: str) -> None:
        self._node.errors.append(
            ArtifactError(analyzer=self.analyzer, kind=kind, message=message)  # type: ignore[arg-type]
        )

    # -- passwords ---------------------------------------------------------------------------------
    @property
    def passwords(self) -> list[str]:
        """Candidates for encrypted archives/documents: from the e-mail first, then the defaults."""
        out = list(self._state.passwords)
        out.extend(p for p in DEFAULT_PASSWORDS if p not in out)
        return out

    @property
    def given_passwords(self) -> list[str]:
        """Only the passwords given by the analyst (-p) or found in the e-mail, without the defaults."""
        return list(self._state.passwords)

    def add_passwords(self, candidates: Iterable[str]) -> None:
        self._state.add_passwords(candidates)

    # -- children --------------------------------------------------------------------------------
    def read_member(self, stream: IO[bytes]) -> bytes:
        """Read a decompressing stream within the child-size and item byte budgets."""
        budget = min(self.limits.max_child_size, self.limits.max_total_bytes - self._state.extracted_bytes)
        if budget <= 0:
            raise LimitExceeded(f"item extraction budget of {self.limits.max_total_bytes} bytes spent")
        return read_limited(stream, budget)

    def check_ratio(self, name: str, compressed: int, uncompressed: int) -> None:
        """Raise LimitExceeded for a member whose declared expansion ratio is bomb-like."""
        if (
            compressed > 0
            and uncompressed > 1024 * 1024
            and uncompressed / compressed > self.limits.max_ratio
        ):
            raise LimitExceeded(
                f"member {name!r}: compression ratio {uncompressed / compressed:.0f} exceeds "
                f"{self.limits.max_ratio:g}"
            )

    def child(
        self,
        name: str,
        data: bytes,
        type_hint: FileType | None = None,
        metadata: dict[str, MetaValue] | None = None,
    ) -> bool:
        """Queue extracted content for recursive analysis. Returns False (and records why) on a limit."""
        node, state, lim = self._node, self._state, self.limits
        if node.depth + 1 > lim.max_depth:
            self.error("limit", f"nesting deeper than {lim.max_depth}: {name!r} not analysed")
            return False
        if len(node.children) >= lim.max_children:
            if not node.children_truncated:
                node.children_truncated = True
                self.error("limit", f"more than {lim.max_children} children: the rest are not analysed")
            return False
        if state.artifact_count >= lim.max_artifacts:
            self.error("limit", f"item holds more than {lim.max_artifacts} artifacts: {name!r} skipped")
            return False
        if len(data) > lim.max_child_size:
            self.error("limit", f"{name!r} is {len(data)} bytes, over the {lim.max_child_size} child limit")
            return False
        if state.extracted_bytes + len(data) > lim.max_total_bytes:
            self.error("limit", f"item extraction budget of {lim.max_total_bytes} bytes spent at {name!r}")
            return False
        state.artifact_count += 1
        state.extracted_bytes += len(data)
        idx = len(node.children)
        child = Node(f"{node.id}.{idx}", name or f"#{idx}", data, node.depth + 1, node, type_hint)
        if metadata:
            child.metadata.update(metadata)
        node.children.append(child)
        return True
