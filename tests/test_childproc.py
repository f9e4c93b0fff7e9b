"""archive_service_cli.childproc: a child that raises tells its parent why, exits 1 and closes
its end of the pipe; one that returns exits 0."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

from archive_service_cli.childproc import Channel, Failed, redirect_output, run_child

from archive_service.errors import InvalidInputError


async def _fails(channel: Channel) -> None:
    channel.send("started")
    raise InvalidInputError("the history is empty")


async def _succeeds(channel: Channel) -> None:
    channel.send("done")


def _child(conn: multiprocessing.connection.Connection, log: Path, fail: bool) -> None:
    redirect_output(log)
    run_child(conn, _fails if fail else _succeeds, "test")


def _run(tmp_path: Path, fail: bool) -> tuple[list[object], int | None]:
    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe()
    proc = context.Process(target=_child, args=(child, tmp_path / "child.log", fail))
    proc.start()
    child.close()
    received: list[object] = []
    while True:
        try:
            received.append(parent.recv())
        except EOFError:
            break
    proc.join(timeout=60)
    return received, proc.exitcode


def test_a_failing_child_reports_the_error_and_exits_1(tmp_path: Path) -> None:
    received, code = _run(tmp_path, fail=True)
    assert received == ["started", Failed("InvalidInputError: the history is empty")]
    assert code == 1
    assert "test process failed" in (tmp_path / "child.log").read_text()


def test_a_child_that_returns_exits_0(tmp_path: Path) -> None:
    assert _run(tmp_path, fail=False) == (["done"], 0)
