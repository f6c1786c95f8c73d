"""Lure facts: language, themes and likely targeted sectors of the visible text of an item."""

from __future__ import annotations

from aptcatch.capture.context import ItemState
from aptcatch.model.scan import Lure


def empty() -> Lure:
    return Lure(language=None)


def analyze(state: ItemState) -> Lure:
    text = "\n".join(t.text for t in state.texts)
    return Lure(
        language=None,
        subject=state.email_subject,
        sender=state.email_sender,
        recipients=tuple(state.email_recipients),
        text_chars=len(text),
        excerpt=text[:300],
    )
