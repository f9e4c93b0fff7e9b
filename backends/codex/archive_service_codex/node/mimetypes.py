"""The MIME values of Nim's `std/mimetypes` table, which the Codex node checks uploads against.

`_NIM_VALUES` lists the distinct values of the extension → MIME table in Nim's
`lib/pure/mimetypes.nim` (nim-lang/Nim, read at commit 06524b19; Codex pins Nim 2.2.4, whose
table may differ in a few rare entries). Nim's `getExt` lower-cases the header value and looks
for an exactly equal value, so table values with upper-case letters can never match; they are
dropped here too.
"""

from __future__ import annotations

from functools import cache


@cache
def nim_mimetypes() -> frozenset[str]:
    values = (v.strip() for v in _NIM_VALUES.split())
    return frozenset(v for v in values if v and v == v.lower())


def is_known_mimetype(lowered: str) -> bool:
    return lowered in nim_mimetypes()


_NIM_VALUES = """
application/octet-stream text/plain text/html application/json image/png image/jpeg
application/zip application/pdf text/csv
"""
