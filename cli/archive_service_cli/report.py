"""Reporting of `compare` runs: statistics over repetitions, the terminal table and a
self-contained HTML report with inline SVG charts (no scripts, fonts or URLs: it must open
on an offline machine and survive being mailed around as one file)."""

from __future__ import annotations

import html
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rich.markup import escape
from rich.table import Table

PALETTE = ("#3b6fb6", "#e07b39", "#4f9d69", "#b5485d", "#7d5ba6", "#8c8c8c")


@dataclass(frozen=True)
class Metric:
    key: str  # dotted path into a run record
    label: str
    unit: str  # "s", "B", "ratio" or "" (a count)


METRICS: tuple[Metric, ...] = (
    Metric("archives", "archives", ""),
    Metric("bytes.archives", "archive bytes (encoded)", "B"),
    Metric("bytes.stored_owner", "stored on owner", "B"),
    Metric("bytes.padding", "padding on owner", "B"),
    Metric("padding_overhead", "padding overhead", "ratio"),
    Metric("bytes.transferred", "transferred to member", "B"),
    Metric("bytes.stored_member", "stored on member", "B"),
    Metric("times.create", "create (owner)", "s"),
    Metric("times.seed", "seed + announce", "s"),
    Metric("times.index", "index fetched", "s"),
    Metric("times.download", "all downloaded", "s"),
    Metric("times.first_import", "first archive imported", "s"),
    Metric("times.full_import", "full import", "s"),
    Metric("owner.cpu", "owner CPU (user+sys)", "s"),
    Metric("owner.peak_rss", "owner peak RSS", "B"),
    Metric("member.cpu", "member CPU (user+sys)", "s"),
    Metric("member.peak_rss", "member peak RSS", "B"),
)
PHASES: tuple[tuple[str, str], ...] = (
    ("phases.create", "create (owner)"),
    ("phases.seed", "seed + announce (owner)"),
    ("phases.index", "index (member)"),
    ("phases.download", "download (member)"),
    ("phases.import", "import (member)"),
)
BYTE_BARS: tuple[tuple[str, str], ...] = (
    ("bytes.archives", "archive bytes"),
    ("bytes.stored_owner", "stored on owner"),
    ("bytes.padding", "padding on owner"),
    ("bytes.transferred", "transferred"),
    ("bytes.stored_member", "stored on member"),
)


# statistics --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Stat:
    median: float
    min: float
    max: float
    q1: float
    q3: float
    n: int

    def to_json(self) -> dict[str, float | int]:
        return {
            "median": self.median,
            "min": self.min,
            "max": self.max,
            "q1": self.q1,
            "q3": self.q3,
            "n": self.n,
        }


def stat(values: Iterable[float | None]) -> Stat | None:
    """Median, range and interquartile range; None values (a phase that did not happen) are
    left out, and no values give None."""
    xs = sorted(float(v) for v in values if v is not None)
    if not xs:
        return None
    if len(xs) == 1:
        q1 = q3 = xs[0]
    else:
        # "inclusive": quartiles stay inside [min, max] for the small n of --repeat.
        q1, _, q3 = statistics.quantiles(xs, n=4, method="inclusive")
    return Stat(statistics.median(xs), xs[0], xs[-1], q1, q3, len(xs))


def lookup(record: Mapping[str, Any], key: str) -> Any:
    value: Any = record
    for part in key.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def summarize(
    runs: Sequence[Mapping[str, Any]], backends: Sequence[str]
) -> dict[str, dict[str, dict[str, float | int] | None]]:
    """backend -> metric key -> statistics over that backend's runs."""
    keys = [m.key for m in METRICS] + [k for k, _ in PHASES]
    summary: dict[str, dict[str, dict[str, float | int] | None]] = {}
    for backend in backends:
        mine = [r for r in runs if r["backend"] == backend]
        summary[backend] = {}
        for key in keys:
            s = stat(lookup(r, key) for r in mine)
            summary[backend][key] = s.to_json() if s else None
    return summary


# formatting --------------------------------------------------------------------------------
_BYTE_UNITS = ("B", "KiB", "MiB", "GiB", "TiB")


def _scale(value: float, unit: str) -> tuple[float, str, int]:
    """(divisor, suffix, decimals) to show `value`; a range is shown on its median's scale."""
    if unit == "B":
        power = 0
        while abs(value) >= 1024 and power < len(_BYTE_UNITS) - 1:
            value /= 1024
            power += 1
        return 1024.0**power, " " + _BYTE_UNITS[power], 0 if power == 0 else 2
    if unit == "s":
        return 1.0, " s", 3 if abs(value) < 10 else 1
    if unit == "ratio":
        return 0.01, " %", 2
    return 1.0, "", 0 if float(value).is_integer() else 2


def fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "–"
    divisor, suffix, decimals = _scale(value, unit)
    return f"{value / divisor:.{decimals}f}{suffix}"


def fmt_stat(s: Mapping[str, float] | None, unit: str) -> str:
    """'median' or, over several differing runs, 'median [min–max]' on the median's scale."""
    if s is None:
        return "–"
    text = fmt(s["median"], unit)
    if s["n"] > 1 and s["max"] > s["min"]:
        divisor, _, decimals = _scale(s["median"], unit)
        text += f" [{s['min'] / divisor:.{decimals}f}–{s['max'] / divisor:.{decimals}f}]"
    return text


# terminal ----------------------------------------------------------------------------------
def table(report: Mapping[str, Any]) -> Table:
    backends: list[str] = report["settings"]["backends"]
    repeat = report["settings"]["repeat"]
    title = "archive-service compare" + (
        f" — median [min–max] of {repeat} runs" if repeat > 1 else ""
    )
    t = Table(title=escape(title))
    t.add_column("metric")
    for backend in backends:
        t.add_column(backend, justify="right", no_wrap=True)
    for metric in METRICS:
        t.add_row(
            metric.label,
            *(
                escape(fmt_stat(report["summary"][b].get(metric.key), metric.unit))
                for b in backends
            ),
        )
    return t


def verification_line(report: Mapping[str, Any]) -> str:
    v = report["verification"]
    if v["identical"]:
        backends = ", ".join(report["settings"]["backends"])
        return (
            f"verified: every member ({backends}) ended with the owner's "
            f"{v['owner_messages']:,} messages (digest {str(v['digest'])[:16]}…)"
        )
    return "MISMATCH: " + ("; ".join(v["mismatched"]) or "owners or members disagree")


TABLE_NOTE = "member times count from receiving the link; CPU from the start of each side's work"


# SVG ---------------------------------------------------------------------------------------
def _esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def svg_stacked_bars(
    title: str,
    rows: Sequence[tuple[str, Sequence[float]]],
    segments: Sequence[str],
    unit: str,
    width: int = 760,
) -> str:
    """One horizontal bar per row, split into `segments` (e.g. phases of a run)."""
    label_w, bar_h, gap, top = 120, 26, 14, 34
    legend_h = 22 * ((len(segments) + 2) // 3)
    plot_w = width - label_w - 90
    total_max = max((sum(v for v in values) for _, values in rows), default=0.0) or 1.0
    height = top + len(rows) * (bar_h + gap) + legend_h + 16
    out = [
        f'<svg class="chart" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="{_esc(title)}">',
        f'<text x="0" y="18" class="title">{_esc(title)}</text>',
    ]
    for i, (label, values) in enumerate(rows):
        y = top + i * (bar_h + gap)
        out.append(f'<text x="0" y="{y + bar_h * 0.68:.1f}">{_esc(label)}</text>')
        x = float(label_w)
        for j, value in enumerate(values):
            w = plot_w * value / total_max
            if w > 0:
                out.append(
                    f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{bar_h}" '
                    f'fill="{PALETTE[j % len(PALETTE)]}"><title>{_esc(segments[j])}: '
                    f"{_esc(fmt(value, unit))}</title></rect>"
                )
            x += w
        total = _esc(fmt(sum(values), unit))
        out.append(f'<text x="{x + 6:.1f}" y="{y + bar_h * 0.68:.1f}">{total}</text>')
    out += _legend(segments, top + len(rows) * (bar_h + gap) + 4, width)
    out.append("</svg>")
    return "\n".join(out)


def svg_grouped_bars(
    title: str,
    groups: Sequence[tuple[str, Sequence[tuple[float, float, float] | None]]],
    series: Sequence[str],
    unit: str,
    width: int = 760,
) -> str:
    """Horizontal bars: one group per metric, one bar per series (backend), each bar the median
    with a whisker from min to max."""
    label_w, bar_h, inner, gap, top = 170, 16, 3, 14, 34
    plot_w = width - label_w - 110
    peak = max((v[2] for _, vals in groups for v in vals if v is not None), default=0.0) or 1.0
    group_h = len(series) * (bar_h + inner) + gap
    legend_h = 22 * ((len(series) + 2) // 3)
    height = top + len(groups) * group_h + legend_h + 10
    out = [
        f'<svg class="chart" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="{_esc(title)}">',
        f'<text x="0" y="18" class="title">{_esc(title)}</text>',
    ]
    for g, (label, values) in enumerate(groups):
        y0 = top + g * group_h
        mid = y0 + (len(series) * (bar_h + inner)) / 2 + 4
        out.append(f'<text x="0" y="{mid:.1f}">{_esc(label)}</text>')
        for s, value in enumerate(values):
            y = y0 + s * (bar_h + inner)
            if value is None:
                out.append(f'<text x="{label_w}" y="{y + bar_h - 4}" class="muted">n/a</text>')
                continue
            median, lo, hi = value
            w = plot_w * median / peak
            color = PALETTE[s % len(PALETTE)]
            out.append(
                f'<rect x="{label_w}" y="{y}" width="{max(w, 0.5):.1f}" height="{bar_h}" '
                f'fill="{color}"><title>{_esc(series[s])}: {_esc(fmt(median, unit))}'
                f"</title></rect>"
            )
            if hi > lo:
                x1, x2 = label_w + plot_w * lo / peak, label_w + plot_w * hi / peak
                cy = y + bar_h / 2
                out.append(
                    f'<path d="M{x1:.1f} {cy:.1f}H{x2:.1f}M{x1:.1f} {cy - 5:.1f}V{cy + 5:.1f}'
                    f'M{x2:.1f} {cy - 5:.1f}V{cy + 5:.1f}" class="whisker"/>'
                )
            end = label_w + max(w, plot_w * hi / peak)
            out.append(
                f'<text x="{end + 6:.1f}" y="{y + bar_h - 4}" class="value">'
                f"{_esc(fmt(median, unit))}</text>"
            )
    out += _legend(series, top + len(groups) * group_h, width)
    out.append("</svg>")
    return "\n".join(out)


def _legend(names: Sequence[str], y: float, width: int) -> list[str]:
    out = []
    col_w = width // 3
    for i, name in enumerate(names):
        x, yy = (i % 3) * col_w, y + (i // 3) * 22
        out.append(
            f'<rect x="{x}" y="{yy}" width="12" height="12" fill="{PALETTE[i % len(PALETTE)]}"/>'
        )
        out.append(f'<text x="{x + 18}" y="{yy + 11}">{_esc(name)}</text>')
    return out


def _triple(s: Mapping[str, float] | None) -> tuple[float, float, float] | None:
    return None if s is None else (s["median"], s["min"], s["max"])


def charts(report: Mapping[str, Any]) -> list[str]:
    backends: list[str] = report["settings"]["backends"]
    summary = report["summary"]

    def median(backend: str, key: str) -> float:
        s = summary[backend].get(key)
        return float(s["median"]) if s else 0.0

    phases = svg_stacked_bars(
        "Time per phase (median, seconds)",
        [(b, [median(b, key) for key, _ in PHASES]) for b in backends],
        [label for _, label in PHASES],
        "s",
    )
    milestones = svg_grouped_bars(
        "Time to milestones (median, whiskers min–max)",
        [
            (m.label, [_triple(summary[b].get(m.key)) for b in backends])
            for m in METRICS
            if m.key.startswith("times.")
        ],
        backends,
        "s",
    )
    bytes_chart = svg_grouped_bars(
        "Bytes per phase (median)",
        [(label, [_triple(summary[b].get(key)) for b in backends]) for key, label in BYTE_BARS],
        backends,
        "B",
    )
    resources = [
        svg_grouped_bars(
            title,
            [(m.label, [_triple(summary[b].get(m.key)) for b in backends]) for m in metrics],
            backends,
            unit,
        )
        for title, unit, metrics in (
            ("CPU per side (user+sys)", "s", [m for m in METRICS if m.key.endswith(".cpu")]),
            ("Peak RSS per side", "B", [m for m in METRICS if m.key.endswith(".peak_rss")]),
        )
    ]
    return [phases, milestones, bytes_chart, *resources]


# HTML --------------------------------------------------------------------------------------
_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:2em auto;max-width:860px;
color:#222;padding:0 1em}
h1{font-size:1.5em}h2{font-size:1.15em;margin-top:2em}
table{border-collapse:collapse;margin:1em 0}th,td{padding:.3em .7em;border-bottom:1px solid #ddd}
td.num{text-align:right;font-variant-numeric:tabular-nums}th{text-align:left}
.ok{color:#2d7d46;font-weight:600}.bad{color:#b3261e;font-weight:600}
svg.chart{display:block;margin:1em 0;font-size:12px}svg .title{font-weight:600;font-size:13px}
svg .muted{fill:#999}svg .value{fill:#444}svg .whisker{stroke:#222;stroke-width:1.2;fill:none}
.meta{color:#555}code{font-size:.95em}
"""


def render_html(report: Mapping[str, Any]) -> str:
    backends: list[str] = report["settings"]["backends"]
    settings, history, machine = report["settings"], report["history"], report["machine"]
    v = report["verification"]
    rows = []
    for metric in METRICS:
        cells = "".join(
            f'<td class="num">{_esc(fmt_stat(report["summary"][b].get(metric.key), metric.unit))}'
            "</td>"
            for b in backends
        )
        rows.append(f"<tr><td>{_esc(metric.label)}</td>{cells}</tr>")
    head = "".join(f"<th>{_esc(b)}</th>" for b in backends)
    status = (
        f'<p class="ok">{_esc(verification_line(report))}</p>'
        if v["identical"]
        else f'<p class="bad">{_esc(verification_line(report))}</p>'
    )
    run_rows = "".join(
        "<tr>"
        f"<td>{_esc(r['backend'])}</td><td class='num'>{r['repeat']}</td>"
        f"<td class='num'>{r['archives']}</td>"
        f"<td class='num'>{_esc(fmt(lookup(r, 'times.create'), 's'))}</td>"
        f"<td class='num'>{_esc(fmt(lookup(r, 'times.first_import'), 's'))}</td>"
        f"<td class='num'>{_esc(fmt(lookup(r, 'times.full_import'), 's'))}</td>"
        f"<td class='num'>{_esc(fmt(lookup(r, 'bytes.transferred'), 'B'))}</td>"
        f"<td class='num'>{r['messages']['member']:,}</td>"
        "</tr>"
        for r in report["runs"]
    )
    encrypted = "encrypted" if settings["encrypted"] else "plaintext"
    source = f"from <code>{_esc(settings['db'])}</code>" if settings.get("db") else "generated"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>archive-service compare: {_esc(" vs ".join(backends))}</title>
<style>{_CSS}</style></head><body>
<h1>archive-service compare: {_esc(" vs ".join(backends))}</h1>
<p class="meta">{_esc(report["created"])} · {history["messages"]:,} messages ({source},
{_esc(encrypted)}, {settings["topics"]} topics, seed {settings["seed"]}) ·
community <code>{_esc(history["community_id"])}</code> ·
{settings["repeat"]} run(s) per backend · {_esc(machine["platform"])},
{machine["cpus"]} CPUs, Python {_esc(machine["python"])}</p>
{status}
<h2>Summary</h2>
<p class="meta">Median over runs; where runs differ, [min–max] follows.</p>
<table><tr><th>metric</th>{head}</tr>
{"".join(rows)}
</table>
<h2>Charts</h2>
{"".join(charts(report))}
<h2>Runs</h2>
<table><tr><th>backend</th><th>run</th><th>archives</th><th>create</th><th>first import</th>
<th>full import</th><th>transferred</th><th>member messages</th></tr>
{run_rows}
</table>
<h2>How to read this</h2>
<ul>
<li>Both backends publish the same encoded archives (one build, identical bytes), on
127.0.0.1, owner and member in separate processes; times on the member count from the moment
it receives the signed link message.</li>
<li>Padding: BitTorrent pads each archive with zeros to whole 102,400-byte pieces
(overhead = padding / archive bytes); Codex stores every block padded to 64 KiB
(overhead = node space used − dataset bytes, relative to the dataset: archives + index).</li>
<li>Bytes transferred is what the member's backend reports downloading for the archives
(BitTorrent: including piece padding).</li>
<li>CPU counts from the start of the work (owner: create; member: link received) to the end
of the run, including child processes such as a local Codex node; peak RSS is the highest
sampled resident memory of the side's process tree.</li>
</ul>
</body></html>
"""
