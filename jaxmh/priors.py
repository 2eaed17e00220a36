"""Prior distributions that models take as arguments (validated when made)."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

import jax.numpy as jnp

from jaxmh import logpdf

__all__ = ["Normal", "Uniform", "HalfNormal", "HalfCauchy", "check", "parse"]


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


_PRIORS = (Normal, Uniform, HalfNormal, HalfCauchy)
_SPELLINGS = {"normal": Normal, "uniform": Uniform, "halfnormal": HalfNormal, "halfcauchy": HalfCauchy}


def check(prior: Any, name: str, *, scale: bool = False) -> Any:
    """Check that ``prior`` can serve as the prior named ``name``; return it.

    Parameters
    ----------
    prior
        A prior from this module, or any object with a ``logpdf(x)`` method.
    name
        The argument's name, used in the messages (e.g. ``"prior_sigma"``).
    scale
        ``True`` for a scale parameter: a prior of this module must then have
        its support in ``[0, inf)`` (``HalfNormal``, ``HalfCauchy``, or
        ``Uniform`` with ``low >= 0``).

    Raises
    ------
    TypeError
        ``prior`` is not a prior.
    ValueError
        ``scale`` is set and ``prior`` puts mass on negative values.

    Examples
    --------
    >>> from jaxmh.priors import HalfNormal, Normal, check
    >>> check(HalfNormal(1.0), "prior_sigma", scale=True)
    HalfNormal(scale=1.0)
    >>> check(Normal(0.0, 1.0), "prior_sigma", scale=True)
    Traceback (most recent call last):
    ...
    ValueError: prior_sigma is the prior of a scale (> 0): use HalfNormal, HalfCauchy or Uniform with low >= 0, got Normal(loc=0.0, scale=1.0)
    """
    if not isinstance(prior, _PRIORS) and not callable(getattr(prior, "logpdf", None)):
        raise TypeError(
            f"{name} must be a prior such as jaxmh.priors.Normal(0, 1) (an object with a logpdf "
            f"method), got {type(prior).__name__} {prior!r}"
        )
    if scale and isinstance(prior, _PRIORS):
        if isinstance(prior, Normal) or (isinstance(prior, Uniform) and prior.low < 0):
            raise ValueError(
                f"{name} is the prior of a scale (> 0): use HalfNormal, HalfCauchy or Uniform "
                f"with low >= 0, got {prior!r}"
            )
    return prior


def parse(text: str) -> Any:
    """A prior from text such as ``"normal(0, 10)"``, ``"uniform(0, 10)"``,
    ``"half-normal(1)"`` or ``"half-cauchy(5)"`` (case, ``-`` and ``_`` ignored).

    Examples
    --------
    >>> from jaxmh.priors import parse
    >>> parse("half-normal(1)")
    HalfNormal(scale=1.0)
    >>> parse("Normal(0, 10)")
    Normal(loc=0.0, scale=10.0)
    """
    match = re.fullmatch(r"\s*([A-Za-z_\-]+)\s*\(([^()]*)\)\s*", str(text))
    kind = _SPELLINGS.get(re.sub(r"[-_]", "", match.group(1)).lower()) if match else None
    if kind is None:
        raise ValueError(
            f"cannot read the prior {text!r}: expected normal(loc, scale), uniform(low, high), "
            "half-normal(scale) or half-cauchy(scale)"
        )
    args = [a.strip() for a in match.group(2).split(",")] if match.group(2).strip() else []
    expected = 1 if kind in (HalfNormal, HalfCauchy) else 2
    if len(args) != expected:
        raise ValueError(f"the prior {text!r} needs {expected} number(s), got {len(args)}")
    values = []
    for a in args:
        try:
            values.append(float(a))
        except ValueError:
            raise ValueError(f"the prior {text!r} has {a!r} where a number is expected") from None
    return kind(*values)
