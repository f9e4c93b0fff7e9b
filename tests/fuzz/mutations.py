"""Structure-blind mutations of valid encodings, shared by the CI fuzz test and the campaign.

Mutating real encodings reaches the deep checks (archive IDs, windows, signatures, layout
caps) that random bytes never get past; the operators mimic libFuzzer's (bit flips,
interesting bytes, inserted/erased runs, splices of another seed, overlong varints).
"""

from __future__ import annotations

import random
from collections.abc import Sequence

INTERESTING_BYTES = (0x00, 0x01, 0x7F, 0x80, 0xFF, 0x0A, 0x12, 0x1A, 0x22, 0x30, 0x3A, 0x65)
# An overlong / maximal varint: claims a length or value far past anything the input holds.
HUGE_VARINT = b"\xff\xff\xff\xff\xff\xff\xff\xff\x7f"
OPERATORS = ("flip", "byte", "insert", "erase", "truncate", "splice", "varint", "duplicate")


def mutate(data: bytes, seeds: Sequence[bytes], rng: random.Random, rounds: int) -> bytes:
    """Apply `rounds` random operators to `data`."""
    buf = bytearray(data)
    for _ in range(rounds):
        apply(buf, rng.choice(OPERATORS), seeds, rng)
    return bytes(buf)


def apply(buf: bytearray, op: str, seeds: Sequence[bytes], rng: random.Random) -> None:
    pos = rng.randrange(len(buf) + 1)
    if op == "flip" and buf:
        i = min(pos, len(buf) - 1)
        buf[i] ^= 1 << rng.randrange(8)
    elif op == "byte" and buf:
        buf[min(pos, len(buf) - 1)] = rng.choice(INTERESTING_BYTES)
    elif op == "insert":
        buf[pos:pos] = rng.randbytes(rng.randrange(1, 9))
    elif op == "erase" and buf:
        del buf[pos : pos + rng.randrange(1, 17)]
    elif op == "truncate":
        del buf[pos:]
    elif op == "splice" and seeds:
        other = rng.choice(seeds)
        start = rng.randrange(len(other) + 1)
        buf[pos : pos + rng.randrange(0, 33)] = other[start : start + rng.randrange(1, 65)]
    elif op == "varint":
        buf[pos : pos + rng.randrange(0, 3)] = HUGE_VARINT[: rng.randrange(1, len(HUGE_VARINT) + 1)]
    elif op == "duplicate" and buf:
        start = rng.randrange(len(buf))
        buf[pos:pos] = buf[start : start + rng.randrange(1, 33)]
