"""fsutil: a file appears whole at its name or not at all (file and folder fsynced), and nothing
is left beside it."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from killed_writer import killed_writer

from archive_service import fsutil
from archive_service.fsutil import AtomicFile, atomic_write, remove_stale_tmp


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


def test_atomic_write_replaces_and_fsyncs_file_and_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced: list[str] = []
    real_fsync = os.fsync

    def recording_fsync(fd: int) -> None:
        mode = os.fstat(fd).st_mode
        synced.append("dir" if stat.S_ISDIR(mode) else "file")
        real_fsync(fd)

    monkeypatch.setattr(fsutil.os, "fsync", recording_fsync)
    path = tmp_path / "new" / "key"
    fsutil.atomic_write(path, b"one", mode=0o600, dir_mode=0o700)
    assert path.read_bytes() == b"one"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) & 0o077 == 0
    assert synced == ["file", "dir"]  # the data before the rename, the rename after it

    fsutil.atomic_write(path, b"two")
    assert path.read_bytes() == b"two"
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert sorted(p.name for p in path.parent.iterdir()) == ["key"]  # no temporary file left


def test_failed_write_leaves_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "index"
    fsutil.atomic_write(path, b"old")

    def failing_replace(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(fsutil.os, "replace", failing_replace)
    with pytest.raises(OSError, match="No space"):
        fsutil.atomic_write(path, b"new")
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["index"]


def test_remove_stale_tmp_removes_what_a_killed_process_left(tmp_path: Path) -> None:
    left = [killed_writer(tmp_path / "index"), killed_writer(tmp_path / "a" / "b" / "key")]
    assert all(p.exists() for p in left)
    (tmp_path / "index").write_bytes(b"kept")
    (tmp_path / ".hidden.tmp").write_bytes(b"not ours")  # not an AtomicFile name: kept
    live = AtomicFile(tmp_path / "in-progress")  # this process is alive: kept
    live.write(b"x")

    removed = remove_stale_tmp(tmp_path)

    assert sorted(removed) == sorted(left) and not any(p.exists() for p in left)
    assert (tmp_path / "index").read_bytes() == b"kept"
    assert (tmp_path / ".hidden.tmp").exists() and live.tmp.exists()
    live.commit()
    assert (tmp_path / "in-progress").read_bytes() == b"x"
    assert remove_stale_tmp(tmp_path) == []
