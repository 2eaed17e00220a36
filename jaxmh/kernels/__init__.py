"""Transition kernels: pure ``init`` / ``step`` functions with NamedTuple states."""

from jaxmh.kernels.group_blocked import BlockedInfo, BlockedState, blocked
from jaxmh.kernels.random_walk import RWInfo, RWState, SamplingAlgorithm, build_kernel, init, rwm

__all__ = ["BlockedInfo", "BlockedState", "blocked", "RWInfo", "RWState", "SamplingAlgorithm", "build_kernel", "init", "rwm"]
