"""Transition kernels: pure ``init`` / ``step`` functions with NamedTuple states."""

from jaxmh.kernels.rwm import RWInfo, RWState, SamplingAlgorithm, build_kernel, init, rwm

__all__ = ["RWInfo", "RWState", "SamplingAlgorithm", "build_kernel", "init", "rwm"]
