"""Hostile-but-harmless inputs for robustness tests (never written to ``examples/``).

* :func:`zip_bomb`: one small zip whose member inflates to ``size`` bytes of zeros (1 GiB by
  default, ~1 MB compressed), written in a few milliseconds: a Z_FULL_FLUSHed DEFLATE block of
  1 MiB of zeros is byte-identical every time, so it is repeated, and the CRC-32 of the zeros is
  computed with zlib's GF(2) ``crc32_combine`` method instead of hashing a gigabyte.
* :func:`nested_zip_bomb`: zip of zips of zips, ``fanout`` identical members per level.
* :func:`truncated`, :func:`garbage`, :func:`oversized_file` (a sparse file).
"""

from __future__ import annotations

import io
import random
import struct
import zipfile
import zlib
from pathlib import Path

from samplegen.office import ZIP_TIME

_BLOCK = 1 << 20
_CRC_POLY = 0xEDB88320


def _gf2_times(matrix: list[int], vec: int) -> int:
    out = 0
    i = 0
    while vec:
        if vec & 1:
            out ^= matrix[i]
        vec >>= 1
        i += 1
    return out


def _gf2_square(matrix: list[int]) -> list[int]:
    return [_gf2_times(matrix, matrix[n]) for n in range(32)]


def crc32_zeros(length: int, crc: int = 0) -> int:
    """``zlib.crc32(bytes(length), crc)`` in O(log length) (zlib's crc32_combine algorithm)."""
    if length <= 0:
        return crc
    crc ^= 0xFFFFFFFF
    odd = [_CRC_POLY] + [1 << n for n in range(31)]  # operator for one zero bit
    even = _gf2_square(odd)  # two zero bits
    odd = _gf2_square(even)  # four zero bits
    while True:
        even = _gf2_square(odd)  # first pass: one zero byte
        if length & 1:
            crc = _gf2_times(even, crc)
        length >>= 1
        if not length:
            break
        odd = _gf2_square(even)
        if length & 1:
            crc = _gf2_times(odd, crc)
        length >>= 1
        if not length:
            break
    return crc ^ 0xFFFFFFFF


def _deflate_zeros(size: int) -> bytes:
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    full, rest = divmod(size, _BLOCK)
    out = bytearray()
    if full:
        block = comp.compress(bytes(_BLOCK)) + comp.flush(zlib.Z_FULL_FLUSH)
        again = comp.compress(bytes(_BLOCK)) + comp.flush(zlib.Z_FULL_FLUSH)
        if block != again:  # pragma: no cover - zlib behaviour, checked rather than assumed
            raise RuntimeError("zlib did not produce repeatable blocks")
        out += block * full
    if rest:
        out += comp.compress(bytes(rest))
    out += comp.flush(zlib.Z_FINISH)
    return bytes(out)


def zip_bomb(size: int = 1 << 30, name: str = "zeros.bin", members: int = 1) -> bytes:
    """A zip whose ``members`` entries each inflate to ``size`` zero bytes (zip64 past 4 GiB)."""
    data = _deflate_zeros(size)
    crc = crc32_zeros(size)
    zip64 = size >= 0xFFFFFFFF or len(data) >= 0xFFFFFFFF
    dos_time = (ZIP_TIME[3] << 11) | (ZIP_TIME[4] << 5) | (ZIP_TIME[5] // 2)
    dos_date = ((ZIP_TIME[0] - 1980) << 9) | (ZIP_TIME[1] << 5) | ZIP_TIME[2]
    out = bytearray()
    central = bytearray()
    version = 45 if zip64 else 20
    for index in range(members):
        member = name if members == 1 else f"{index:03d}_{name}"
        raw_name = member.encode("ascii")
        offset = len(out)
        small_c, small_u = (0xFFFFFFFF, 0xFFFFFFFF) if zip64 else (len(data), size)
        local_extra = struct.pack("<HHQQ", 1, 16, size, len(data)) if zip64 else b""
        out += struct.pack(
            "<IHHHHHIIIHH",
            0x04034B50,
            version,
            0,
            8,
            dos_time,
            dos_date,
            crc,
            small_c,
            small_u,
            len(raw_name),
            len(local_extra),
        )
        out += raw_name + local_extra + data
        small_off = 0xFFFFFFFF if zip64 else offset
        central_extra = struct.pack("<HHQQQ", 1, 24, size, len(data), offset) if zip64 else b""
        central += struct.pack(
            "<IHHHHHHIIIHHHHHII",
            0x02014B50,
            version,
            version,
            0,
            8,
            dos_time,
            dos_date,
            crc,
            small_c,
            small_u,
            len(raw_name),
            len(central_extra),
            0,
            0,
            0,
            0o644 << 16,
            small_off,
        )
        central += raw_name + central_extra
    cd_offset = len(out)
    out += central
    if zip64:
        z64_offset = len(out)
        out += struct.pack(
            "<IQHHIIQQQQ", 0x06064B50, 44, 45, 45, 0, 0, members, members, len(central), cd_offset
        )
        out += struct.pack("<IIQI", 0x07064B50, 0, z64_offset, 1)
        out += struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0)
    else:
        out += struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, members, members, len(central), cd_offset, 0)
    return bytes(out)


def nested_zip_bomb(depth: int = 10, fanout: int = 16, leaf_size: int = 1 << 20) -> bytes:
    """Zip of zips ``depth`` levels deep, each level holding ``fanout`` identical inner zips.

    The innermost zip holds ``leaf_size`` zeros, so the fully expanded tree is
    ``fanout ** depth * leaf_size`` bytes while the outer file stays small (DEFLATE finds each
    repeated inner zip inside its 32 KiB window).
    """
    current = zip_bomb(leaf_size, name="data.bin")
    for level in range(1, depth + 1):
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
            for index in range(fanout):
                info = zipfile.ZipInfo(f"level{level:02d}_{index:02d}.zip", ZIP_TIME)
                info.compress_type = zipfile.ZIP_DEFLATED
                zf.writestr(info, current)
        current = buf.getvalue()
    return current


def truncated(data: bytes, frac: float = 0.5) -> bytes:
    """The first ``frac`` of ``data`` (a download cut short, a carved fragment)."""
    if not 0.0 <= frac <= 1.0:
        raise ValueError("frac must be within [0, 1]")
    return data[: int(len(data) * frac)]


def garbage(n: int, seed: int = 0) -> bytes:
    """``n`` reproducible pseudo-random bytes."""
    return random.Random(seed).randbytes(n)


def oversized_file(path: Path, size: int = 8 << 30) -> Path:
    """Create a sparse file of ``size`` bytes at ``path`` (no disk blocks for the hole)."""
    with open(path, "wb") as handle:
        handle.truncate(size)
    return path
