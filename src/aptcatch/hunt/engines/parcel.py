"""Large results handed from a worker process to its parent through a memory-mapped file, not a pipe.

A worker's share of a large hunt is hundreds of MiB of Arrow buffers. Returned the usual way, it is
pickled into one bytes object, pushed through a pipe and unpickled, each step a full copy (measured:
~0.9 s in the worker and ~0.5 s in the parent per 460 MiB, at the end of the work when nothing else
overlaps it). Here the object is pickled with protocol 5, whose out-of-band buffers (pyarrow hands
over its buffers this way) are written once to a file in a folder of the parent's, preferably in
memory (``/dev/shm``); the parent maps the file and unpickles with those buffers, so the Arrow arrays
point into the mapping and nothing is copied again. The file is unlinked as soon as it is mapped.
Unpickling pauses the garbage collector: a batch's small tuples and dicts would otherwise set off
collections that walk everything the receiver already holds (measured: 80-100 ms now and then, against
2-5 ms for the unpickling itself).
When the file cannot be written (no space in ``/dev/shm``, say) the object travels pickled as usual.
"""

from __future__ import annotations

import mmap
import os
import pickle
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aptcatch.gc_pause import gc_paused

_ALIGN = 64  # Arrow's buffer alignment
_PREFIX = "aptcatch-parcels-"


@dataclass(frozen=True)
class Parcel:
    """What goes through the pipe: the pickle stream, and where its out-of-band buffers lie."""

    head: bytes
    path: str | None = None
    spans: tuple[tuple[int, int], ...] = ()


def scratch_dir() -> str:
    """A private folder for parcels, in memory where the system has a tmpfs (removed by the caller).

    Its name carries this process's id: folders left by a hunt that was killed (whose workers may
    still have written parcels after it died) are removed here, by the next hunt."""
    shm = Path("/dev/shm")
    base = shm if shm.is_dir() and os.access(shm, os.W_OK) else Path(tempfile.gettempdir())
    for old in base.glob(f"{_PREFIX}*-*"):
        pid = old.name[len(_PREFIX) :].split("-", 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(old, ignore_errors=True)
    return tempfile.mkdtemp(prefix=f"{_PREFIX}{os.getpid()}-", dir=base)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def wrap(obj: Any, folder: str) -> Parcel:
    """``obj`` as a parcel whose buffers are in a new file under ``folder``."""
    buffers: list[pickle.PickleBuffer] = []
    head = pickle.dumps(obj, protocol=5, buffer_callback=buffers.append)
    if not buffers:
        return Parcel(head)
    spans: list[tuple[int, int]] = []
    name = ""
    try:
        fd, name = tempfile.mkstemp(suffix=".buf", dir=folder)
        with os.fdopen(fd, "wb") as fh:
            at = 0
            for b in buffers:
                raw = b.raw()
                spans.append((at, raw.nbytes))
                fh.write(raw)
                pad = -(at + raw.nbytes) % _ALIGN
                fh.write(bytes(pad))
                at += raw.nbytes + pad
    except OSError:
        if name:
            Path(name).unlink(missing_ok=True)
        return Parcel(pickle.dumps(obj, protocol=5))  # no room for the file: through the pipe
    return Parcel(head, name, tuple(spans))


def unwrap(parcel: Parcel) -> Any:
    """The object again; its buffers are views of the mapped file (which is unlinked here)."""
    return _load(parcel, unlink=True)


def peek(parcel: Parcel) -> Any:
    """The object again without taking the file away: the sender maps what it sent, so the memory it
    goes on using (to evaluate rules, say) is the file's pages, not a second copy."""
    return _load(parcel, unlink=False)


def _load(parcel: Parcel, unlink: bool) -> Any:
    if parcel.path is None:
        with gc_paused():
            return pickle.loads(parcel.head)
    try:
        with open(parcel.path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            view = memoryview(mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) if size else b"")
    finally:
        if unlink:
            Path(parcel.path).unlink(missing_ok=True)
    with gc_paused():  # thousands of small containers: a collection now would walk all the caller holds
        return pickle.loads(parcel.head, buffers=[view[at : at + n] for at, n in parcel.spans])
