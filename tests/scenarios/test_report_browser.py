"""The scenario report renders in a real headless browser (Debian's chromium), and its charts
carry data. Nothing may load from outside the machine: the charts are inline SVG."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from archive_service_cli.swarm import ScenarioOutcome

CHROMIUM = Path("/usr/bin/chromium")


@pytest.mark.timeout(150)
@pytest.mark.skipif(
    not CHROMIUM.exists(), reason="chromium is not installed (apt-get install chromium)"
)
def test_the_report_renders_with_charts(shaped_outcome: ScenarioOutcome, tmp_path: Path) -> None:
    html = shaped_outcome.html_path.read_text()
    assert "<script" not in html and not re.search(r'(src|href)="https?://', html)
    done = subprocess.run(
        [
            str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}",
            "--dump-dom", shaped_outcome.html_path.as_uri(),
        ],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    dom = done.stdout
    assert "Scenario three-shaped" in dom
    # The CDF has one series per backend, each with every member's completion.
    cdf = re.search(r'<svg class="chart cdf".*?</svg>', dom, re.S)
    assert cdf is not None
    assert re.findall(r'data-backend="([\w-]+)" data-points="(\d+)"', cdf.group(0)) == [
        ("torrent", "3"),
        ("logos-storage", "3"),
    ]
    # Per-node bytes: owner and three members, uploaded and stored, for each backend.
    bars = re.findall(r'class="bar" data-node="[^"]+" data-kind="(\w+)" data-bytes="(\d+)"', dom)
    assert len(bars) == 2 * 4 * 2 and sum(int(b) for k, b in bars if k == "stored") > 0
    # Holders over time: a series per archive per backend, each reaching three members.
    holders = re.findall(r'<svg class="chart holders".*?</svg>', dom, re.S)
    assert len(holders) == 2
    for chart in holders:
        counts = re.findall(r'data-archive="\w+" data-points="(\d+)"', chart)
        assert counts and set(counts) == {"3"}
    assert "measured-2026-11" in dom and "sharing-and-performance-model" in dom
