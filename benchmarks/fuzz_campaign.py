"""Longer fuzz campaign over every parser of tests/fuzz/targets.py (the CI run is tiny).

Each target runs in its own subprocess for `--seconds`: with atheris (libFuzzer, coverage-guided
over the project's packages) when it is installed, else with the same seed mutations as the CI
test in a loop. The corpus starts from the target's valid seeds (the project's own encodings).

A case fails when the parser raises anything but its typed errors; the child records it (type,
place, input) and goes on. An address-space limit turns an allocation of what an input claims
into a MemoryError (a failure too); libFuzzer's per-input timeout catches hangs, which end the
child (recorded as a crash with its input file).

    .venv/bin/python benchmarks/fuzz_campaign.py [--seconds 25] [--targets a,b] [--engine auto]

Writes benchmarks/results/fuzz.json and fuzz.md; failing inputs go to
benchmarks/results/fuzz_failures/.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import random
import re
import resource
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
FAILURES = RESULTS / "fuzz_failures"
PROJECT_PACKAGES = ("archive_service", "archive_service_torrent", "archive_service_codex")
STATS_EVERY = 1.0  # seconds between the child's stats writes (it may die on a hang)


# --- child: one target ---------------------------------------------------------------------
class Recorder:
    """Counts cases, records untyped failures (deduplicated by type and place), writes stats."""

    def __init__(self, name: str, typed: tuple[type[BaseException], ...], stats: Path) -> None:
        self.name = name
        self.typed = typed
        self.stats = stats
        self.cases = 0
        self.typed_errors = 0
        self.failures: dict[str, dict[str, Any]] = {}
        self.started = time.monotonic()
        self._last_write = 0.0

    def run(self, run: Any, data: bytes) -> None:
        self.cases += 1
        try:
            run(data)
        except self.typed:
            self.typed_errors += 1
        except Exception as exc:  # MemoryError, RecursionError included: every one is a bug
            self._record(exc, data)
        now = time.monotonic()
        if now - self._last_write >= STATS_EVERY:
            self.write()

    def _record(self, exc: BaseException, data: bytes) -> None:
        frames = traceback.extract_tb(exc.__traceback__)
        project = [f for f in frames if any(p in f.filename for p in PROJECT_PACKAGES)]
        where = project[-1] if project else frames[-1]
        place = f"{Path(where.filename).name}:{where.lineno}"
        key = f"{type(exc).__name__}@{place}"
        if key in self.failures:
            self.failures[key]["count"] += 1
            return
        FAILURES.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha1(data).hexdigest()[:16]
        artifact = FAILURES / f"{self.name}-{digest}.bin"
        artifact.write_bytes(data)
        self.failures[key] = {
            "exception": type(exc).__name__,
            "message": str(exc)[:300],
            "where": place,
            "input": artifact.relative_to(ROOT).as_posix(),
            "input_prefix_hex": data[:64].hex(),
            "count": 1,
        }
        self.write()

    def write(self) -> None:
        self._last_write = time.monotonic()
        stats = {
            "cases": self.cases,
            "typed_errors": self.typed_errors,
            "failures": list(self.failures.values()),
            "seconds": round(self._last_write - self.started, 1),
            "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        }
        tmp = self.stats.with_suffix(".tmp")
        tmp.write_text(json.dumps(stats))
        os.replace(tmp, self.stats)


def child(args: argparse.Namespace) -> int:
    sys.path.insert(0, str(ROOT / "tests"))
    limit = args.memory_limit_mb << 20
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    if args.engine == "atheris":
        import atheris

        with atheris.instrument_imports(include=list(PROJECT_PACKAGES)):
            from fuzz.targets import TARGETS
    else:
        from fuzz.targets import TARGETS
    target = TARGETS[args.child]
    seeds = target.seeds()
    recorder = Recorder(target.name, target.typed, Path(args.stats))
    for seed in seeds:
        recorder.run(target.run, seed)
    recorder.write()

    if args.engine == "atheris":
        corpus = Path(tempfile.mkdtemp(prefix=f"fuzz-{target.name}-"))
        for i, seed in enumerate(seeds):
            (corpus / f"seed-{i}").write_bytes(seed)
        FAILURES.mkdir(parents=True, exist_ok=True)

        def one_input(data: bytes) -> None:
            recorder.run(target.run, data)

        atheris.Setup(
            [
                sys.argv[0],
                str(corpus),
                f"-max_total_time={args.seconds}",
                f"-timeout={args.case_timeout}",
                f"-rss_limit_mb={args.memory_limit_mb}",
                "-max_len=4096",
                f"-seed={args.seed}",
                f"-artifact_prefix={FAILURES}/{target.name}-",
                "-print_final_stats=1",
            ],
            one_input,
        )
        try:
            atheris.Fuzz()
        finally:
            recorder.write()
        return 0

    rng = random.Random(args.seed)
    from fuzz.mutations import mutate

    deadline = time.monotonic() + args.seconds
    while time.monotonic() < deadline:
        if rng.random() < 0.2:
            data = rng.randbytes(rng.randrange(0, 300))
        else:
            data = mutate(rng.choice(seeds), seeds, rng, rng.randrange(1, 7))
        recorder.run(target.run, data)
    recorder.write()
    return 0


# --- parent: every target, one after the other ----------------------------------------------
def engine_available() -> str:
    try:
        import atheris  # noqa: F401
    except ImportError:
        return "mutation-loop"
    return "atheris"


def run_target(name: str, args: argparse.Namespace, engine: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        stats = Path(tmp) / "stats.json"
        cmd = [
            sys.executable,
            __file__,
            "--child",
            name,
            "--engine",
            engine,
            "--seconds",
            str(args.seconds),
            "--stats",
            str(stats),
            "--seed",
            str(args.seed),
            "--memory-limit-mb",
            str(args.memory_limit_mb),
            "--case-timeout",
            str(args.case_timeout),
        ]
        started = time.monotonic()
        proc = subprocess.run(
            cmd, capture_output=True, text=True, timeout=args.seconds * 3 + 120, cwd=ROOT
        )
        elapsed = time.monotonic() - started
        result: dict[str, Any] = json.loads(stats.read_text()) if stats.exists() else {}
    result.setdefault("cases", 0)
    result.setdefault("failures", [])
    result["wall_seconds"] = round(elapsed, 1)
    result["exit_code"] = proc.returncode
    log = proc.stderr
    # libFuzzer's own figures: coverage, corpus and its peak RSS.
    if m := re.findall(r"#(\d+)\s+DONE\s+cov: (\d+) ft: (\d+) corp: (\d+)/", log):
        runs, cov, ft, corp = m[-1]
        result.update(libfuzzer_runs=int(runs), coverage=int(cov), features=int(ft))
        result["corpus"] = int(corp)
    if m := re.search(r"stat::peak_rss_mb:\s+(\d+)", log):
        result["peak_rss_mib"] = max(result.get("peak_rss_mib", 0), int(m.group(1)))
    if proc.returncode != 0:
        # A hang (libFuzzer -timeout), an RSS blow-up or a crash ends the child: keep its word.
        crash = next(
            (line for line in log.splitlines() if "ERROR: libFuzzer" in line or "Error" in line),
            log.strip().splitlines()[-1] if log.strip() else "no output",
        )
        artifact = re.search(r"Test unit written to (\S+)", log)
        result["failures"].append(
            {
                "exception": "child ended",
                "message": crash[:300],
                "where": "",
                "input": artifact.group(1) if artifact else "",
                "count": 1,
            }
        )
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=25, help="budget per target")
    parser.add_argument("--targets", default="", help="comma-separated names (default: all)")
    parser.add_argument("--engine", default="auto", choices=["auto", "atheris", "mutation-loop"])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--memory-limit-mb", type=int, default=2048, help="address space cap")
    parser.add_argument("--case-timeout", type=int, default=10, help="seconds per input")
    parser.add_argument("--report-only", action="store_true", help="rewrite fuzz.md from fuzz.json")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--stats", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args)

    sys.path.insert(0, str(ROOT / "tests"))
    from fuzz.targets import TARGETS

    if args.report_only:
        report = json.loads((RESULTS / "fuzz.json").read_text())
        (RESULTS / "fuzz.md").write_text(markdown(report, TARGETS))
        return 0
    engine = engine_available() if args.engine == "auto" else args.engine
    names = [n for n in args.targets.split(",") if n] or sorted(TARGETS)
    results: dict[str, Any] = {}
    for name in names:
        results[name] = run_target(name, args, engine)
        r = results[name]
        print(
            f"{name:14} {r['cases']:>8} cases  {len(r['failures'])} failures  "
            f"peak RSS {r.get('peak_rss_mib', 0):.0f} MiB  cov {r.get('coverage', '-')}",
            flush=True,
        )
    report = {
        "engine": engine,
        "seconds_per_target": args.seconds,
        "seed": args.seed,
        "memory_limit_mib": args.memory_limit_mb,
        "case_timeout_s": args.case_timeout,
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "total_cases": sum(r["cases"] for r in results.values()),
        "total_failures": sum(len(r["failures"]) for r in results.values()),
        "targets": results,
    }
    if FAILURES.is_dir() and not any(FAILURES.iterdir()):
        FAILURES.rmdir()  # made for libFuzzer's artifacts; nothing failed
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "fuzz.json").write_text(json.dumps(report, indent=2) + "\n")
    (RESULTS / "fuzz.md").write_text(markdown(report, TARGETS))
    print(f"{report['total_cases']} cases, {report['total_failures']} failures ({engine})")
    return 1 if report["total_failures"] else 0


def markdown(report: dict[str, Any], targets: dict[str, Any]) -> str:
    lines = [
        "# Fuzz campaign",
        "",
        f"`benchmarks/fuzz_campaign.py --seconds {report['seconds_per_target']}` on "
        f"{report['date']}: engine **{report['engine']}**, {report['machine']['cpus']} CPUs "
        f"(shared), Python {report['machine']['python']}, address space capped at "
        f"{report['memory_limit_mib']} MiB, {report['case_timeout_s']} s per input.",
        "",
        "A case passes when the parser returns or raises one of its typed errors "
        "(tests/fuzz/targets.py lists them per target). Coverage is libFuzzer's edge count "
        "over the project's packages only (protobuf, tomllib and pydantic are not traced). "
        "Bugs this suite found are pinned in tests/fuzz/test_fuzz_regressions.py (fixed ones as "
        "tests, open ones as strict xfails); the inspect-text target avoids the two open ones "
        "(undecodable argv bytes, a path component over 255 bytes) so that it can find others.",
        "",
        "| target | parser | cases | typed errors | failures | peak RSS MiB | coverage |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for name, r in report["targets"].items():
        lines.append(
            f"| {name} | {targets[name].description} | {r['cases']:,} | "
            f"{r.get('typed_errors', 0):,} | {len(r['failures'])} | "
            f"{r.get('peak_rss_mib', 0):.0f} | {r.get('coverage', '-')} |"
        )
    lines += [
        "",
        f"**{report['total_cases']:,} cases, {report['total_failures']} failures.**",
        "",
    ]
    failures = [(n, f) for n, r in report["targets"].items() for f in r["failures"]]
    if failures:
        lines += ["## Failures", ""]
        for name, f in failures:
            lines.append(
                f"- {name}: `{f['exception']}` at {f['where']} ×{f['count']}: "
                f"{f['message']} (input `{f['input']}`)"
            )
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
