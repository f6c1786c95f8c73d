"""Lure facts: language, themes and likely targeted sectors of the visible text of an item.

Inputs are what analysers recorded in the item state: lure texts (``ctx.text``; kinds "email_subject",
"email_body", "document", and "metadata" for document properties such as company names) and the e-mail
headers. The work is split over siblings: ``lure_lang`` (language), ``lure_themes`` (lexicon themes),
``lure_sectors`` (sectors). Everything is bounded: language on at most ``lure_lang.SAMPLE_CHARS``,
themes on at most ``lure_themes.THEME_CHARS`` characters, whatever the item holds.
"""

from __future__ import annotations

from aptcatch.capture import lure_lang, lure_sectors, lure_themes
from aptcatch.capture.context import ItemState, LureText
from aptcatch.model.scan import Lure

EXCERPT_CHARS = 300
SUBJECT_KIND = "email_subject"
BODY_KIND = "email_body"
METADATA_KIND = "metadata"


def empty() -> Lure:
    return Lure(language=None)


def _collapse(text: str) -> str:
    return " ".join(text.split())


def _subjects(state: ItemState) -> list[str]:
    out: list[str] = []
    seen: set[str] = set()
    candidates = [state.email_subject or ""] + [t.text for t in state.texts if t.kind == SUBJECT_KIND]
    for text in candidates:
        key = _collapse(text)
        if key and key not in seen:
            seen.add(key)
            out.append(text)
    return out


def _excerpt(subjects: list[str], bodies: list[LureText]) -> str:
    """Subject, then the start of the most telling text: the e-mail body, else the largest document."""
    lead: LureText | None = next((t for t in bodies if t.kind == BODY_KIND and t.text.strip()), None)
    if lead is None and bodies:
        lead = max(bodies, key=lambda t: len(t.text))
    parts = [_collapse(s) for s in subjects[:1]]
    if lead is not None:
        parts.append(_collapse(lead.text[: EXCERPT_CHARS * 4]))
    text = " | ".join(p for p in parts if p)
    return text if len(text) <= EXCERPT_CHARS else text[: EXCERPT_CHARS - 1].rstrip() + "…"


def analyze(state: ItemState) -> Lure:
    subjects = _subjects(state)
    bodies = [t for t in state.texts if t.kind not in (SUBJECT_KIND, METADATA_KIND) and t.text.strip()]
    # e-mail bodies first: in a message with attachments they are what the victim reads first
    bodies.sort(key=lambda t: t.kind != BODY_KIND)
    metadata = [t.text for t in state.texts if t.kind == METADATA_KIND]
    body_texts = [t.text for t in bodies]

    language, languages = lure_lang.detect(subjects + body_texts)
    themes = lure_themes.score(subjects, body_texts + metadata)
    theme_sectors = {tid: spec.sectors for tid, spec in lure_themes.lexicon().themes.items()}
    sectors, reasons = lure_sectors.infer(
        themes, theme_sectors, state.email_recipients, state.email_sender, metadata
    )
    text_chars = sum(len(t.text) for t in state.texts)
    if state.email_subject and not any(t.kind == SUBJECT_KIND for t in state.texts):
        text_chars += len(state.email_subject)
    return Lure(
        language=language,
        languages=languages,
        themes=themes,
        sectors=sectors,
        sector_reasons=reasons,
        subject=state.email_subject,
        sender=state.email_sender,
        recipients=tuple(state.email_recipients),
        text_chars=text_chars,
        excerpt=_excerpt(subjects, bodies),
    )
