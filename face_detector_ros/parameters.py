"""
Parameter tables: each node's parameters as {name: Param}, with default, description and range.

No rclpy here, so the pure modules keep their own tables (the engine's) and tests and tools read
every table without ROS; ros.common.declare_parameters declares a table on a node.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Param:
    """
    A parameter declaration: default, description, and optional range or read-only flag.

    `any_type` accepts a value of any type and converts it to the default's type: for a
    `source` that users naturally write as `0` as well as `/dev/video0`.
    """

    default: object
    description: str
    low: float = None
    high: float = None
    read_only: bool = False
    any_type: bool = False


def defaults(params: Mapping[str, Param]) -> dict[str, object]:
    """Return {name: default} of a {name: Param} table."""
    return {name: param.default for name, param in params.items()}
