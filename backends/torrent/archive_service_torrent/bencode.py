"""A small, strict bencode codec (BEP 3), used for metainfo we write and metainfo peers send.

Our own code rather than `lt.bencode`/`lt.bdecode` because the decoder must be strict about
untrusted input (canonical integers, sorted unique keys, bounded depth, no trailing bytes) and
raise a typed error, and the encoder must be byte-identical to anacrolix's for the info-hash.
"""

from __future__ import annotations

from typing import Union

from archive_service.errors import InvalidInputError

BValue = Union[int, bytes, list["BValue"], dict[bytes, "BValue"]]  # noqa: UP007 (recursive alias)

MAX_DEPTH = 32


class BencodeError(InvalidInputError):
    """Bytes that are not canonical bencode."""


def encode(value: object) -> bytes:
    """Bencode ints, bytes, str (UTF-8), lists and dicts (keys sorted as raw bytes)."""
    out: list[bytes] = []
    _encode(value, out)
    return b"".join(out)


def _encode(value: object, out: list[bytes]) -> None:
    if isinstance(value, bool):
        raise TypeError("bencode has no booleans")
    if isinstance(value, int):
        out.append(b"i%de" % value)
    elif isinstance(value, bytes | bytearray | memoryview):
        raw = bytes(value)
        out.append(b"%d:" % len(raw))
        out.append(raw)
    elif isinstance(value, str):
        _encode(value.encode(), out)
    elif isinstance(value, list | tuple):
        out.append(b"l")
        for item in value:
            _encode(item, out)
        out.append(b"e")
    elif isinstance(value, dict):
        items = sorted(
            (k.encode() if isinstance(k, str) else bytes(k), v) for k, v in value.items()
        )
        out.append(b"d")
        previous = None
        for key, item in items:
            if key == previous:
                raise ValueError(f"duplicate dictionary key {key!r}")
            previous = key
            _encode(key, out)
            _encode(item, out)
        out.append(b"e")
    else:
        raise TypeError(f"cannot bencode {type(value).__name__}")


def decode(data: bytes) -> BValue:
    """Decode one complete value; anything non-canonical or trailing is a BencodeError."""
    value, end = _decode(memoryview(data), 0, 0)
    if end != len(data):
        raise BencodeError(f"{len(data) - end} trailing bytes after the bencoded value")
    return value


def decode_prefix(data: bytes, start: int = 0) -> tuple[BValue, int]:
    """Decode one value at `start`; returns it and the offset just after it."""
    return _decode(memoryview(data), start, 0)


def _decode(buf: memoryview, pos: int, depth: int) -> tuple[BValue, int]:
    if depth > MAX_DEPTH:
        raise BencodeError(f"bencode nested deeper than {MAX_DEPTH} levels")
    if pos >= len(buf):
        raise BencodeError("bencode ends early")
    lead = buf[pos]
    if lead == ord("i"):
        end = _find(buf, ord("e"), pos + 1)
        text = bytes(buf[pos + 1 : end])
        digits = text.lstrip(b"-")
        if not digits or text.count(b"-") > 1 or (digits.startswith(b"0") and text != b"0"):
            raise BencodeError(f"non-canonical integer {text!r} at offset {pos}")
        try:
            return int(text), end + 1
        except ValueError:
            raise BencodeError(f"invalid integer {text!r} at offset {pos}") from None
    if ord("0") <= lead <= ord("9"):
        colon = _find(buf, ord(":"), pos)
        text = bytes(buf[pos:colon])
        if not text.isdigit() or (len(text) > 1 and text.startswith(b"0")):
            raise BencodeError(f"invalid string length {text!r} at offset {pos}")
        length = int(text)
        start = colon + 1
        if start + length > len(buf):  # checked before slicing: nothing is allocated for a lie
            raise BencodeError(f"string of {length} bytes at offset {pos} runs past the end")
        return bytes(buf[start : start + length]), start + length
    if lead == ord("l"):
        pos += 1
        items: list[BValue] = []
        while not _at_end(buf, pos, "list"):
            item, pos = _decode(buf, pos, depth + 1)
            items.append(item)
        return items, pos + 1
    if lead == ord("d"):
        pos += 1
        result: dict[bytes, BValue] = {}
        previous: bytes | None = None
        while not _at_end(buf, pos, "dictionary"):
            key, pos = _decode(buf, pos, depth + 1)
            if not isinstance(key, bytes):
                raise BencodeError(f"dictionary key at offset {pos} is not a string")
            if previous is not None and key <= previous:
                raise BencodeError(f"dictionary keys not sorted or repeated at {key!r}")
            previous = key
            result[key], pos = _decode(buf, pos, depth + 1)
        return result, pos + 1
    raise BencodeError(f"unexpected byte {bytes([lead])!r} at offset {pos}")


def _at_end(buf: memoryview, pos: int, what: str) -> bool:
    """True at the 'e' that closes a list or dictionary; running out of bytes first is an error."""
    if pos >= len(buf):
        raise BencodeError(f"unterminated {what}")
    return buf[pos] == ord("e")


def _find(buf: memoryview, byte: int, start: int) -> int:
    # Bounded scan: integers and string lengths are short; a missing terminator is an error.
    for i in range(start, min(len(buf), start + 32)):
        if buf[i] == byte:
            return i
    raise BencodeError(f"missing {chr(byte)!r} terminator after offset {start}")
