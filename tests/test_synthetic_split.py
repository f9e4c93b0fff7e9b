"""A history drawn in parts (the writer's head, the generator process's rest) is the history."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
from archive_service_cli import synthetic
from archive_service_cli.synthetic import (
    BATCH,
    DEFAULT_START_TS,
    generate_history,
    iter_messages,
    synthetic_community,
)

from archive_service.store import Store


def _rows(batches: Iterable[tuple[list[Any], ...]]) -> list[tuple[Any, ...]]:
    return [tuple(bytes(v) if isinstance(v, bytearray) else v for v in row)
            for batch in batches for row in zip(*batch, strict=True)]  # fmt: skip


@pytest.mark.parametrize("split", [1, 6_999, 7_000, BATCH - 1, BATCH, BATCH + 3_001])
def test_rows_before_and_after_a_split_are_the_whole_history(split: int) -> None:
    community = synthetic_community(3, 4)
    n = BATCH + 7_000
    whole = _rows(synthetic._column_batches(community, n, 30, 3, DEFAULT_START_TS))
    head = _rows(
        synthetic._column_batches(community, n, 30, 3, DEFAULT_START_TS, 7_000, end_row=split)
    )
    rest = _rows(
        synthetic._column_batches(community, n, 30, 3, DEFAULT_START_TS, 7_000, first_row=split)
    )
    assert len(head) == split
    assert head + rest == whole


def test_rows_outside_the_history_are_refused() -> None:
    community = synthetic_community(3, 4)
    with pytest.raises(ValueError, match="outside"):
        next(synthetic._column_batches(community, 10, 1, 3, DEFAULT_START_TS, first_row=11))
    with pytest.raises(ValueError, match="outside"):
        next(synthetic._column_batches(community, 10, 1, 3, DEFAULT_START_TS, 5, 6, 4))


def test_the_writer_draws_the_head_and_the_process_the_rest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The first _INLINE_MAX rows come from the writer while the generator process starts; the
    # process continues after them: every row once, none twice (a duplicate would be deduped
    # by hash in the store, so count the rows handed to it).
    monkeypatch.setattr(synthetic, "_INLINE_MAX", 1_234)
    progress: list[int] = []
    with Store(tmp_path / "h.sqlite") as store:
        summary = generate_history(
            store, messages=25_000, days=3, topics=3, seed=11, progress=progress.append
        )
        assert summary.messages == summary.new_messages == 25_000
        expected = iter_messages(synthetic_community(11, 2), 25_000, 3, seed=11)
        assert store.message_hashes() == {m.hash for m in expected}
    # the head's batch, then the process's batches of 10,000 rows from row 1,234 on
    assert progress == [1_234, 11_234, 21_234, 25_000]
