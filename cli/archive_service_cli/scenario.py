"""A community-scale scenario: how many members, how their links are shaped, when the owner
leaves, who joins late. Read from TOML (`compare --scenario FILE|PRESET`) or built from
`compare` options; every validation error names the TOML key it is about.

```toml
name = "small-community"
description = "5 members, the owner's uplink 20 Mbit/s"
[history]            # the generated history (as `compare --messages/--days/--topics/--seed`)
messages = 20000
[swarm]
members = 5          # separate processes, 1..20
late_joiners = 0     # members that join after the owner left
owner_leaves = "never"   # "never" | "after-publish" | "after-first-complete"
churn = false        # a member leaves once it has finished
[shaping]            # bit/s; absent or 0: not shaped
owner_uplink = 20_000_000
member_downlink = 0
member_uplink = 0
latency_ms = 0       # kernel engine only, where netem exists
engine = "auto"      # "auto" | "namespace" | "application"
[codex]
profile = "measured-2026-11"
```
The bundled presets are package data in `scenarios/` and are named by their file stem.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from archive_service.errors import InvalidInputError
from archive_service.presets import preset_names, read_preset

MAX_MEMBERS = 20
OWNER_LEAVES = ("never", "after-publish", "after-first-complete")
ENGINES = ("auto", "namespace", "application")
DEFAULT_CODEX_PROFILE = "measured-2026-11"


class ScenarioError(InvalidInputError):
    """A scenario file or option that is missing, malformed or out of range."""


@dataclass(frozen=True)
class Shaping:
    """Per-role link rates in bit/s (None: not shaped)."""

    owner_uplink: int | None = None
    member_downlink: int | None = None
    member_uplink: int | None = None
    latency_ms: float = 0.0
    engine: str = "auto"

    def for_role(self, role: str) -> tuple[int | None, int | None]:
        """(uplink, downlink) in bit/s of a node of `role`."""
        if role == "owner":
            return self.owner_uplink, None
        return self.member_uplink, self.member_downlink

    def settings(self) -> dict[str, int | float | None]:
        return {
            "owner_uplink": self.owner_uplink,
            "member_downlink": self.member_downlink,
            "member_uplink": self.member_uplink,
            "latency_ms": self.latency_ms,
        }


@dataclass(frozen=True)
class HistoryShape:
    messages: int = 20_000
    days: float = 28.0
    topics: int = 5
    seed: int = 1


@dataclass(frozen=True)
class Scenario:
    name: str = "custom"
    description: str = ""
    members: int = 3
    late_joiners: int = 0
    owner_leaves: str = "never"
    churn: bool = False
    shaping: Shaping = field(default_factory=Shaping)
    history: HistoryShape = field(default_factory=HistoryShape)
    codex_profile: str = DEFAULT_CODEX_PROFILE

    def check(self) -> Scenario:
        if not 1 <= self.members <= MAX_MEMBERS:
            raise ScenarioError(f"swarm.members must be 1..{MAX_MEMBERS} (got {self.members})")
        if self.late_joiners < 0 or self.members + self.late_joiners > MAX_MEMBERS + 5:
            raise ScenarioError(
                f"swarm.late_joiners must be 0..{MAX_MEMBERS + 5 - self.members} "
                f"(got {self.late_joiners})"
            )
        if self.owner_leaves not in OWNER_LEAVES:
            raise ScenarioError(
                f"swarm.owner_leaves must be one of {', '.join(OWNER_LEAVES)} "
                f"(got {self.owner_leaves!r})"
            )
        if self.late_joiners and self.owner_leaves == "never":
            raise ScenarioError(
                "swarm.late_joiners join after the owner left: set swarm.owner_leaves to "
                "after-publish or after-first-complete"
            )
        if self.shaping.engine not in ENGINES:
            raise ScenarioError(
                f"shaping.engine must be one of {', '.join(ENGINES)} (got {self.shaping.engine!r})"
            )
        return self

    @property
    def owner_stays(self) -> bool:
        return self.owner_leaves == "never"


_SCHEMA: dict[str, dict[str, type | tuple[type, ...]]] = {
    "": {"name": str, "description": str},
    "history": {"messages": int, "days": (int, float), "topics": int, "seed": int},
    "swarm": {"members": int, "late_joiners": int, "owner_leaves": str, "churn": bool},
    "shaping": {
        "owner_uplink": int,
        "member_downlink": int,
        "member_uplink": int,
        "latency_ms": (int, float),
        "engine": str,
    },
    "codex": {"profile": str},
}


def _checked(table: dict[str, Any], section: str, source: str) -> dict[str, Any]:
    schema = _SCHEMA[section]
    out: dict[str, Any] = {}
    for key, value in table.items():
        name = f"{section}.{key}" if section else key
        if section == "" and key in _SCHEMA:
            continue
        if key not in schema:
            raise ScenarioError(
                f"scenario {source}: unknown key {name!r} (expected "
                + ", ".join(f"{section}.{k}" if section else k for k in schema)
                + ")"
            )
        expected = schema[key]
        if isinstance(value, bool) and expected is not bool:
            raise ScenarioError(f"scenario {source}: {name} must be a number, not {value!r}")
        if not isinstance(value, expected):
            kind = (
                "a string"
                if expected is str
                else "true or false"
                if expected is bool
                else ("a number")
            )
            raise ScenarioError(f"scenario {source}: {name} must be {kind}, not {value!r}")
        if isinstance(value, int | float) and not isinstance(value, bool) and value < 0:
            raise ScenarioError(f"scenario {source}: {name} must be >= 0 (got {value})")
        out[key] = value
    return out


def parse_scenario(text: str, source: str, default_name: str) -> Scenario:
    """A scenario from TOML text; `source` names it in errors."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"scenario {source} is not valid TOML: {exc}") from None
    for key, value in data.items():
        if key in _SCHEMA and key and not isinstance(value, dict):
            raise ScenarioError(f"scenario {source}: {key} must be a table ([{key}])")
    top = _checked(data, "", source)
    history = _checked(data.get("history", {}), "history", source)
    swarm = _checked(data.get("swarm", {}), "swarm", source)
    shaping = _checked(data.get("shaping", {}), "shaping", source)
    codex = _checked(data.get("codex", {}), "codex", source)
    rates = {
        k: (int(v) or None) if k in ("owner_uplink", "member_downlink", "member_uplink") else v
        for k, v in shaping.items()
    }
    if history.get("messages", 1) < 1:
        raise ScenarioError(f"scenario {source}: history.messages must be >= 1")
    scenario = Scenario(
        name=top.get("name", default_name),
        description=top.get("description", ""),
        shaping=Shaping(**rates),
        history=HistoryShape(**history),
        codex_profile=codex.get("profile", DEFAULT_CODEX_PROFILE),
        **swarm,
    )
    try:
        return scenario.check()
    except ScenarioError as exc:
        raise ScenarioError(f"scenario {source}: {exc}") from None


CHOICES = "a preset ({names}) or a TOML file"  # what an unknown scenario's error offers


def presets() -> list[str]:
    """Names of the bundled scenarios."""
    return preset_names(__package__, "scenarios")


def load_scenario(name_or_path: str | Path) -> Scenario:
    """A bundled preset by name, else a TOML file by path."""
    found = read_preset(
        __package__, "scenarios", name_or_path, kind="scenario", offer=CHOICES, error=ScenarioError
    )
    return parse_scenario(found.text, found.source, found.default_name)


def with_overrides(scenario: Scenario, **changes: Any) -> Scenario:
    """`scenario` with the options given on the command line (None: keep)."""
    shaping_keys = {"owner_uplink", "member_downlink", "member_uplink", "latency_ms", "engine"}
    top = {k: v for k, v in changes.items() if v is not None and k not in shaping_keys}
    shaped = {k: v for k, v in changes.items() if v is not None and k in shaping_keys}
    return replace(scenario, shaping=replace(scenario.shaping, **shaped), **top).check()
