"""Crash campaign: the owner's `create` killed with SIGKILL at many seeded checkpoints per
scenario (BitTorrent, Codex, both side by side), each followed by the same command again, and
the member's `fetch --join --yes --message M` killed during its download or its import (per
backend), each resumed by the same command or a bare node start (alternating); every point is
compared with a clean run. How a point is reached and what is compared: tests/crash/harness.py
(tests/crash runs a few of these points in CI).

    .venv/bin/python benchmarks/crash_campaign.py [--points 30] [--seed 1]
        [--scenarios torrent,codex,both,member-torrent-download,...] [--messages 2000]
        [--keep-other-scenarios]

`--points` is per scenario; points are spread over the run (or over the phase's steps) with
a seeded jitter, so every kind of step (renames, fsyncs, appends, uploads, store writes,
archive records, imports) is hit. `--keep-other-scenarios` keeps the scenarios of the last
results that this run does not repeat (each scenario records its own date and commit).

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
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

# The harness (tests/crash) and the CLI helpers it uses (tests).
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "crash"))
import harness  # the crash suite's harness, shared with tests/crash

RESULTS = Path(__file__).resolve().parent / "results"
SCENARIOS = {"torrent": ["torrent"], "codex": ["codex"], "both": ["torrent", "codex"]}
MEMBER_SCENARIOS = {
    f"member-{backend}-{phase}": (backend, phase)
    for backend in ("torrent", "codex")
    for phase in ("download", "import")
}
ALL_SCENARIOS = [*SCENARIOS, *MEMBER_SCENARIOS]


def _kind(step: str) -> str:
    """A checkpoint's kind without before/after and file name ('rename', 'codex upload')."""
    words = step.split(" (then ")[0].split(" ", 1)[1]
    return words.split(" <id>")[0] if words.startswith("rename") else words


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def run_scenario(
    name: str, work: Path, store: Path, codex_url: str | None, points: int, seed: int
) -> dict[str, Any]:
    started = time.monotonic()
    scenario = harness.Scenario(work / name, SCENARIOS[name], codex_url=codex_url, store=store)
    total = scenario.clean()
    chosen = harness.pick_points(total, points, seed)
    outcomes = _run_points(name, chosen, lambda _i, n: scenario.point(n))
    return {
        "backends": SCENARIOS[name],
        "checkpoints_in_clean_run": total,
        "archives_in_clean_run": len(scenario.expected[f"{SCENARIOS[name][0]}.archives"]),
        **_summary(outcomes, started),
    }


def run_member_scenario(
    name: str, member: harness.MemberScenario, points: int, seed: int
) -> dict[str, Any]:
    """Points of one phase of the member's fetch; restarts alternate between the same
    command and a bare node start."""
    started = time.monotonic()
    _, phase = MEMBER_SCENARIOS[name]
    steps = member.points_in(phase)
    chosen = [steps[i - 1] for i in harness.pick_points(len(steps), points, seed)]
    outcomes = _run_points(
        name, chosen, lambda i, n: member.point(n, "fetch" if i % 2 else "start")
    )
    restarts = Counter(o.step.rsplit("(then ", 1)[1].rstrip(")") for o in outcomes)
    return {
        "backends": [member.backend],
        "role": "member",
        "phase": phase,
        "checkpoints_in_clean_run": len(member.steps),
        "checkpoints_in_phase": len(steps),
        "archives_in_clean_run": len(member.archives),
        "restarts": dict(restarts),
        **_summary(outcomes, started),
    }


def _run_points(
    name: str, chosen: list[int], run_point: Callable[[int, int], harness.Outcome]
) -> list[harness.Outcome]:
    """Run the `chosen` points in turn (`run_point(i, point)`, i from 1), printing each."""
    outcomes = []
    for i, n in enumerate(chosen, 1):
        outcome = run_point(i, n)
        outcomes.append(outcome)
        mark = "ok" if outcome.survived else "FAILED"
        print(f"  {name} {i}/{len(chosen)} point {n} ({outcome.step}): {mark}", flush=True)
    return outcomes


def _summary(outcomes: list[harness.Outcome], started: float) -> dict[str, Any]:
    """What every scenario's result records of its points, and when and where it ran."""
    failed = [o for o in outcomes if not o.survived]
    return {
        "points_run": len(outcomes),
        "killed_at_point": sum(o.killed for o in outcomes),
        "survived": len(outcomes) - len(failed),
        "step_kinds_hit": dict(Counter(_kind(o.step) for o in outcomes)),
        "failures": [
            {"point": o.point, "step": o.step, "differences": o.differences} for o in failed
        ],
        "seconds": harness.elapsed(started),
        "date": _now(),
        "commit": _commit(),
    }


def _commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "?"


def _machine() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "processor": platform.machine(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=30, help="kill points per scenario")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--scenarios", default=",".join(ALL_SCENARIOS))
    parser.add_argument("--messages", type=int, default=2000, help="owner scenarios' history")
    parser.add_argument("--member-messages", type=int, default=3000)
    parser.add_argument("--keep-other-scenarios", action="store_true")
    args = parser.parse_args()
    names = [n.strip() for n in args.scenarios.split(",") if n.strip()]
    unknown = [n for n in names if n not in ALL_SCENARIOS]
    if unknown:
        parser.error(f"unknown scenario(s) {unknown}; choose from {ALL_SCENARIOS}")

    started = time.monotonic()
    load_before = os.getloadavg()
    scenarios: dict[str, Any] = {}
    owner_names = [n for n in names if n in SCENARIOS]
    with ExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="crash-campaign-")))
        if owner_names:
            store = harness.generate(work / "generated" / "archive-service.sqlite", args.messages)
            codex_url = None
            if any("codex" in SCENARIOS[n] for n in owner_names):
                codex_url = stack.enter_context(harness.codex_node(work / "codex-node"))
            for name in owner_names:
                print(f"scenario {name}", flush=True)
                scenarios[name] = run_scenario(name, work, store, codex_url, args.points, args.seed)
                scenarios[name]["role"] = "owner"
        for backend in ("torrent", "codex"):
            mine = [n for n in names if MEMBER_SCENARIOS.get(n, ("", ""))[0] == backend]
            if not mine:
                continue
            member = stack.enter_context(
                harness.MemberScenario(
                    work / f"member-{backend}", backend, messages=args.member_messages
                )
            )
            member.clean()
            for name in mine:
                print(f"scenario {name}", flush=True)
                scenarios[name] = run_member_scenario(name, member, args.points, args.seed)
    load_after = os.getloadavg()

    previous: dict[str, Any] = {}
    if args.keep_other_scenarios and (RESULTS / "crash_campaign.json").exists():
        previous = json.loads((RESULTS / "crash_campaign.json").read_text())
        for name, kept in previous.get("scenarios", {}).items():
            kept.setdefault("role", "member" if name.startswith("member-") else "owner")
            kept.setdefault("date", previous.get("date"))
            kept.setdefault("commit", previous.get("commit"))
            kept.setdefault("seed", previous.get("seed"))
            scenarios.setdefault(name, kept)
    for s in scenarios.values():
        s.setdefault("seed", args.seed)
    scenarios = {n: scenarios[n] for n in ALL_SCENARIOS if n in scenarios}

    run = sum(s["points_run"] for s in scenarios.values())
    survived = sum(s["survived"] for s in scenarios.values())
    earlier = previous.get("runs") or [
        # Results written before runs were recorded: their one run, load average unknown.
        {k: previous[k] for k in ("date", "commit", "seed", "seconds") if k in previous}
        | {"scenarios": list(previous.get("scenarios", {}))}
    ]
    runs = [
        *(earlier if previous else []),
        {
            "date": _now(),
            "commit": _commit(),
            "seed": args.seed,
            "scenarios": names,
            "seconds": harness.elapsed(started),
            "load_average_before": [round(x, 2) for x in load_before],
            "load_average_after": [round(x, 2) for x in load_after],
        },
    ]
    result = {
        "benchmark": "crash_campaign",
        "date": _now(),
        "commit": _commit(),
        "machine": _machine(),
        "seed": args.seed,
        "messages": args.messages,
        "member_messages": args.member_messages,
        "points_per_scenario": args.points,
        "points_run": run,
        "survived": survived,
        "scenarios": scenarios,
        "runs": runs,
        "seconds": round(sum(r["seconds"] for r in runs), 1),
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "crash_campaign.json").write_text(json.dumps(result, indent=2) + "\n")
    machine = result["machine"]
    lines = [
        "# Crash campaign (owner `create`, member `fetch`)",
        "",
        f"{result['date']}, {machine['cpus']} CPUs ({machine['processor']}, "
        f"{machine['platform']}, Python {machine['python']}), shared with other jobs.",
        "",
        "Owner points: `create --to "
        f"{harness.END}` over {args.messages} generated messages (40 days, 6 weekly archives) "
        "killed with SIGKILL at a checkpoint (a rename, fsync, torrent append, Codex upload or "
        "store write; before or after it), then the same `create` again.",
        "",
        "Member points: `fetch --join --yes --message M` of an owner's history "
        f"({args.member_messages} messages over 70 days, 10 weekly archives; BitTorrent from the "
        "owner's `seed`, Codex through a second local node) killed with SIGKILL at a "
        "checkpoint of its download (renames, fsyncs, archive records, each downloaded event) "
        "or of its import (an archive's messages stored and marked in one transaction, each "
        "imported event), then resumed by the same command or a bare node start, alternating. "
        "Checked: at the crash, every archive marked imported has its whole window stored; "
        "after the resume, the owner's message set, no row twice, the clean run's archives all "
        "imported, no temporary file left.",
        "",
        "Every point is compared with a clean run (tests/crash/harness.py).",
        "",
        f"**{survived} of {run} kill points survived.**",
        "",
        "| scenario | role | seed | checkpoints in a clean run (phase) | points run "
        "| killed at the point | survived | seconds | run at (commit) |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for name, s in scenarios.items():
        steps = str(s["checkpoints_in_clean_run"])
        if "checkpoints_in_phase" in s:
            steps += f" ({s['checkpoints_in_phase']})"
        lines.append(
            f"| {name} | {s['role']} | {s['seed']} | {steps} | {s['points_run']} | "
            f"{s['killed_at_point']} | {s['survived']} | {s['seconds']} | "
            f"{s['date']} ({s['commit']}) |"
        )
    lines += ["", "Runs (load average: 1, 5, 15 min):", ""]
    for r in runs:
        lines.append(
            f"- {r['date']}, commit {r['commit']}, seed {r['seed']}: {', '.join(r['scenarios'])}"
            f" in {r['seconds']} s; load {r.get('load_average_before', '?')} before, "
            f"{r.get('load_average_after', '?')} after"
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
    (RESULTS / "crash_campaign.md").write_text("\n".join(lines) + "\n")
    print(f"{survived} of {run} kill points survived ({harness.elapsed(started)} s)")
    if survived != run:
        sys.exit(1)


if __name__ == "__main__":
    main()
