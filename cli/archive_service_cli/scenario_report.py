"""The report of a scenario run: JSON, and HTML with inline SVG charts drawn here (no script,
nothing loaded from elsewhere): the completion-time CDF per backend, bytes per node, and how
many members hold each archive over time."""

from __future__ import annotations

import html
import json
import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from archive_service.fsutil import atomic_write
from archive_service.ids import community_hex
from archive_service_cli.compare import History
from archive_service_cli.scenario import Scenario

REPORT_VERSION = 1
MODEL_CAVEAT = (
    "Codex figures come from the local Codex-compatible simulator with the performance profile "
    "named here, not from a real Codex network: it has no DHT discovery, no want-list protocol "
    "over libp2p, no erasure coding and no marketplace. See simulators/codex-node/README.md, "
    "section 'The sharing and performance model'."
)
MODEL_LINK = "simulators/codex-node/README.md#the-sharing-and-performance-model"
COLORS = {"torrent": "#1f77b4", "logos-storage": "#d62728", "codex": "#d62728"}
PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2"]


def spread(values: list[float]) -> dict[str, float | None]:
    """median, p90 and max (nearest rank) of `values`; None when empty."""
    if not values:
        return {"median": None, "p90": None, "max": None, "n": 0}
    ordered = sorted(values)

    def rank(q: float) -> float:
        return ordered[max(0, math.ceil(q * len(ordered)) - 1)]

    return {"median": rank(0.5), "p90": rank(0.9), "max": ordered[-1], "n": len(ordered)}


def summarize_run(run: dict[str, Any]) -> dict[str, Any]:
    members = run["members"]
    done = [m for m in members if m["completed"]]
    bound = run["owner_uplink_bound_s"]
    full = spread([m["full_import_s"] for m in done])
    # Completion measured from the run's start (late joiners from their own join).
    return {
        "members": len(members),
        "completed": len(done),
        "first_import_s": spread([m["first_import_s"] for m in done if m["first_import_s"]]),
        "full_import_s": full,
        "all_complete_s": max((m["joined_s"] + m["full_import_s"] for m in done), default=None)
        if len(done) == len(members)
        else None,
        "never_completed": [
            {"member": m["name"], "reason": m["reason"]} for m in members if not m["completed"]
        ],
        "owner_uploaded": run["owner"]["uploaded"],
        "wire_bytes": run["wire_bytes"],
        "bound_ratio": (
            max(m["joined_s"] + m["full_import_s"] for m in done) / bound
            if bound and done and len(done) == len(members)
            else None
        ),
    }


def build_report(
    scenario: Scenario, history: History, runs: list[dict[str, Any]], machine: dict[str, Any]
) -> dict[str, Any]:
    for run in runs:
        run["summary"] = summarize_run(run)
    return {
        "version": REPORT_VERSION,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "scenario": {
            "name": scenario.name,
            "description": scenario.description,
            "members": scenario.members,
            "late_joiners": scenario.late_joiners,
            "owner_leaves": scenario.owner_leaves,
            "churn": scenario.churn,
            "shaping_bits_per_s": scenario.shaping.settings(),
            "history": vars(scenario.history),
        },
        "codex_profile": scenario.codex_profile,
        "model_caveat": MODEL_CAVEAT,
        "model_link": MODEL_LINK,
        "history": {
            "community_id": community_hex(history.community.id),
            "messages": history.messages,
        },
        "machine": machine,
        "runs": runs,
    }


def write_report(report: dict[str, Any], out: Path) -> tuple[Path, Path]:
    out.mkdir(parents=True, exist_ok=True)
    json_path, html_path = out / "scenario.json", out / "scenario.html"
    atomic_write(json_path, (json.dumps(report, indent=2) + "\n").encode())
    atomic_write(html_path, render_html(report).encode())
    return json_path, html_path


# HTML ---------------------------------------------------------------------------------------
W, H, PAD = 560, 260, 44


def fmt_seconds(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f} s"


def fmt_bytes(value: float | None) -> str:
    if value is None:
        return "–"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(value) < 1024 or unit == "GiB":
            return f"{value:,.1f} {unit}" if unit != "B" else f"{value:,.0f} B"
        value /= 1024
    return str(value)


def _axes(xmax: float, ymax: float, xlabel: str, ylabel: str, xticks: bool = True) -> list[str]:
    parts = [
        f'<line x1="{PAD}" y1="{H - PAD}" x2="{W - 10}" y2="{H - PAD}" stroke="#333"/>',
        f'<line x1="{PAD}" y1="10" x2="{PAD}" y2="{H - PAD}" stroke="#333"/>',
        f'<text x="{W / 2}" y="{H - 8}" text-anchor="middle" font-size="12">'
        f"{html.escape(xlabel)}</text>",
        f'<text x="12" y="{H / 2}" font-size="12" transform="rotate(-90 12 {H / 2})" '
        f'text-anchor="middle">{html.escape(ylabel)}</text>',
    ]
    for i in range(5):
        fx, fy = xmax * i / 4, ymax * i / 4
        x = PAD + (W - 10 - PAD) * i / 4
        y = H - PAD - (H - PAD - 10) * i / 4
        if xticks:
            parts.append(f'<text x="{x:.1f}" y="{H - PAD + 14}" font-size="10" '
                         f'text-anchor="middle">{fx:.3g}</text>')  # fmt: skip
        parts.append(f'<text x="{PAD - 4}" y="{y + 3:.1f}" font-size="10" '
                     f'text-anchor="end">{fy:.3g}</text>')  # fmt: skip
    return parts


def _xy(x: float, y: float, xmax: float, ymax: float) -> tuple[float, float]:
    return (
        PAD + (W - 10 - PAD) * (x / xmax if xmax else 0),
        H - PAD - (H - PAD - 10) * (y / ymax if ymax else 0),
    )


def _svg(cls: str, title: str, parts: list[str]) -> str:
    return (
        f'<svg class="chart {cls}" xmlns="http://www.w3.org/2000/svg" width="{W}" '
        f'height="{H}" viewBox="0 0 {W} {H}" role="img"><title>{html.escape(title)}</title>'
        + "".join(parts)
        + "</svg>"
    )


def cdf_chart(runs: list[dict[str, Any]]) -> str:
    series = {
        r["backend"]: sorted(
            m["joined_s"] + m["full_import_s"] for m in r["members"] if m["completed"]
        )
        for r in runs
    }
    total = {r["backend"]: len(r["members"]) for r in runs}
    xmax = max([v[-1] for v in series.values() if v] + [1.0]) * 1.05
    parts = _axes(xmax, 1.0, "seconds since the members started", "share of members complete")
    for i, (backend, times) in enumerate(series.items()):
        color = COLORS.get(backend, PALETTE[i % len(PALETTE)])
        points = [_xy(0, 0, xmax, 1)]
        for k, t in enumerate(times, 1):
            points.append(_xy(t, (k - 1) / total[backend], xmax, 1))
            points.append(_xy(t, k / total[backend], xmax, 1))
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
        parts.append(f'<polyline class="series" data-backend="{backend}" data-points="'
                     f'{len(times)}" fill="none" stroke="{color}" stroke-width="2" '
                     f'points="{path}"/>')  # fmt: skip
        parts.append(f'<text x="{W - 120}" y="{24 + 14 * i}" font-size="12" fill="{color}">'
                     f"{html.escape(backend)}</text>")  # fmt: skip
    for r in runs:
        bound = r.get("owner_uplink_bound_s")
        if bound and bound < xmax:
            x, _ = _xy(bound, 0, xmax, 1)
            parts.append(f'<line x1="{x:.1f}" y1="10" x2="{x:.1f}" y2="{H - PAD}" '
                         'stroke="#888" stroke-dasharray="4 3"/>')  # fmt: skip
            parts.append(f'<text x="{x + 3:.1f}" y="20" font-size="10">uplink bound</text>')
            break
    return _svg("cdf", "completion-time CDF per backend", parts)


def bytes_chart(run: dict[str, Any]) -> str:
    nodes = [("owner", run["owner"]["uploaded"] or 0, run["owner"]["stored"] or 0)]
    nodes += [(m["name"], m["uploaded"] or 0, m["stored"] or 0) for m in run["members"]]
    ymax = max([max(u, s) for _n, u, s in nodes] + [1]) * 1.1
    parts = _axes(len(nodes), ymax / 2**20, "node", "MiB", xticks=False)
    slot = (W - 10 - PAD) / len(nodes)
    for i, (name, up, stored) in enumerate(nodes):
        label = name.replace("member", "m")
        parts.append(f'<text x="{PAD + slot * (i + 0.5):.1f}" y="{H - PAD + 14}" font-size="9" '
                     f'text-anchor="middle">{html.escape(label)}</text>')  # fmt: skip
        for j, (value, color, kind) in enumerate(((up, "#2ca02c", "uploaded"),
                                                  (stored, "#9467bd", "stored"))):  # fmt: skip
            height = (H - PAD - 10) * value / ymax
            x = PAD + slot * i + slot * (0.1 + 0.4 * j)
            parts.append(f'<rect class="bar" data-node="{html.escape(name)}" data-kind="{kind}" '
                         f'data-bytes="{value}" x="{x:.1f}" y="{H - PAD - height:.1f}" '
                         f'width="{slot * 0.38:.1f}" height="{height:.1f}" fill="{color}">'
                         f"<title>{html.escape(name)} {kind}: {fmt_bytes(value)}</title>"
                         "</rect>")  # fmt: skip
    parts.append(f'<text x="{W - 150}" y="20" font-size="11" fill="#2ca02c">uploaded</text>')
    parts.append(f'<text x="{W - 80}" y="20" font-size="11" fill="#9467bd">stored</text>')
    return _svg("bytes", f"{run['backend']}: bytes per node", parts)


def holders_chart(run: dict[str, Any]) -> str:
    holds = run["holds"]
    archives = sorted({h["archive"] for h in holds})
    members = len(run["members"])
    xmax = max([h["t"] for h in holds] + [1.0]) * 1.05
    parts = _axes(xmax, members, "seconds since the members started", "members holding it")
    for i, archive in enumerate(archives):
        times = sorted(h["t"] for h in holds if h["archive"] == archive)
        points = [_xy(0, 0, xmax, members)]
        for k, t in enumerate(times, 1):
            points.append(_xy(t, k - 1, xmax, members))
            points.append(_xy(t, k, xmax, members))
        points.append(_xy(xmax, len(times), xmax, members))
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
        color = PALETTE[i % len(PALETTE)]
        parts.append(f'<polyline class="series" data-archive="{archive}" data-points='
                     f'"{len(times)}" fill="none" stroke="{color}" stroke-width="1.5" '
                     f'points="{path}"><title>archive {archive[:12]}…</title>'
                     "</polyline>")  # fmt: skip
    return _svg("holders", f"{run['backend']}: members holding each archive", parts)


def render_html(report: dict[str, Any]) -> str:
    scenario, runs = report["scenario"], report["runs"]
    shaping = scenario["shaping_bits_per_s"]
    rows = []
    for r in runs:
        s = r["summary"]
        rows.append(
            "<tr>"
            + "".join(
                f"<td>{html.escape(str(c))}</td>"
                for c in (
                    r["backend"],
                    f"{s['completed']}/{s['members']}",
                    fmt_seconds(s["first_import_s"]["median"]),
                    fmt_seconds(s["full_import_s"]["median"]),
                    fmt_seconds(s["full_import_s"]["p90"]),
                    fmt_seconds(s["full_import_s"]["max"]),
                    fmt_seconds(s["all_complete_s"]),
                    fmt_seconds(r["owner_uplink_bound_s"]),
                    "–" if s["bound_ratio"] is None else f"{s['bound_ratio']:.2f}×",
                    fmt_bytes(s["owner_uploaded"]),
                    fmt_bytes(s["wire_bytes"]),
                    r["engine"],
                )
            )
            + "</tr>"
        )
    failures = [
        f"<li>{html.escape(r['backend'])} {html.escape(f['member'])}: "
        f"{html.escape(f['reason'])}</li>"
        for r in runs
        for f in r["summary"]["never_completed"]
    ]
    not_applied = sorted({n for r in runs for n in r["not_applied"]})
    per_backend = "".join(
        f"<h2>{html.escape(r['backend'])}</h2>{bytes_chart(r)}{holders_chart(r)}" + _member_table(r)
        for r in runs
    )
    engine = ", ".join(sorted({f"{r['engine']} ({r['engine_why']})" for r in runs}))
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>scenario {html.escape(scenario["name"])}</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:1200px}}
table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:3px 6px;text-align:right}}
svg.chart{{border:1px solid #eee;margin:6px}}</style></head><body>
<h1>Scenario {html.escape(scenario["name"])}</h1>
<p>{html.escape(scenario["description"])}</p>
<p>{scenario["members"]} members, {scenario["late_joiners"]} late joiner(s); owner leaves:
{html.escape(scenario["owner_leaves"])}; churn: {scenario["churn"]}. Shaping (bit/s):
{html.escape(json.dumps(shaping))}. Engine: {html.escape(engine)}.
Not applied: {html.escape("; ".join(not_applied) or "nothing")}.</p>
<p>History: {report["history"]["messages"]:,} messages. Machine:
{html.escape(json.dumps(report["machine"]))}.</p>
<p>Codex profile: <b>{html.escape(report["codex_profile"])}</b>. {html.escape(MODEL_CAVEAT)}
(<a href="{MODEL_LINK}">the model</a>)</p>
<table><tr><th>backend</th><th>complete</th><th>first import median</th>
<th>full import median</th><th>p90</th><th>max</th><th>all complete</th>
<th>owner-uplink bound</th><th>÷ bound</th><th>owner uploaded</th><th>bytes on the wire</th>
<th>engine</th></tr>{"".join(rows)}</table>
<h2>Never completed</h2><ul>{"".join(failures) or "<li>none</li>"}</ul>
<h2>Completion-time CDF</h2>{cdf_chart(runs)}
{per_backend}
</body></html>
"""


def _left(member: dict[str, Any]) -> str:
    """When a member left on its own once it finished (churn); reports before churn was
    recorded lack the key."""
    left = member.get("left_s")
    return "" if left is None else f"; left at {fmt_seconds(left)}"


def _member_table(run: dict[str, Any]) -> str:
    rows = "".join(
        "<tr>"
        + "".join(
            f"<td>{html.escape(c)}</td>"
            for c in (
                m["name"] + (" (late)" if m["late"] else ""),
                fmt_seconds(m["joined_s"]),
                fmt_seconds(m["first_import_s"]),
                fmt_seconds(m["full_import_s"]),
                fmt_bytes(m["uploaded"]),
                fmt_bytes(m["downloaded"]),
                fmt_bytes(m["stored"]),
                (m["reason"] or "ok") + _left(m),
            )
        )
        + "</tr>"
        for m in run["members"]
    )
    owner = run["owner"]
    return (
        "<table><tr><th>node</th><th>joined</th><th>first import</th><th>full import</th>"
        "<th>uploaded</th><th>downloaded</th><th>stored</th><th>outcome</th></tr>"
        f"<tr><td>owner</td><td>–</td><td>–</td><td>–</td><td>{fmt_bytes(owner['uploaded'])}</td>"
        f"<td>–</td><td>{fmt_bytes(owner['stored'])}</td><td>left at {fmt_seconds(owner['left_s'])}"
        f"</td></tr>{rows}</table>"
    )
