"""Language of lure text: a script census plus ``py3langid`` per script.

Statistical language identification is weak on the short, mixed texts lures are made of (a bilingual
subject line, a Chinese body with English file names), and it cannot split a mixed text into shares. So
the text is first cut into runs of one writing system. Scripts that name their language outright are
attributed directly: Han ideographs are Chinese unless the same text has kana (Japanese) or more Hangul
than Han (Korean hanja); Hangul is Korean, kana Japanese, Thai, Greek, Hebrew, Tibetan … their language.
Scripts shared by many languages (Latin, Cyrillic, Arabic, Devanagari, Bengali) go to ``py3langid``,
restricted to the languages written in that script, once per text piece (or once for the pooled small
pieces). Shares are by content-weighted characters: a Han character carries about a word, so it counts
for three Latin letters, a Hangul syllable or kana for two (otherwise an English half-line would outweigh
a Chinese sentence of the same meaning).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

SAMPLE_CHARS = 20_000  # language is decided on at most this many characters of text
_LANGID_CHARS = 2_000  # longest piece handed to py3langid in one call
_MAX_CALLS = 12  # py3langid calls per item; further pieces are pooled
_MIN_PIECE_LETTERS = 12  # a shared-script piece shorter than this is pooled, not classified alone
_MIN_SHARE = 0.02  # languages below this share are not reported

# (first, last) code point ranges of each script; ranges must not overlap
_RANGES: dict[str, tuple[tuple[int, int], ...]] = {
    "latin": (
        (0x41, 0x5A), (0x61, 0x7A), (0xC0, 0xD6), (0xD8, 0xF6), (0xF8, 0x24F), (0x300, 0x36F),
        (0x1E00, 0x1EFF),
    ),
    "greek": ((0x370, 0x3FF), (0x1F00, 0x1FFF)),
    "cyrillic": ((0x400, 0x52F),),
    "armenian": ((0x530, 0x58F),),
    "hebrew": ((0x590, 0x5FF),),
    "arabic": ((0x600, 0x6FF), (0x750, 0x77F), (0x8A0, 0x8FF), (0xFB50, 0xFDFF), (0xFE70, 0xFEFC)),
    "devanagari": ((0x900, 0x97F),),
    "bengali": ((0x980, 0x9FF),),
    "gurmukhi": ((0xA00, 0xA7F),),
    "gujarati": ((0xA80, 0xAFF),),
    "oriya": ((0xB00, 0xB7F),),
    "tamil": ((0xB80, 0xBFF),),
    "telugu": ((0xC00, 0xC7F),),
    "kannada": ((0xC80, 0xCFF),),
    "malayalam": ((0xD00, 0xD7F),),
    "sinhala": ((0xD80, 0xDFF),),
    "thai": ((0xE00, 0xE7F),),
    "lao": ((0xE80, 0xEFF),),
    "tibetan": ((0xF00, 0xFFF),),
    "myanmar": ((0x1000, 0x109F),),
    "georgian": ((0x10A0, 0x10FF),),
    "hangul": ((0x1100, 0x11FF), (0x3130, 0x318F), (0xAC00, 0xD7AF)),
    "ethiopic": ((0x1200, 0x137F),),
    "khmer": ((0x1780, 0x17FF),),
    "mongolian": ((0x1800, 0x18AF),),
    "kana": ((0x3040, 0x30FF), (0x31F0, 0x31FF), (0xFF66, 0xFF9F)),
    "han": ((0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF), (0x20000, 0x2FA1F)),
}  # fmt: skip


def _bounds() -> tuple[npt.NDArray[np.uint32], npt.NDArray[np.int16], list[str]]:
    """Sorted range edges and, for each slot between edges, the script index (-1: no script)."""
    names = list(_RANGES)
    spans = sorted((lo, hi, names.index(name)) for name, rs in _RANGES.items() for lo, hi in rs)
    edges: list[int] = []
    slots: list[int] = [-1]  # code points below the first edge
    for lo, hi, idx in spans:
        if edges and lo < edges[-1]:
            raise ValueError(f"overlapping script ranges at U+{lo:04X}")
        if edges and lo == edges[-1]:  # adjacent ranges: the gap slot has no width
            slots[-1] = idx
        else:
            edges.append(lo)
            slots.append(idx)
        edges.append(hi + 1)
        slots.append(-1)
    return np.array(edges, dtype=np.uint32), np.array(slots, dtype=np.int16), names


_EDGES, _SLOTS, _NAMES = _bounds()
_LATIN = np.int16(_NAMES.index("latin"))
_SPACE = np.uint32(0x20)
_BREAKS = np.array([0x20, 0x09, 0x0A, 0x0D, 0xA0, 0x3000], dtype=np.uint32)  # token separators
# characters that make a token machine text (URL, path, e-mail, id, hash, code), not words
_MACHINE = np.array([ord(c) for c in "0123456789/\\@_=%#<>{}|:~"], dtype=np.uint32)


def _census(piece: str) -> tuple[dict[str, int], dict[str, str]]:
    """Letters per script, and the text of each shared script (all other characters blanked).

    Vectorised over code points: a script census of 20 000 characters costs well under a millisecond.
    Latin letters of tokens holding digits or URL/path/e-mail punctuation do not count.
    """
    cps = np.frombuffer(piece.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    script = _SLOTS[np.searchsorted(_EDGES, cps, side="right")]
    latin = script == _LATIN
    if latin.any():
        token = np.cumsum(np.isin(cps, _BREAKS))
        machine = np.bincount(token, weights=np.isin(cps, _MACHINE), minlength=int(token[-1]) + 1) > 0
        noise = latin & machine[token]
        if noise.any():
            script = np.where(noise, np.int16(-1), script)
    counts = np.bincount(script + 1, minlength=len(_NAMES) + 1)[1:]
    letters: dict[str, int] = {}
    texts: dict[str, str] = {}
    for idx in np.flatnonzero(counts).tolist():
        name = _NAMES[idx]
        letters[name] = int(counts[idx])
        if name in _SHARED:
            head = slice(0, _LANGID_CHARS * 4)
            keep = np.where(script[head] == idx, cps[head], _SPACE).astype(np.uint32)
            texts[name] = " ".join(keep.tobytes().decode("utf-32-le", "replace").split())
    return letters, texts


# one script, one language
_DIRECT = {
    "hangul": "ko",
    "kana": "ja",
    "greek": "el",
    "hebrew": "he",
    "thai": "th",
    "lao": "lo",
    "tibetan": "bo",
    "myanmar": "my",
    "georgian": "ka",
    "armenian": "hy",
    "ethiopic": "am",
    "khmer": "km",
    "mongolian": "mn",
    "gurmukhi": "pa",
    "gujarati": "gu",
    "oriya": "or",
    "tamil": "ta",
    "telugu": "te",
    "kannada": "kn",
    "malayalam": "ml",
    "sinhala": "si",
}
_WEIGHT = {"han": 3.0, "hangul": 2.0, "kana": 2.0}

# py3langid labels that are not ISO 639-1, folded into their macro-language
_ALIAS = {"ary": "ar", "arz": "ar", "sdh": "ku", "wuu": "zh", "yue": "zh"}
_NON_LATIN = {
    "am", "ar", "as", "ba", "be", "bg", "bn", "el", "fa", "gu", "he", "hi", "hy", "ja", "ka", "kk", "km",
    "kn", "ko", "ky", "lo", "mk", "ml", "mn", "mr", "my", "ne", "or", "pa", "ps", "ru", "sa", "si", "sr",
    "ta", "te", "tg", "th", "tt", "ug", "uk", "ur", "zh", "zxx",
}  # fmt: skip
_SHARED_SCRIPT_LANGS: dict[str, frozenset[str]] = {
    "cyrillic": frozenset({"ru", "uk", "be", "bg", "mk", "sr", "kk", "ky", "mn", "tg", "tt", "ba"}),
    "arabic": frozenset({"ar", "ary", "arz", "fa", "ur", "ps", "ug", "sdh"}),
    "devanagari": frozenset({"hi", "mr", "ne", "sa"}),
    "bengali": frozenset({"bn", "as"}),
}
_SHARED = frozenset({"latin", *_SHARED_SCRIPT_LANGS})
_FALLBACK = {"latin": "en", "cyrillic": "ru", "arabic": "ar", "devanagari": "hi", "bengali": "bn"}

_lock = threading.Lock()
_identifier: Any = None
_latin_langs: frozenset[str] = frozenset()


def _langid() -> Any:
    """The py3langid identifier, loaded once (about 0.8 s) on first use."""
    global _identifier, _latin_langs
    if _identifier is None:
        with _lock:
            if _identifier is None:
                from py3langid.langid import MODEL_FILE, LanguageIdentifier

                ident = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
                _latin_langs = frozenset(
                    lab for lab in ident.labels if len(lab) == 2 and lab not in _NON_LATIN
                )
                _identifier = ident
    return _identifier


def _classify(script: str, text: str) -> str:
    ident = _langid()
    allowed = _latin_langs if script == "latin" else _SHARED_SCRIPT_LANGS[script]
    for label, _prob in ident.rank(text[:_LANGID_CHARS]):
        if label in allowed:
            return str(_ALIAS.get(label, label))
    return _FALLBACK[script]


def _sample(pieces: Iterable[str]) -> list[str]:
    out: list[str] = []
    room = SAMPLE_CHARS
    for piece in pieces:
        if room <= 0:
            break
        piece = piece[:room]
        room -= len(piece)
        out.append(piece)
    return out


def detect(pieces: Sequence[str]) -> tuple[str | None, dict[str, float]]:
    """Dominant ISO 639-1 language and the share of each language, for the given text pieces."""
    weights: dict[str, float] = {}
    pooled: dict[str, list[str]] = {}
    pooled_letters: dict[str, int] = {}
    calls = 0

    def add(lang: str, amount: float) -> None:
        weights[lang] = weights.get(lang, 0.0) + amount

    for piece in _sample(pieces):
        letters, texts = _census(piece)
        han = letters.get("han", 0)
        if han:
            kana, hangul = letters.get("kana", 0), letters.get("hangul", 0)
            han_lang = "ja" if kana * 10 >= han or kana >= 10 else "ko" if hangul > han else "zh"
            add(han_lang, han * _WEIGHT["han"])
        for script, count in letters.items():
            if script in _DIRECT:
                add(_DIRECT[script], count * _WEIGHT.get(script, 1.0))
            elif script in _SHARED:
                text = texts[script]
                if count >= _MIN_PIECE_LETTERS and calls < _MAX_CALLS:
                    calls += 1
                    add(_classify(script, text), float(count))
                else:
                    pooled.setdefault(script, []).append(text)
                    pooled_letters[script] = pooled_letters.get(script, 0) + count
    for script, texts_ in pooled.items():
        count = pooled_letters[script]
        # a few stray letters beside real content (file names, acronyms) are not a language
        if count < 4 or (count < _MIN_PIECE_LETTERS and weights):
            continue
        add(_classify(script, " ".join(texts_)), float(count))
    total = sum(weights.values())
    if total <= 0:
        return None, {}
    shares = {lang: w / total for lang, w in weights.items() if w / total >= _MIN_SHARE}
    norm = sum(shares.values())
    ranked = sorted(shares.items(), key=lambda kv: (-kv[1], kv[0]))
    return ranked[0][0], {lang: round(share / norm, 3) for lang, share in ranked}
