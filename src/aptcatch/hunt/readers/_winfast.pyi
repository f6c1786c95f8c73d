"""Type stub of the C extension ``_winfast`` (see ``_winfast.c`` and :mod:`aptcatch.hunt.readers.winfast`)."""

from collections.abc import Callable, Iterable, Sequence
from typing import Any

# build's originals: (count, int64 offsets, a read-only buffer-protocol object over the texts)
_ArraySpec = tuple[int, int, bytes | None, bytes, bytes]  # length, null count, validity, offsets, data

class Batch:
    def __init__(self, cell: Callable[[Any], str | None]) -> None: ...
    def open_file(self) -> int: ...
    def ingest(
        self,
        file: int,
        texts: Iterable[Any],
        fallback: Callable[[int, Any], tuple[tuple[Any, ...], Sequence[Any], Sequence[Any]] | None],
    ) -> int: ...
    def groups(self) -> list[tuple[int, tuple[Any, ...], int, tuple[int, ...]]]: ...
    def file_rows(self) -> list[int]: ...
    def build(
        self,
        plans: Sequence[tuple[Sequence[int], Sequence[Sequence[int | str]]]],
        group_plan: Sequence[int],
        group_shape: Sequence[int],
        shapes: Sequence[Sequence[int]],
        n_names: int,
        hash_column: int,
        algos: Sequence[str],
    ) -> tuple[
        list[_ArraySpec],
        list[list[int]],
        list[bytes],
        list[_ArraySpec],
        tuple[int, bytes, object],
        list[_ArraySpec] | None,
    ]: ...
    def stats(self) -> tuple[int, int]: ...

# squid_native(buffer, start, stop, max_line, crlf=False): (0, lines, state, [4 x _ArraySpec of Memory
# objects], slow or None), or (1, 0) when the range holds what only the SQL reads (see _winfast_squid.c)
def squid_native(
    buffer: Any, start: int, stop: int, max_line: int, crlf: bool = False, /
) -> tuple[Any, ...]: ...
