"""Chain-level findings: what the delivery chain as a whole shows beyond any single artifact.

Run once per item after every artifact was analysed: an e-mail whose attachment carries active content
is a spear-phishing attachment (T1566.001); a document or shortcut that only acts when opened is user
execution of a malicious file (T1204.002).
"""

from __future__ import annotations

from collections.abc import Iterator

from aptcatch.capture import catalog
from aptcatch.capture.context import ArtifactContext, ItemState, Node
from aptcatch.capture.types import FileType

MAIL = frozenset({FileType.EML, FileType.MSG})
USER_OPENED = frozenset(
    {
        FileType.OLE_DOC,
        FileType.OLE_XLS,
        FileType.OLE_PPT,
        FileType.OLE_ENCRYPTED,
        FileType.OOXML_WORD,
        FileType.OOXML_EXCEL,
        FileType.OOXML_POWERPOINT,
        FileType.ODF,
        FileType.RTF,
        FileType.PDF,
        FileType.ONENOTE,
        FileType.CHM,
        FileType.LNK,
        FileType.HTA,
        FileType.JS,
        FileType.VBS,
        FileType.WSF,
        FileType.POWERSHELL,
        FileType.BATCH,
        FileType.HTML,
        FileType.IQY,
        FileType.SLK,
        FileType.WORD_XML,
        FileType.EXCEL_XML,
        FileType.URL_SHORTCUT,
        FileType.PE,
        FileType.MSI,
        FileType.ISO,
    }
)
ACTIVE_MIN_WEIGHT = 0.3


def _walk(node: Node) -> Iterator[Node]:
    yield node
    for c in node.children:
        yield from _walk(c)


def _subtree_weight(node: Node, by_artifact: dict[str, float]) -> float:
    return max((by_artifact.get(n.id, 0.0) for n in _walk(node)), default=0.0)


def annotate(root: Node, state: ItemState) -> None:
    by_artifact: dict[str, float] = {}
    for f in state.findings:
        w = catalog.finding(f.id).weight
        by_artifact[f.artifact] = max(by_artifact.get(f.artifact, 0.0), w)

    for node in _walk(root):
        if node.type in MAIL:
            for att in node.children:
                if _subtree_weight(att, by_artifact) >= ACTIVE_MIN_WEIGHT:
                    ArtifactContext(att, state, "chain").finding(
                        "chain.spearphishing_attachment", f"attachment {att.name!r} carries active content"
                    )

    def mark(node: Node) -> None:
        if node.type in USER_OPENED and _subtree_weight(node, by_artifact) >= ACTIVE_MIN_WEIGHT:
            ArtifactContext(node, state, "chain").finding(
                "chain.user_execution", f"{node.type.value} {node.name!r} acts when the victim opens it"
            )
            return  # the outermost user-opened artifact is the one the victim runs
        for c in node.children:
            mark(c)

    mark(root)
