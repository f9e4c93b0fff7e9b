"""archive_service.presets: a bundled TOML preset by name, else a TOML file by path."""

from __future__ import annotations

from pathlib import Path

import pytest

from archive_service.errors import InvalidInputError
from archive_service.presets import preset_names, read_preset

PACKAGE, FOLDER = "archive_service_codex_node", "profiles"


def read(name_or_path: str | Path) -> tuple[str, str]:
    found = read_preset(
        PACKAGE, FOLDER, name_or_path, kind="profile", offer="one of {names}", error=KeyError
    )
    return found.source, found.default_name


def test_a_bundled_name_then_a_path(tmp_path: Path) -> None:
    assert preset_names(PACKAGE, FOLDER) == ["measured-2026-11", "unthrottled"]
    assert read("unthrottled") == ("unthrottled", "unthrottled")
    mine = tmp_path / "mine.toml"
    mine.write_text('name = "x"\n')
    assert read(str(mine)) == (str(mine), "mine")
    # A Path is never a bundled name, even when it spells one.
    with pytest.raises(KeyError, match="no profile 'unthrottled': give one of measured-2026-11"):
        read(Path("unthrottled"))


def test_a_missing_or_unreadable_file_is_the_callers_error(tmp_path: Path) -> None:
    with pytest.raises(
        InvalidInputError, match=r"no thing 'nope': give a \(measured-2026-11, unthrottled\)$"
    ):
        read_preset(
            PACKAGE, FOLDER, "nope", kind="thing", offer="a ({names})", error=InvalidInputError
        )
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b"\xff\xfe")
    with pytest.raises(KeyError, match="cannot read profile"):
        read(str(binary))
