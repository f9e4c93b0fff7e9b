"""`archive-service compare`: the A/B run end to end through the CLI (real processes, real
libtorrent sessions and local Codex nodes on 127.0.0.1), plus its statistics and rendering on
fixed data."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from archive_service_cli.compare import (
    CompareSettings,
    MemberResult,
    OwnerDone,
    OwnerReady,
    fresh_run_dirs,
    run_record,
    verify,
)
from archive_service_cli.report import (
    METRICS,
    fmt,
    fmt_stat,
    render_html,
    stat,
    summarize,
    table,
)
from archive_service_cli.resources import ResourceMeter, ResourceUsage
from rich.console import Console

from archive_service.errors import ConfigError

CLI = Path(sys.executable).with_name("archive-service")
BACKENDS = ("torrent", "logos-storage")


def run_cli(*args: str, timeout: float = 150) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "140", "NO_COLOR": "1"}
    return subprocess.run(
        [str(CLI), *args], capture_output=True, text=True, timeout=timeout, env=env
    )


# end to end ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def quick_compare(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("compare")
    started = time.monotonic()
    result = run_cli(
        "compare", "--messages", "2000", "--days", "14", "--repeat", "1", "--out", str(out)
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert time.monotonic() - started < 90
    return out, result.stdout


@pytest.mark.timeout(180)
def test_compare_prints_the_table_and_verification(quick_compare: tuple[Path, str]) -> None:
    out, stdout = quick_compare
    assert "archive-service compare" in stdout
    for backend in BACKENDS:
        assert backend in stdout
    for label in ("padding overhead", "first archive imported", "full import", "peak RSS"):
        assert label in stdout
    assert (
        "verified: every member (torrent, logos-storage) ended with the owner's 2,000 messages"
        in (" ".join(stdout.split()))
    )
    assert str(out / "compare.json") in stdout


@pytest.mark.timeout(180)
def test_compare_json_has_every_measurement(quick_compare: tuple[Path, str]) -> None:
    out, _ = quick_compare
    report = json.loads((out / "compare.json").read_text())
    assert report["settings"]["backends"] == list(BACKENDS)
    assert report["history"]["messages"] == 2000
    runs = report["runs"]
    assert [r["backend"] for r in runs] == list(BACKENDS)
    archives = {r["archives"] for r in runs}
    assert len(archives) == 1 and archives.pop() >= 2  # 14 days: two weekly archives, both
    for run in runs:
        b = run["bytes"]
        assert b["archives"] > 0
        assert b["stored_owner"] > b["archives"]  # padding (and the index) on top
        assert b["padding"] > 0 and run["padding_overhead"] > 0
        assert b["transferred"] >= b["archives"]
        assert run["archives_downloaded"] == run["archives_imported"] == run["archives"]
        t = run["times"]
        assert 0 < t["first_import"] <= t["full_import"]
        assert t["create"] > 0 and t["index"] is not None and t["download"] is not None
        for side in ("owner", "member"):
            assert run[side]["cpu"] > 0
            assert run[side]["peak_rss"] > 10 * 2**20
        m = run["messages"]
        assert m["owner"] == m["member"] == 2000
        assert m["owner_digest"] == m["member_digest"]
    # Same encoded archives through both backends; only the media differ.
    assert runs[0]["bytes"]["archives"] == runs[1]["bytes"]["archives"]
    torrent = runs[0]
    assert (
        torrent["bytes"]["transferred"]
        == torrent["bytes"]["archives"] + torrent["bytes"]["padding"]
    )
    for backend in BACKENDS:
        summary = report["summary"][backend]
        assert summary["times.full_import"]["n"] == 1
        assert summary["archives"]["median"] == runs[0]["archives"]
    v = report["verification"]
    assert v["identical"] is True and v["mismatched"] == []
    assert v["owner_messages"] == 2000
    assert v["member_digests"]["torrent"] == v["member_digests"]["logos-storage"] == [v["digest"]]


@pytest.mark.timeout(180)
def test_compare_html_is_self_contained_with_charts(quick_compare: tuple[Path, str]) -> None:
    out, _ = quick_compare
    page = (out / "compare.html").read_text()
    assert page.startswith("<!DOCTYPE html>")
    assert page.count("<svg") == 5
    for title in ("Time per phase", "Time to milestones", "Bytes per phase", "Peak RSS"):
        assert title in page
    assert "<rect" in page and "verified" in page
    # Offline: nothing to fetch.
    assert not re.search(r"https?://|<script|<link|@import|src=", page)
    logs = sorted(p.name for p in (out / "logs").iterdir())
    assert logs == [f"{b}-1-{side}.log" for b in sorted(BACKENDS) for side in ("member", "owner")]
    assert not (out / "work").exists()


def test_compare_missing_database_is_one_line_and_exit_1(tmp_path: Path) -> None:
    result = run_cli("compare", "--db", str(tmp_path / "nope.sqlite"), "--out", str(tmp_path))
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert " ".join(lines).startswith("error: database ")
    assert "does not exist" in result.stderr and "error" not in result.stdout


def test_a_run_starts_from_nothing_but_keeps_earlier_logs(tmp_path: Path) -> None:
    """An interrupted run leaves its history and node data in out/work: the next run in the
    same --out must not start its owner on them (it would find everything archived)."""
    leftover = tmp_path / "work" / "torrent-1" / "owner" / "archive-service.sqlite"
    leftover.parent.mkdir(parents=True)
    leftover.write_bytes(b"an interrupted run's store")
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "torrent-1-owner.log").write_text("earlier")
    work, logs = fresh_run_dirs(tmp_path)
    assert work.is_dir() and list(work.iterdir()) == []
    assert (logs / "torrent-1-owner.log").read_text() == "earlier"


def test_a_history_inside_the_run_folder_is_refused_not_deleted(tmp_path: Path) -> None:
    store = tmp_path / "work" / "history.sqlite"
    store.parent.mkdir()
    store.write_bytes(b"the user's store")
    with pytest.raises(ConfigError, match="which every run empties"):
        CompareSettings(db=store, out=tmp_path).check()
    assert store.read_bytes() == b"the user's store"
    CompareSettings(db=tmp_path / "history.sqlite", out=tmp_path).check()  # beside it: fine


def test_compare_unknown_backend_exits_1(tmp_path: Path) -> None:
    result = run_cli("compare", "--backends", "torrent,floppy", "--out", str(tmp_path))
    assert result.returncode == 1
    assert "no loopback provider for backend(s) floppy" in result.stderr


def test_compare_takes_the_old_backend_name_and_reports_the_new_one() -> None:
    assert CompareSettings(backends=("codex", "torrent")).backends == ("logos-storage", "torrent")
    with pytest.raises(ConfigError, match="names a backend twice: logos-storage,logos-storage"):
        CompareSettings(backends=("codex", "logos-storage")).check()


# statistics ---------------------------------------------------------------------------------
def test_stat_median_range_and_quartiles() -> None:
    s = stat([3.0, 1.0, 2.0])
    assert s is not None
    assert (s.median, s.min, s.max, s.q1, s.q3, s.n) == (2.0, 1.0, 3.0, 1.5, 2.5, 3)
    s = stat([4, 1, 3, 2])
    assert s is not None
    assert (s.median, s.q1, s.q3) == (2.5, 1.75, 3.25)


def test_stat_single_value_and_missing_values() -> None:
    s = stat([None, 7.0, None])
    assert s is not None
    assert (s.median, s.min, s.max, s.q1, s.q3, s.n) == (7.0, 7.0, 7.0, 7.0, 7.0, 1)
    assert stat([]) is None
    assert stat([None, None]) is None


def _usage(cpu: float, rss_mib: int) -> ResourceUsage:
    return ResourceUsage(cpu_user=cpu * 0.75, cpu_system=cpu * 0.25, peak_rss=rss_mib * 2**20)


def _run(backend: str, repeat: int, scale: float, member_digest: str = "d1") -> dict[str, Any]:
    owner = OwnerReady(
        shared={},
        link_message=b"",
        archives=2,
        archive_bytes=1_000_000,
        stored_bytes=1_100_000,
        padding_bytes=50_000,
        padding_base=1_000_000,
        create_s=0.1 * scale,
        seed_s=0.01 * scale,
        messages=100,
        digest="d1",
    )
    member = MemberResult(
        archives_downloaded=2,
        archives_imported=2,
        bytes_transferred=1_050_000,
        stored_bytes=1_050_000,
        index_s=0.02 * scale,
        download_s=0.05 * scale,
        first_import_s=0.06 * scale,
        full_import_s=0.08 * scale,
        messages=100 if member_digest == "d1" else 99,
        digest=member_digest,
        usage=_usage(0.2 * scale, 80),
    )
    return run_record(backend, repeat, owner, OwnerDone(_usage(0.3 * scale, 90)), member)


def _report(runs: list[dict[str, Any]], backends: tuple[str, ...] = BACKENDS) -> dict[str, Any]:
    return {
        "version": 1,
        "created": "2026-01-01T00:00:00+00:00",
        "settings": {
            "messages": 100,
            "days": 14,
            "topics": 3,
            "seed": 1,
            "encrypted": False,
            "backends": list(backends),
            "repeat": max(r["repeat"] for r in runs),
            "db": "/tmp/<odd & name>.sqlite",
        },
        "history": {"community_id": "0x02ab", "messages": 100, "start_ts": 0, "end_ts": 1},
        "machine": {"platform": "Linux", "python": "3.11", "cpus": 2, "memory": 1},
        "runs": runs,
        "summary": summarize(runs, backends),
        "verification": verify(runs),
    }


def test_run_record_phases_are_consecutive_durations() -> None:
    run = _run("torrent", 0, 1.0)
    assert run["repeat"] == 1
    assert run["padding_overhead"] == pytest.approx(0.05)
    phases = run["phases"]
    assert phases["index"] == pytest.approx(0.02)
    assert phases["download"] == pytest.approx(0.03)
    assert phases["import"] == pytest.approx(0.03)
    assert run["owner"]["cpu"] == pytest.approx(0.3)
    assert run["member"]["peak_rss"] == 80 * 2**20


def test_summarize_gives_medians_and_spread_per_backend() -> None:
    runs = [_run(b, i, scale) for i, scale in enumerate((1.0, 3.0, 2.0)) for b in BACKENDS]
    summary = summarize(runs, BACKENDS)
    full = summary["logos-storage"]["times.full_import"]
    assert full is not None
    assert full["n"] == 3
    assert full["median"] == pytest.approx(0.16)
    assert (full["min"], full["max"]) == (pytest.approx(0.08), pytest.approx(0.24))
    assert summary["torrent"]["archives"] == {
        "median": 2.0, "min": 2.0, "max": 2.0, "q1": 2.0, "q3": 2.0, "n": 3,
    }  # fmt: skip
    assert set(summary["torrent"]) >= {m.key for m in METRICS} | {"phases.import"}


def test_verify_flags_a_member_that_differs() -> None:
    good = verify([_run("torrent", 0, 1.0), _run("codex", 0, 1.0)])
    assert good["identical"] and good["digest"] == "d1"
    bad = verify([_run("torrent", 0, 1.0), _run("codex", 0, 1.0, member_digest="d2")])
    assert not bad["identical"]
    assert bad["mismatched"] == ["codex #1: 99 of 100 messages"]
    assert bad["member_digests"] == {"torrent": ["d1"], "codex": ["d2"]}


def test_formatting_of_values_and_ranges() -> None:
    assert fmt(None, "s") == "–"
    assert fmt(512, "B") == "512 B"
    assert fmt(3 * 2**20, "B") == "3.00 MiB"
    assert fmt(0.0512, "ratio") == "5.12 %"
    assert fmt(0.1234, "s") == "0.123 s"
    assert fmt(2, "") == "2"
    one = {"median": 2.0, "min": 2.0, "max": 2.0, "n": 1}
    assert fmt_stat(one, "s") == "2.000 s"
    spread = {"median": 2 * 2**20, "min": 1.5 * 2**20, "max": 3 * 2**20, "n": 3}
    assert fmt_stat(spread, "B") == "2.00 MiB [1.50–3.00]"


def test_table_on_fixed_data_shows_medians_and_ranges() -> None:
    runs = [_run(b, i, scale) for i, scale in enumerate((1.0, 3.0)) for b in BACKENDS]
    console = Console(record=True, width=140)
    console.print(table(_report(runs)))
    text = console.export_text()
    assert "median [min–max] of 2 runs" in text
    assert "0.160 s [0.080–0.240]" in text  # full import
    assert "5.00 %" in text  # padding overhead, equal in both runs: no range


def test_html_on_fixed_data_has_charts_and_escapes_text() -> None:
    runs = [_run(b, i, scale) for i, scale in enumerate((1.0, 3.0)) for b in BACKENDS]
    page = render_html(_report(runs))
    assert page.count("<svg") == 5
    assert "&lt;odd &amp; name&gt;" in page and "<odd" not in page
    # Whiskers for the two differing runs; a stacked bar segment per phase and backend.
    assert 'class="whisker"' in page
    assert page.count("download (member):") == 2
    assert "0.160 s [0.080–0.240]" in page
    assert not re.search(r"https?://|<script", page)
    mismatch = render_html(_report([_run("torrent", 0, 1.0, member_digest="d2")], ("torrent",)))
    assert 'class="bad"' in mismatch and "MISMATCH" in mismatch


# resources ----------------------------------------------------------------------------------
def test_resource_meter_counts_child_processes() -> None:
    meter = ResourceMeter(interval=0.02).start()
    busy = "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.4: pass\n"
    subprocess.run([sys.executable, "-c", busy], check=True)
    usage = meter.stop()
    assert usage.cpu >= 0.3  # the child's CPU, seen while it ran
    assert usage.peak_rss > 0
