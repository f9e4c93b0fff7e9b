"""Crash campaign: the owner's `create` killed with SIGKILL at many seeded checkpoints per
scenario (BitTorrent, Codex, both side by side), each followed by the same command again and
compared with a clean run. How a point is reached and what is compared: tests/crash/harness.py
(tests/crash runs a few of these points in CI).

    .venv/bin/python benchmarks/crash_campaign.py [--points 30] [--seed 1]
        [--scenarios torrent,codex,both] [--messages 2000]

`--points` is per scenario; points are spread over the whole run with a seeded jitter, so
every kind of step (renames, fsyncs, appends, uploads, store writes) is hit. Member scenarios
(kill during download and import) are not in this campaign yet: see the .md.

Writes benchmarks/results/crash_campaign.json and .md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections import Counter
from contextlib import ExitStack
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "crash"))
import harness  # the crash suite's harness, shared with tests/crash

RESULTS = Path(__file__).resolve().parent / "results"
SCENARIOS = {"torrent": ["torrent"], "codex": ["codex"], "both": ["torrent", "codex"]}


def _kind(step: str) -> str:
    """A checkpoint's kind without before/after and file name ('rename', 'codex upload')."""
    words = step.split(" ", 1)[1]
    return words.split(" <id>")[0] if words.startswith("rename") else words


def run_scenario(
    name: str, work: Path, store: Path, codex_url: str | None, points: int, seed: int
) -> dict[str, Any]:
    started = time.monotonic()
    scenario = harness.Scenario(work / name, SCENARIOS[name], codex_url=codex_url, store=store)
    total = scenario.clean()
    chosen = harness.pick_points(total, points, seed)
    outcomes = []
    for i, n in enumerate(chosen, 1):
        outcome = scenario.point(n)
        outcomes.append(outcome)
        mark = "ok" if outcome.survived else "FAILED"
        print(f"  {name} {i}/{len(chosen)} point {n} ({outcome.step}): {mark}", flush=True)
    failed = [o for o in outcomes if not o.survived]
    return {
        "backends": SCENARIOS[name],
        "checkpoints_in_clean_run": total,
        "archives_in_clean_run": len(scenario.expected[f"{SCENARIOS[name][0]}.archives"]),
        "points_run": len(outcomes),
        "killed_at_point": sum(o.killed for o in outcomes),
        "survived": len(outcomes) - len(failed),
        "step_kinds_hit": dict(Counter(_kind(o.step) for o in outcomes)),
        "failures": [
            {"point": o.point, "step": o.step, "differences": o.differences} for o in failed
        ],
        "seconds": harness.elapsed(started),
    }


def _commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "?"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=30, help="kill points per scenario")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--scenarios", default="torrent,codex,both")
    parser.add_argument("--messages", type=int, default=2000)
    args = parser.parse_args()
    names = [n.strip() for n in args.scenarios.split(",") if n.strip()]
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenario(s) {unknown}; choose from {sorted(SCENARIOS)}")

    started = time.monotonic()
    scenarios: dict[str, Any] = {}
    with ExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="crash-campaign-")))
        store = harness.generate(work / "generated" / "archive-service.sqlite", args.messages)
        codex_url = None
        if any("codex" in SCENARIOS[n] for n in names):
            codex_url = stack.enter_context(harness.codex_node(work / "codex-node"))
        for name in names:
            print(f"scenario {name}", flush=True)
            scenarios[name] = run_scenario(name, work, store, codex_url, args.points, args.seed)

    run = sum(s["points_run"] for s in scenarios.values())
    survived = sum(s["survived"] for s in scenarios.values())
    result = {
        "benchmark": "crash_campaign",
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "commit": _commit(),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "seed": args.seed,
        "messages": args.messages,
        "points_per_scenario": args.points,
        "points_run": run,
        "survived": survived,
        "member_scenarios": "not run: member resume (issue 11 item 1) was not on main yet",
        "scenarios": scenarios,
        "seconds": harness.elapsed(started),
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "crash_campaign.json").write_text(json.dumps(result, indent=2) + "\n")
    archives = next(iter(scenarios.values()))["archives_in_clean_run"] if scenarios else 0
    lines = [
        "# Crash campaign (owner `create`)",
        "",
        f"{result['date']}, commit {result['commit']}, {os.cpu_count()} CPUs, seed {args.seed}, "
        f"{args.messages} generated messages over 40 days, `create --to {harness.END}` "
        f"({archives} weekly archives per backend).",
        "",
        "Each point: `create` killed with SIGKILL at that checkpoint (a rename, fsync, torrent "
        "append, Codex upload or store write; before or after it), then the same `create` "
        "again, compared with a clean run (tests/crash/harness.py).",
        "",
        f"**{survived} of {run} kill points survived.**",
        "",
        "| scenario | checkpoints in a clean run | points run | killed at the point "
        "| survived | seconds |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, s in scenarios.items():
        lines.append(
            f"| {name} | {s['checkpoints_in_clean_run']} | {s['points_run']} | "
            f"{s['killed_at_point']} | {s['survived']} | {s['seconds']} |"
        )
    lines += ["", "Steps hit (kind: points):", ""]
    for name, s in scenarios.items():
        kinds = ", ".join(f"{k}: {v}" for k, v in sorted(s["step_kinds_hit"].items()))
        lines.append(f"- {name}: {kinds}")
    failures = [(n, f) for n, s in scenarios.items() for f in s["failures"]]
    if failures:
        lines += ["", "Failures:", ""]
        for n, f in failures:
            lines.append(f"- {n} point {f['point']} ({f['step']}): {f['differences']}")
    lines += ["", f"Member scenarios: {result['member_scenarios']}."]
    (RESULTS / "crash_campaign.md").write_text("\n".join(lines) + "\n")
    print(f"{survived} of {run} kill points survived ({result['seconds']} s)")
    if survived != run:
        sys.exit(1)


if __name__ == "__main__":
    main()
