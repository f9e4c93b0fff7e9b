"""fsutil: a file appears whole at its name or not at all, and nothing is left beside it."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from archive_service.fsutil import AtomicFile, atomic_write


def test_atomic_write_replaces_and_leaves_nothing_else(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "file"
    atomic_write(target, b"one")
    atomic_write(target, b"two", mode=0o600)
    assert target.read_bytes() == b"two"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    atomic_write(target, b"three", durable=False)
    assert target.read_bytes() == b"three"
    assert os.listdir(target.parent) == ["file"]


def test_atomic_file_commits_on_a_normal_exit(tmp_path: Path) -> None:
    target = tmp_path / "download"
    with AtomicFile(target) as out:
        out.write(b"part 1, ")
        out.write(memoryview(b"part 2"))
        assert not target.exists()  # nothing under the name until the commit
        assert out.tmp.name.startswith(".download.") and out.tmp.exists()
    assert target.read_bytes() == b"part 1, part 2"
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    assert os.listdir(tmp_path) == ["download"]


def test_atomic_file_keeps_the_old_file_on_an_error(tmp_path: Path) -> None:
    target = tmp_path / "download"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError), AtomicFile(target) as out:
        out.write(b"half of the new")
        raise RuntimeError("connection lost")
    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["download"]


def test_explicit_commit_and_discard_are_idempotent(tmp_path: Path) -> None:
    with AtomicFile(tmp_path / "kept") as out:
        out.write(b"x")
        out.commit()  # e.g. from asyncio.to_thread, so the fsyncs do not block the loop
        out.commit()
    with AtomicFile(tmp_path / "dropped") as out:
        out.write(b"y")
        out.discard()
    assert os.listdir(tmp_path) == ["kept"]
