"""Upload header rules of the Codex REST API (reference/codex.md §1.2): the filename taken from
Content-Disposition, Nim's `os.isValidFilename`, and chronos' Content-Type syntax check."""

from __future__ import annotations

import re

from archive_service_codex_node.mimetypes import is_known_mimetype

_INVALID_FILENAME_CHARS = frozenset('/\\:*?"<>|^\0')
_INVALID_FILENAMES = frozenset(
    ["CON", "PRN", "AUX", "NUL"] + [f"COM{i}" for i in range(10)] + [f"LPT{i}" for i in range(10)]
)
_TOKEN = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_CONTENT_TYPE = re.compile(rf"\s*{_TOKEN}/{_TOKEN}\s*(;.*)?")


def filename_from_content_disposition(value: str | None) -> str | None:
    """As the node: split on `filename="`, take the last part, strip it, drop its last
    character. Unquoted `filename=x` gives no filename; text after the closing quote stays."""
    if not value:
        return None
    parts = value.split('filename="')
    if len(parts) < 2:
        return None
    return parts[-1].strip()[:-1]


def _split_file(path: str) -> tuple[str, str]:
    """Nim's `splitFile` on POSIX → (name, ext); the extension starts at the last qualifying dot."""
    name_pos = 0
    dot_pos = 0
    for i in range(len(path) - 1, -1, -1):
        ch = path[i]
        if ch == "/" or i == 0:
            if ch == "/":
                name_pos = i + 1
            if dot_pos > i:
                return path[name_pos:dot_pos], path[dot_pos:]
            return path[name_pos:], ""
        if ch == "." and 0 < i < len(path) - 1 and path[i - 1] != "/" and path[i + 1] != ".":
            if dot_pos == 0:
                dot_pos = i
    return "", ""


def is_valid_filename(filename: str, max_len: int = 259) -> bool:
    """Nim `os.isValidFilename`: only the name part (before the extension) is checked."""
    name, ext = _split_file(filename)
    if len(name) + len(ext) > max_len or not name:
        return False
    if name[0] == " " or name[-1] == " " or name[-1] == ".":
        return False
    if any(ch in _INVALID_FILENAME_CHARS for ch in name):
        return False
    return name.upper() not in _INVALID_FILENAMES


def content_type_parses(value: str) -> bool:
    """chronos refuses (415) a Content-Type that is not `type/subtype[; params]`."""
    return bool(_CONTENT_TYPE.fullmatch(value))


def is_valid_upload_mimetype(value: str) -> bool:
    """Nim `getExt(value, "") != ""`: the lower-cased value must equal a table value exactly,
    so any parameter (`; charset=utf-8`) makes it invalid."""
    return is_known_mimetype(value.lower())
