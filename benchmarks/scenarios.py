"""Run the bundled scenarios (or collect their reports) and write the results table.

    .venv/bin/python benchmarks/scenarios.py                    # run all three presets
    .venv/bin/python benchmarks/scenarios.py --messages 5000    # a reduced history
    .venv/bin/python benchmarks/scenarios.py --reports DIR...   # tables from finished runs

Each preset runs through `archive-service compare --scenario PRESET` (the same code) with its
report in <work>/<preset>/scenario.json. Writes benchmarks/results/scenarios.json (the reports'
summaries) and scenarios.md (the table, the machine, the shaping engine, the Codex profile and
the model caveat). The target of issue 12: BitTorrent in large-community completes every member
within 2x the owner-uplink bound.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PRESETS = ("small-community", "large-community", "owner-gone")
CLI = Path(sys.executable).with_name("archive-service")


def fmt_s(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f}"


def fmt_mib(value: float | None) -> str:
    return "–" if value is None else f"{value / 2**20:.1f}"


def rows(report: dict[str, Any]) -> list[str]:
    out = []
    name = report["scenario"]["name"]
    for run in report["runs"]:
        s = run["summary"]
        ratio = s["bound_ratio"]
        stored = [m["stored"] or 0 for m in run["members"]]
        out.append(
            f"| {name} | {run['backend']} | {s['completed']}/{s['members']} "
            f"| {fmt_s(s['first_import_s']['median'])} "
            f"| {fmt_s(s['full_import_s']['median'])} / {fmt_s(s['full_import_s']['p90'])} / "
            f"{fmt_s(s['full_import_s']['max'])} | {fmt_s(s['all_complete_s'])} "
            f"| {fmt_s(run['owner_uplink_bound_s'])} "
            f"| {'–' if ratio is None else f'{ratio:.2f}×'} "
            f"| {fmt_mib(s['owner_uploaded'])} | {fmt_mib(s['wire_bytes'])} "
            f"| {fmt_mib(run['owner']['stored'])} / {fmt_mib(max(stored, default=0))} "
            f"| {run['engine']} |"
        )
    return out


def markdown(reports: list[dict[str, Any]]) -> str:
    first = reports[0]
    machine = first["machine"]
    not_applied = sorted({n for r in reports for run in r["runs"] for n in run["not_applied"]})
    failures = [
        f"- {r['scenario']['name']} {run['backend']} {f['member']}: {f['reason'][:240]}"
        for r in reports
        for run in r["runs"]
        for f in run["summary"]["never_completed"]
    ]
    lines = [
        "# Scenarios: members at community scale",
        "",
        f"Machine: {machine['platform']}, {machine['cpus']} CPUs, "
        f"{machine['memory'] / 2**30:.0f} GiB, Python {machine['python']}. "
        f"History: {first['history']['messages']:,} messages "
        f"({first['runs'][0]['archive_bytes'] / 2**20:.1f} MiB in "
        f"{first['runs'][0]['archives']} archives). "
        f"Shaping engine: {first['runs'][0]['engine']} ({first['runs'][0]['engine_why']}); "
        f"not applied: {'; '.join(not_applied) or 'nothing'}. "
        f"Codex profile: `{first['codex_profile']}`.",
        "",
        "Times in seconds from the first member handling the owner's link (a member's own "
        "times from its own join); MiB for bytes. *Bound*: history ÷ owner uplink, the least "
        "time while the owner is the only source. *÷ bound*: all members complete ÷ bound.",
        "",
        "| scenario | backend | complete | first import median | full import median / p90 / "
        "max | all complete | bound | ÷ bound | owner uploaded | on the wire | stored owner / "
        "member | engine |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for report in reports:
        lines += rows(report)
    lines += ["", "Members that never completed:", *(failures or ["- none"]), ""]
    lines += [f"**Codex model caveat.** {first['model_caveat']}", ""]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", nargs="*", type=Path, help="finished runs' out folders")
    parser.add_argument("--messages", type=int, help="history size instead of the presets'")
    parser.add_argument("--work", type=Path, default=Path("scenario-runs"))
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    parser.add_argument("--notes", type=Path, help="markdown appended to scenarios.md")
    args = parser.parse_args()
    folders = args.reports
    if not folders:
        folders = []
        for preset in PRESETS:
            folder = args.work / preset
            extra = ["--messages", str(args.messages)] if args.messages else []
            command = [str(CLI), "compare", "--scenario", preset, "--out", str(folder), *extra]
            subprocess.run(command, check=True, env={**os.environ, "COLUMNS": "160"})
            folders.append(folder)
    reports = [json.loads((f / "scenario.json").read_text()) for f in folders]
    by_name: dict[str, dict[str, Any]] = {}
    for report in reports:  # several folders of one scenario (e.g. a backend re-run): merged
        name = report["scenario"]["name"]
        if name in by_name:
            kept = by_name[name]
            fresh = {run["backend"] for run in report["runs"]}
            kept["runs"] = [r for r in kept["runs"] if r["backend"] not in fresh] + report["runs"]
        else:
            by_name[name] = report
    reports = list(by_name.values())
    args.out.mkdir(parents=True, exist_ok=True)
    summary = [
        {
            "scenario": r["scenario"],
            "codex_profile": r["codex_profile"],
            "machine": r["machine"],
            "runs": [
                {
                    k: run[k]
                    for k in (
                        "backend",
                        "engine",
                        "not_applied",
                        "archive_bytes",
                        "owner_uplink_bound_s",
                        "owner",
                        "members",
                        "summary",
                    )
                }
                for run in r["runs"]
            ],
        }
        for r in reports
    ]
    (args.out / "scenarios.json").write_text(json.dumps(summary, indent=2) + "\n")
    notes = args.notes.read_text() if args.notes else ""
    (args.out / "scenarios.md").write_text(markdown(reports) + ("\n" + notes if notes else ""))
    print(markdown(reports))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
