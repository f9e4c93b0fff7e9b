"""The data dir's writer lock: an flock that names its holder, released however the holder
ends (kill -9 included), contended by real processes."""

from __future__ import annotations

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
            DataDirLock(tmp_path, "y").acquire()
