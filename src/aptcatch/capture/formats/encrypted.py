"""Encrypted Office documents: ECMA-376 (agile/standard) packages in a compound file, and RC4/XOR
encrypted .doc/.xls/.ppt, decrypted in memory with msoffcrypto-tool.

Candidates are tried in order: the built-in defaults first (Excel's "VelvetSweatshop", PowerPoint's
"/01Hannes Ruescher/01"), then ``ctx.passwords`` (those
found in the delivering e-mail, then the defaults). msoffcrypto's agile password verifier rejects some
valid files, so ECMA-376 keys are not verified up front: the decrypted output must instead open as the
package it claims to be (zip for OOXML, compound file for binary formats). The plaintext is handed to
the engine as a child and analysed like any other document.
"""

from __future__ import annotations

import io
import zipfile
from typing import TYPE_CHECKING

import msoffcrypto
import olefile

from aptcatch.capture.context import ArtifactContext
from aptcatch.capture.identify import OLE_MAGIC
from aptcatch.capture.limits import AnalyzerTimeout, LimitExceeded
from aptcatch.capture.types import FileType

if TYPE_CHECKING:
    from aptcatch.capture.analyzer import Analyzer
    from aptcatch.capture.engine import ScanConfig

DEFAULT_PASSWORD = "VelvetSweatshop"
PPT_DEFAULT_PASSWORD = "/01Hannes Ruescher/01"  # PowerPoint's transparent "read-only" password
DEFAULTS = (DEFAULT_PASSWORD, PPT_DEFAULT_PASSWORD)
MAX_TRIES = 40


def _plausible(data: bytes) -> bool:
    """Decrypted output that is really a document (a wrong key yields noise, or raises)."""
    if data.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as zf:
                return bool(zf.namelist())
        except (AnalyzerTimeout, LimitExceeded):
            raise
        except Exception:
            return False
    if data.startswith(OLE_MAGIC):
        return bool(olefile.isOleFile(io.BytesIO(data)))
    return False


def try_decrypt(data: bytes, password: str) -> bytes | None:
    """Plaintext of ``data`` with ``password``, or None when it does not fit."""
    try:
        office = msoffcrypto.OfficeFile(io.BytesIO(data))
        office.load_key(password=password)
        out = io.BytesIO()
        office.decrypt(out)
    except (AnalyzerTimeout, LimitExceeded):
        raise
    except Exception:
        return None
    plain = out.getvalue()
    return plain if _plausible(plain) else None


def is_encrypted(data: bytes) -> bool:
    try:
        return bool(msoffcrypto.OfficeFile(io.BytesIO(data)).is_encrypted())
    except (AnalyzerTimeout, LimitExceeded):
        raise
    except Exception:
        return False


GENERIC_TRIES = 3
"""Generic dictionary words tried after the built-in and given passwords: an agile-encrypted document
costs ~90 ms per try (100,000 hash iterations), and a lure's real password comes with the e-mail."""


def _candidates(ctx: ArtifactContext) -> list[str]:
    out = list(DEFAULTS)
    out.extend(p for p in ctx.given_passwords if p not in out)
    generic = [p for p in ctx.passwords if p not in out]
    out.extend(generic[:GENERIC_TRIES])
    return out[:MAX_TRIES]


class EncryptedOfficeAnalyzer:
    name = "office-encrypted"
    types: frozenset[FileType] | None = frozenset(
        {FileType.OLE_ENCRYPTED, FileType.OLE_DOC, FileType.OLE_XLS, FileType.OLE_PPT}
    )

    def analyze(self, ctx: ArtifactContext) -> None:
        if ctx.type is not FileType.OLE_ENCRYPTED and not is_encrypted(ctx.data):
            return
        ctx.meta("encrypted", True)
        for password in _candidates(ctx):
            plain = try_decrypt(ctx.data, password)
            if plain is None:
                continue
            ctx.meta("decryption_password", password)
            if password in DEFAULTS:
                ctx.finding(
                    "office.encrypted_default_password",
                    f"decrypts with the built-in password {password!r}: Office opens it without asking",
                )
            else:
                ctx.finding("office.encrypted_password", f"decrypted with password {password!r}")
            ctx.child("decrypted " + ctx.name, plain)
            return
        ctx.finding(
            "office.encrypted_unknown_password", f"none of {len(_candidates(ctx))} candidate passwords fit"
        )
        ctx.error(
            "encrypted", "encrypted Office document: no known password decrypts it, content not analysed"
        )


def analyzers(config: ScanConfig) -> list[Analyzer]:
    return [EncryptedOfficeAnalyzer()]
