"""The one base-128 varint codec (unsigned LEB128) of the project: protobuf framing of archives
and the multiformats varints of CIDs and multihashes use the same encoding."""

from __future__ import annotations

_TABLE_SIZE = 1 << 14  # values below 16 KiB (every length of a chat message): one lookup


def _encode_slow(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


_SMALL = tuple(_encode_slow(i) for i in range(_TABLE_SIZE))
# The two leading bytes (continuation bit set) of a varint whose low 14 bits are the index.
_LOW14 = tuple(bytes((i & 0x7F | 0x80, i >> 7 | 0x80)) for i in range(_TABLE_SIZE))


def encode(value: int) -> bytes:
    """Varint of `value` >= 0. Larger values (every 5-byte timestamp) take 14 bits per table
    lookup: a bytewise loop was ~10% of archive creation."""
    if value < _TABLE_SIZE:
        if value < 0:
            raise ValueError("varint of a negative number")
        return _SMALL[value]
    return _LOW14[value & 0x3FFF] + encode(value >> 14)


def decode(data: bytes | memoryview, pos: int = 0, *, max_bits: int = 63) -> tuple[int, int]:
    """The varint at `pos` and the position after it. ValueError when it is truncated or has
    more than `max_bits` bits (63 for multiformats, 64 for protobuf)."""
    value = 0
    shift = 0
    end = len(data)
    while True:
        if pos >= end:
            raise ValueError("truncated varint")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            if value >> max_bits:
                raise ValueError(f"varint longer than {max_bits} bits")
            return value, pos
        shift += 7
        if shift >= max_bits + 7:
            raise ValueError(f"varint longer than {max_bits} bits")
