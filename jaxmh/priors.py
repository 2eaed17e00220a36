"""Prior distributions that models take as arguments (validated when made).

Every prior here has

* ``logpdf(x)``: the log-density, ``-inf`` outside the support;
* ``support``: ``(low, high)``, possibly infinite;
* ``start(key, shape, scale=False)``: starting values for a sampler inside the
  support, and ``start_scale(scale=False)`` their typical spread (the unit of
  :func:`jaxmh.fit`'s initial proposal sd).  The tutorial's starting values
  (``N(0, 1)`` for locations, ``U(0.5, 5)`` for scales) are those of a prior of
  scale 3 (the tutorial's ``N(0, 3^2)``); a prior of scale ``s`` starts ``s / 3``
  times as wide, centred on its location;
* ``tail(x)``: the prior probability of a value at least as extreme as ``x``
  (two-sided for locations), used to warn when the data sit far outside what
  the prior allows;
* ``str(prior)``: the text :func:`parse` reads back, e.g. ``normal(0, 3)``.
"""

from __future__ import annotations

import math
import re
import dataclasses
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp

from jaxmh import logpdf

__all__ = ["Normal", "Uniform", "HalfNormal", "HalfCauchy", "Exponential", "check", "parse", "text",
           "draw_start", "start_scale"]

#: Starting values of the tutorial (a prior of scale 3): N(0, 1) for locations, U(0.5, 5) for scales.
_LOCATION_START = (-3.0, 3.0)
_SCALE_START = (0.5, 5.0)


def _location_start(key, shape, loc: float, spread: float):
    return loc + spread * jax.random.normal(key, shape)


def _scale_start(key, shape, spread: float):
    return spread * jax.random.uniform(key, shape, minval=_SCALE_START[0], maxval=_SCALE_START[1])


def _format(value: float) -> str:
    return f"{value:.4g}"


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

    support = (-math.inf, math.inf)

    def start_scale(self, scale: bool = False) -> float:
        return self.scale / 3.0

    def start(self, key, shape, scale: bool = False):
        return _location_start(key, shape, self.loc, self.scale / 3.0)

    def tail(self, x: float) -> float:
        return math.erfc(abs(x - self.loc) / self.scale / math.sqrt(2.0))

    def __str__(self) -> str:
        return f"normal({_format(self.loc)}, {_format(self.scale)})"


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

    @property
    def support(self) -> tuple:
        return (self.low, self.high)

    def _usual(self, scale: bool) -> bool:  # does the interval hold the tutorial's starting range?
        low, high = _SCALE_START if scale else _LOCATION_START
        return self.low <= low and high <= self.high

    def start_scale(self, scale: bool = False) -> float:
        return 1.0 if self._usual(scale) else 0.8 * (self.high - self.low) / 6.0

    def start(self, key, shape, scale: bool = False):
        """The tutorial's starting values if the interval holds them, else the middle 80% of it."""
        if self._usual(scale):
            return _scale_start(key, shape, 1.0) if scale else _location_start(key, shape, 0.0, 1.0)
        width = self.high - self.low
        return jax.random.uniform(key, shape, minval=self.low + 0.1 * width, maxval=self.high - 0.1 * width)

    def tail(self, x: float) -> float:
        return 1.0 if self.low <= x <= self.high else 0.0

    def __str__(self) -> str:
        return f"uniform({_format(self.low)}, {_format(self.high)})"


class _OnHalfLine:
    """What the priors of scales share: support ``[0, inf)``; a prior of size ``s`` (its scale,
    or an exponential's mean) starts at ``s / 3 * U(0.5, 5)``."""

    support = (0.0, math.inf)

    def _size(self) -> float:
        return self.scale

    def start_scale(self, scale: bool = False) -> float:
        return self._size() / 3.0

    def start(self, key, shape, scale: bool = False):
        return _scale_start(key, shape, self.start_scale())


@dataclass(frozen=True)
class HalfNormal(_OnHalfLine):
    """Half-normal on ``[0, inf)`` with scale ``scale``."""

    scale: float

    def __post_init__(self):
        object.__setattr__(self, "scale", _positive(self.scale, "HalfNormal scale"))

    def logpdf(self, x):
        return logpdf.half_normal(x, self.scale)


    def tail(self, x: float) -> float:
        return math.erfc(max(x, 0.0) / self.scale / math.sqrt(2.0))

    def __str__(self) -> str:
        return f"half-normal({_format(self.scale)})"


@dataclass(frozen=True)
class HalfCauchy(_OnHalfLine):
    """Half-Cauchy on ``[0, inf)`` with scale ``scale``."""

    scale: float

    def __post_init__(self):
        object.__setattr__(self, "scale", _positive(self.scale, "HalfCauchy scale"))

    def logpdf(self, x):
        return logpdf.half_cauchy(x, self.scale)


    def tail(self, x: float) -> float:
        return 1.0 - 2.0 / math.pi * math.atan(max(x, 0.0) / self.scale)

    def __str__(self) -> str:
        return f"half-cauchy({_format(self.scale)})"


@dataclass(frozen=True)
class Exponential(_OnHalfLine):
    """Exponential on ``[0, inf)`` with rate ``rate`` (mean ``1 / rate``), as in R, Stan and NumPyro."""

    rate: float

    def __post_init__(self):
        object.__setattr__(self, "rate", _positive(self.rate, "Exponential rate"))

    def logpdf(self, x):
        return logpdf.exponential(x, self.rate)

    def _size(self) -> float:
        return 1.0 / self.rate

    def tail(self, x: float) -> float:
        return math.exp(-self.rate * max(x, 0.0))

    def __str__(self) -> str:
        return f"exponential({_format(self.rate)})"


def sum_logpdf(prior, x):
    """Sum of ``prior.logpdf`` over all elements of ``x``."""
    return jnp.sum(prior.logpdf(x))


_PRIORS = (Normal, Uniform, HalfNormal, HalfCauchy, Exponential)
_SPELLINGS = {"normal": Normal, "uniform": Uniform, "halfnormal": HalfNormal, "halfcauchy": HalfCauchy,
              "exponential": Exponential}


def text(prior: Any) -> str:
    """How a prior is written in headers and on the command line (``str`` for this module's priors)."""
    return str(prior) if isinstance(prior, _PRIORS) else repr(prior)


def draw_start(prior: Any, key: jax.Array, shape: tuple, scale: bool = False) -> jax.Array:
    """Starting values inside ``prior``'s support (see the module docstring).

    A prior of another kind (any object with ``logpdf``) may define
    ``start(key, shape, scale)``; otherwise it gets the tutorial's starting
    values, ``N(0, 1)`` for locations and ``U(0.5, 5)`` for scales.
    """
    start = getattr(prior, "start", None)
    if callable(start):
        return start(key, shape, scale=scale)
    return _scale_start(key, shape, 1.0) if scale else _location_start(key, shape, 0.0, 1.0)


def start_scale(prior: Any, scale: bool = False) -> float:
    """The typical spread of :func:`draw_start`'s values (1 for a prior without ``start_scale``)."""
    method = getattr(prior, "start_scale", None)
    return float(method(scale)) if callable(method) else 1.0


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
        its support in ``[0, inf)`` (``HalfNormal``, ``HalfCauchy``,
        ``Exponential``, or ``Uniform`` with ``low >= 0``).

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
    ValueError: prior_sigma is the prior of a scale (> 0): use HalfNormal, HalfCauchy, Exponential or Uniform with low >= 0, got Normal(loc=0.0, scale=1.0)
    """
    if not isinstance(prior, _PRIORS) and not callable(getattr(prior, "logpdf", None)):
        raise TypeError(
            f"{name} must be a prior such as jaxmh.priors.Normal(0, 1) (an object with a logpdf "
            f"method), got {type(prior).__name__} {prior!r}"
        )
    if scale and isinstance(prior, _PRIORS):
        if isinstance(prior, Normal) or (isinstance(prior, Uniform) and prior.low < 0):
            raise ValueError(
                f"{name} is the prior of a scale (> 0): use HalfNormal, HalfCauchy, Exponential or "
                f"Uniform with low >= 0, got {prior!r}"
            )
    return prior


def parse(text: str) -> Any:
    """A prior from text such as ``"normal(0, 10)"``, ``"uniform(0, 10)"``,
    ``"half-normal(1)"``, ``"half-cauchy(5)"`` or ``"exponential(0.1)"`` (a rate;
    case, ``-`` and ``_`` ignored).

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
            "half-normal(scale), half-cauchy(scale) or exponential(rate)"
        )
    args = [a.strip() for a in match.group(2).split(",")] if match.group(2).strip() else []
    expected = 1 if kind in (HalfNormal, HalfCauchy, Exponential) else 2
    if len(args) != expected:
        raise ValueError(f"the prior {text!r} needs {expected} number(s), got {len(args)}")
    values = []
    for a in args:
        try:
            values.append(float(a))
        except ValueError:
            raise ValueError(f"the prior {text!r} has {a!r} where a number is expected") from None
    return kind(*values)


def _register_pytree(cls: type) -> None:
    """A prior is a pytree of its numbers, so a model's priors can travel with its data
    (:attr:`jaxmh.models.Model.data`) and be batched, e.g. one data-scaled prior per dataset
    in :func:`jaxmh.study`.  Unflattening skips the checks (the numbers may be traced)."""
    names = tuple(f.name for f in dataclasses.fields(cls))

    def flatten(prior):
        return tuple(getattr(prior, n) for n in names), None

    def unflatten(_, children):
        prior = object.__new__(cls)
        for n, v in zip(names, children):
            object.__setattr__(prior, n, v)
        return prior

    jax.tree_util.register_pytree_node(cls, flatten, unflatten)


for _cls in _PRIORS:
    _register_pytree(_cls)
