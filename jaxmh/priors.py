"""Prior distributions that models take as arguments (validated when made)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import jax.numpy as jnp

from jaxmh import logpdf

__all__ = ["Normal", "Uniform", "HalfNormal", "HalfCauchy"]


def _finite(value: float, name: str) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    return value


def _positive(value: float, name: str) -> float:
    value = _finite(value, name)
    if value <= 0:
        raise ValueError(f"{name} must be > 0, got {value}")
    return value


@dataclass(frozen=True)
class Normal:
    """``N(loc, scale^2)``."""

    loc: float
    scale: float

    def __post_init__(self):
        object.__setattr__(self, "loc", _finite(self.loc, "Normal loc"))
        object.__setattr__(self, "scale", _positive(self.scale, "Normal scale"))

    def logpdf(self, x):
        return logpdf.normal(x, self.loc, self.scale)


@dataclass(frozen=True)
class Uniform:
    """``U(low, high)`` on the closed interval."""

    low: float
    high: float

    def __post_init__(self):
        low, high = _finite(self.low, "Uniform low"), _finite(self.high, "Uniform high")
        if not high > low:
            raise ValueError(f"Uniform needs low < high, got low={low}, high={high}")
        object.__setattr__(self, "low", low)
        object.__setattr__(self, "high", high)

    def logpdf(self, x):
        return logpdf.uniform(x, self.low, self.high)


@dataclass(frozen=True)
class HalfNormal:
    """Half-normal on ``[0, inf)`` with scale ``scale``."""

    scale: float

    def __post_init__(self):
        object.__setattr__(self, "scale", _positive(self.scale, "HalfNormal scale"))

    def logpdf(self, x):
        return logpdf.half_normal(x, self.scale)


@dataclass(frozen=True)
class HalfCauchy:
    """Half-Cauchy on ``[0, inf)`` with scale ``scale``."""

    scale: float

    def __post_init__(self):
        object.__setattr__(self, "scale", _positive(self.scale, "HalfCauchy scale"))

    def logpdf(self, x):
        return logpdf.half_cauchy(x, self.scale)


def sum_logpdf(prior, x):
    """Sum of ``prior.logpdf`` over all elements of ``x``."""
    return jnp.sum(prior.logpdf(x))
