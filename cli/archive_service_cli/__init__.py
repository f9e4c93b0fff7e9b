"""The `archive-service` application on top of the library: CLI, inspect, demo, compare and
its report, the loopback lab, synthetic histories, resource metering and progress bars."""

__version__ = "0.1.0"
