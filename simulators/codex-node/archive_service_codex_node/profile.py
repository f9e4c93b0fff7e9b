"""Performance profiles: how fast the local node pretends to be.

A profile has four figures, each optional (absent: not limited):

- `upload_bytes_per_s`: the node's rate of storing an upload (`POST /data`), per node;
- `exchange_bytes_per_s`: the rate at which a node serves blocks to one peer, per peer
  connection (a node serving two peers may send twice as much);
- `request_latency_s`: a wait before a node answers each block-exchange request;
- `local_read_bytes_per_s`: the node's rate of reading a locally held dataset, per node.

Profiles are TOML files. The bundled ones are package data under `profiles/` and are named by
their file stem (`measured-2026-11`, `unthrottled`); any other file is loaded by its path.
`ratelimit.py` turns a profile into token buckets.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, fields
from pathlib import Path

from archive_service.errors import InvalidInputError
from archive_service.presets import preset_names, read_preset

DEFAULT_PROFILE = "unthrottled"  # the simulator's own default: tests must not slow down


class ProfileError(InvalidInputError):
    """A profile name that is not bundled, a file that does not parse, or a bad figure."""


@dataclass(frozen=True)
class PerformanceProfile:
    name: str
    description: str = ""
    upload_bytes_per_s: float | None = None
    exchange_bytes_per_s: float | None = None
    request_latency_s: float = 0.0
    local_read_bytes_per_s: float | None = None

    @property
    def unthrottled(self) -> bool:
        return (
            self.upload_bytes_per_s is None
            and self.exchange_bytes_per_s is None
            and self.request_latency_s == 0.0
            and self.local_read_bytes_per_s is None
        )

    def to_toml(self) -> str:
        """The profile as a file `load_profile` reads back."""
        lines = [f"name = {_toml_string(self.name)}"]
        if self.description:
            lines.append(f"description = {_toml_string(self.description)}")
        for field in fields(self):
            value = getattr(self, field.name)
            if field.name in ("name", "description") or value is None:
                continue
            lines.append(f"{field.name} = {float(value)!r}")
        return "\n".join(lines) + "\n"


_FIGURES = {
    "upload_bytes_per_s",
    "exchange_bytes_per_s",
    "request_latency_s",
    "local_read_bytes_per_s",
}


def _toml_string(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


# What an unknown profile's error offers.
CHOICES = "a bundled profile ({names}) or the path of a profile TOML file"


def bundled_profiles() -> list[str]:
    """Names of the profiles shipped with the simulator."""
    return preset_names(__package__, "profiles")


def parse_profile(text: str, source: str, default_name: str) -> PerformanceProfile:
    """A profile from TOML text; `source` names it in errors."""
    try:
        table = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"profile {source} is not valid TOML: {exc}") from None
    unknown = sorted(set(table) - _FIGURES - {"name", "description"})
    if unknown:
        raise ProfileError(
            f"profile {source}: unknown key {unknown[0]!r} "
            f"(expected name, description, {', '.join(sorted(_FIGURES))})"
        )
    values: dict[str, float] = {}
    for key in _FIGURES & set(table):
        value = table[key]
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ProfileError(f"profile {source}: {key} must be a number, not {value!r}")
        if not math.isfinite(value) or value < 0 or (value == 0 and key != "request_latency_s"):
            raise ProfileError(
                f"profile {source}: {key} must be a positive number (omit it for no limit)"
            )
        values[key] = float(value)
    for key in ("name", "description"):
        if key in table and not isinstance(table[key], str):
            raise ProfileError(f"profile {source}: {key} must be a string")
    return PerformanceProfile(
        name=table.get("name", default_name),
        description=table.get("description", ""),
        **values,  # type: ignore[arg-type]
    )


def load_profile(name_or_path: str | Path) -> PerformanceProfile:
    """A bundled profile by name (`measured-2026-11`, `unthrottled`), else a TOML file by path.
    Raises ProfileError naming the bundled profiles when neither exists."""
    found = read_preset(
        __package__, "profiles", name_or_path, kind="profile", offer=CHOICES, error=ProfileError
    )
    return parse_profile(found.text, found.source, found.default_name)


__all__ = [
    "DEFAULT_PROFILE",
    "PerformanceProfile",
    "ProfileError",
    "bundled_profiles",
    "load_profile",
    "parse_profile",
]
