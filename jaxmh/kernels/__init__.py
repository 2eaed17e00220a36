"""Transition kernels: pure ``init`` / ``step`` functions with NamedTuple states, under one contract
(:class:`jaxmh.kernels.base.Kernel`)."""

from jaxmh.kernels.base import Kernel, Representation, SamplingAlgorithm
from jaxmh.kernels.blocked_gibbs import Conditionals, GibbsInfo, GibbsState, gibbs
from jaxmh.kernels.group_blocked import BlockedInfo, BlockedState, blocked
from jaxmh.kernels.random_walk import RWInfo, RWState, build_kernel, init, rwm

__all__ = ["BlockedInfo", "BlockedState", "Conditionals", "GibbsInfo", "GibbsState", "Kernel", "gibbs", "Representation", "blocked", "RWInfo", "RWState",
           "SamplingAlgorithm", "build_kernel", "init", "rwm"]
