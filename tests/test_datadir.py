"""The data dir's writer lock: an flock that names its holder, released however the holder
ends (kill -9 included), contended by real processes."""

from __future__ import annotations

import fcntl
import os
import signal
from pathlib import Path

import pytest
from cli_process import hold_in_child

from archive_service.datadir import DAEMON_LOCK, WRITER_LOCK, DataDirLock
from archive_service.errors import DataDirBusyError

pytestmark = pytest.mark.timeout(60)


def test_a_second_writer_is_refused_naming_the_holder(tmp_path: Path) -> None:
    child = hold_in_child(tmp_path)
    try:
        lock = DataDirLock(tmp_path, "archive-service create -d owner2")
        assert not lock.try_acquire()
        with pytest.raises(DataDirBusyError) as refused:
            lock.acquire()
        message = str(refused.value)
        assert f"held by pid {child.pid} (archive-service create -d owner)" in message
        assert str(tmp_path) in message and "\n" not in message
    finally:
        assert child.stdin is not None
        child.stdin.close()
        child.wait(timeout=10)
    # Released by the holder's exit: the next writer gets it.
    with DataDirLock(tmp_path, "next") as lock:
        assert lock.held
        assert (tmp_path / WRITER_LOCK).read_text() == f"{os.getpid()}\nnext\n"
    assert (tmp_path / WRITER_LOCK).read_text() == ""  # no stale holder named after release


def test_a_killed_holder_leaves_the_data_dir_free(tmp_path: Path) -> None:
    child = hold_in_child(tmp_path)
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=10)
    lock = DataDirLock(tmp_path, "after a crash")
    assert lock.try_acquire()  # no stale lock to clean up: the kernel dropped it
    lock.release()


def test_locks_of_different_names_are_independent(tmp_path: Path) -> None:
    daemon = DataDirLock(tmp_path, "archive-service seed", name=DAEMON_LOCK)
    writer = DataDirLock(tmp_path, "archive-service seed")
    with daemon:
        assert writer.try_acquire()  # the daemon writes now and then
        writer.release()
        assert not DataDirLock(tmp_path, "second seed", name=DAEMON_LOCK).try_acquire()


def test_an_unknown_holder_is_still_a_clear_line(tmp_path: Path) -> None:
    with DataDirLock(tmp_path, "x"):
        (tmp_path / WRITER_LOCK).write_text("garbage")
        with pytest.raises(DataDirBusyError, match="held by another process"):
            DataDirLock(tmp_path, "y").acquire(holder_wait=0)


def _held_unnamed(data_dir: Path) -> int:
    """The writer lock taken the way a holder has it in the instant before it writes its pid:
    locked (through its own open file, as another process would), the file still empty."""
    fd = os.open(data_dir / WRITER_LOCK, os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    return fd


def test_a_holder_that_has_not_written_its_pid_yet_is_still_named(tmp_path: Path) -> None:
    """Two `create`s started together: the loser must wait for the winner's pid, not say
    'another process' because it looked in the instant between the flock and the write."""
    fd = _held_unnamed(tmp_path)
    pauses: list[float] = []

    def holder_writes_its_pid(seconds: float) -> None:
        pauses.append(seconds)
        os.pwrite(fd, b"4242\narchive-service create -d owner\n", 0)

    try:
        with pytest.raises(DataDirBusyError) as refused:
            DataDirLock(tmp_path, "y").acquire(pause=holder_writes_its_pid)
        assert "held by pid 4242 (archive-service create -d owner)" in str(refused.value)
        assert len(pauses) == 1
    finally:
        os.close(fd)


def test_a_holder_that_lets_go_while_unnamed_hands_over_the_lock(tmp_path: Path) -> None:
    fd = _held_unnamed(tmp_path)
    lock = DataDirLock(tmp_path, "y")
    lock.acquire(pause=lambda _seconds: fcntl.flock(fd, fcntl.LOCK_UN))
    try:
        assert lock.held
    finally:
        lock.release()
        os.close(fd)
