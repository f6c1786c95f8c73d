"""On-disk cache of built group profiles, so ``scan --attribute`` does not rebuild them every run.

Reading the knowledge base into :class:`~aptcatch.attribution.knowledge_facts.GroupFacts` and indexing
it into :class:`~aptcatch.attribution.profiles.Profiles` takes about 1.8 s on the bundled snapshot;
loading the same object graph back from one file takes about 0.2 s. A file is keyed by everything the
profiles depend on:

* the store: its resolved path, the file's inode, the ``entities`` and ``indicators`` generation
  counters (bumped by every write) and its row counts — a store rebuilt in place does not reuse the
  profiles of the old one;
* the knowledge filters (``--exclude-source``, ``--as-of``, the benchmark's hold-out);
* the code that builds them: a digest of ``knowledge_facts.py`` and ``profiles.py`` and the cache
  format number, so a changed builder never reads an old file.

Files live in ``<store file>.attribution-cache/`` next to the store (at most :data:`MAX_FILES`, the
least recently used go first). Writing is best effort: a read-only directory only means no cache.
The files are :mod:`pickle` s: they are read only from the directory beside the user's own store, so
whoever can write them can already change the store itself; a file that fails to load is removed and
the profiles are rebuilt. Written by hand because no library caches an in-memory object graph keyed by
a SQLite store's generation; ``pickle`` is the standard library's serializer for exactly such graphs.
"""

from __future__ import annotations

import contextlib
import copyreg
import dataclasses
import hashlib
import os
import pickle
import tempfile
from pathlib import Path

from aptcatch.attribution import knowledge_facts
from aptcatch.attribution import profiles as profiles_mod
from aptcatch.gc_pause import gc_paused
from aptcatch.knowledge.models import Claim
from aptcatch.knowledge.store import KnowledgeStore

FORMAT = 1
MAX_FILES = 8
SUFFIX = ".attribution-cache"
_CODE_DIGEST: str | None = None


def _code_digest() -> str:
    global _CODE_DIGEST
    if _CODE_DIGEST is None:
        h = hashlib.sha256(str(FORMAT).encode())
        for mod in (knowledge_facts, profiles_mod):
            if mod.__file__:
                h.update(Path(mod.__file__).read_bytes())
        _CODE_DIGEST = h.hexdigest()[:16]
    return _CODE_DIGEST


def store_identity(store: KnowledgeStore) -> tuple[object, ...] | None:
    """What identifies the store's content, or None for a store without a file (no disk cache)."""
    path = store.path
    if path is None:
        return None
    try:
        st = os.stat(path)
    except OSError:
        return None
    gen = getattr(store, "generation", None)
    counts = getattr(store, "counts", None)
    return (
        str(Path(path).resolve()),
        st.st_ino,
        (int(gen("entities")), int(gen("indicators"))) if callable(gen) else (),
        tuple(sorted(counts().items())) if callable(counts) else (),
    )


def cache_dir(store: KnowledgeStore) -> Path | None:
    return Path(f"{store.path}{SUFFIX}") if store.path is not None else None


def cache_file(store: KnowledgeStore, filters: profiles_mod.Filters) -> Path | None:
    """The file the profiles of ``store`` under ``filters`` are kept in (None: not cacheable)."""
    ident = store_identity(store)
    where = cache_dir(store)
    if ident is None or where is None:
        return None
    key = repr((ident, filters, _code_digest())).encode()
    return where / f"profiles-{hashlib.sha256(key).hexdigest()[:32]}.pickle"


def _by_constructor(cls: type[object]) -> object:
    names = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]

    def reduce(obj: object) -> tuple[type[object], tuple[object, ...]]:
        return cls, tuple(getattr(obj, n) for n in names)

    return reduce


# The many small frozen slots dataclasses are rebuilt by calling the class with their fields, which
# loads ~2.5x faster than the default slot-state path; private to our pickler, nothing global changes.
_DISPATCH = copyreg.dispatch_table.copy()
for _cls in (Claim, knowledge_facts.Assertion, knowledge_facts.GroupInfo, knowledge_facts.CampaignInfo):
    _DISPATCH[_cls] = _by_constructor(_cls)  # type: ignore[assignment]


def read(path: Path) -> profiles_mod.Profiles | None:
    """The cached profiles in ``path``, or None (absent, unreadable or of another format)."""
    try:
        data = path.read_bytes()
    except OSError:
        return None
    try:
        with gc_paused():  # loading creates ~10^5 small objects, no cycles
            got = pickle.loads(data)  # our own file beside the user's store (module doc)
    except Exception:  # any broken file: drop it and rebuild
        with contextlib.suppress(OSError):
            path.unlink()
        return None
    if not isinstance(got, profiles_mod.Profiles):
        return None
    with contextlib.suppress(OSError):
        os.utime(path)  # least recently used goes first
    return got


def write(path: Path, profiles: profiles_mod.Profiles) -> bool:
    """Write ``profiles`` to ``path`` atomically; False when the directory cannot be written."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
        with os.fdopen(fd, "wb") as fh:
            pickler = pickle.Pickler(fh, protocol=pickle.HIGHEST_PROTOCOL)
            pickler.dispatch_table = _DISPATCH
            pickler.dump(profiles)
        os.replace(tmp, path)
    except OSError:
        return False
    _prune(path.parent)
    return True


def _prune(where: Path) -> None:
    try:
        files = sorted(where.glob("profiles-*.pickle"), key=lambda p: p.stat().st_mtime, reverse=True)
    except OSError:
        return
    for old in files[MAX_FILES:]:
        with contextlib.suppress(OSError):
            old.unlink()
