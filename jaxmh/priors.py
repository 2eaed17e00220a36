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

:class:`LKJ`, the prior of a correlation matrix, is the exception: it is not
elementwise, so instead of ``logpdf`` it has ``logpdf_corr(omega)``,
``logpdf_cholesky(L)`` and ``logpdf_correlations(r, k)``, and
``start_correlations(key, k, num_chains)`` instead of ``start``.
"""

from __future__ import annotations

import math
import re
import dataclasses
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp

from jaxmh import logpdf, stablemath

__all__ = ["Normal", "Uniform", "HalfNormal", "HalfCauchy", "Exponential", "StudentT", "HalfStudentT",
           "LKJ", "check", "parse", "text", "draw_start", "start_scale"]

#: Starting values of the tutorial (a prior of scale 3): N(0, 1) for locations, U(0.5, 5) for scales.
_LOCATION_START = (-3.0, 3.0)
_SCALE_START = (0.5, 5.0)


def _location_start(key, shape, loc: float, spread: float):
    return loc + spread * jax.random.normal(key, shape)


def _scale_start(key, shape, spread: float):
    return spread * jax.random.uniform(key, shape, minval=_SCALE_START[0], maxval=_SCALE_START[1])


_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)
_HALF_LOG_PI = 0.5 * math.log(math.pi)
_LOG_2 = math.log(2.0)
#: Stirling's series for log Gamma(z) - ((z - 1/2) log z - z + log(2 pi) / 2), in powers of 1/z^2
#: after the leading 1/z: 1/12, -1/360, 1/1260, -1/1680, 1/1188 (error below 1e-13 for z >= 8).
_STIRLING = (1.0 / 12.0, -1.0 / 360.0, 1.0 / 1260.0, -1.0 / 1680.0, 1.0 / 1188.0)
_LGAMMA_SHIFT = 8


def _lgamma(x):
    """``log Gamma(x)`` for ``x > 0`` from ``+ - * /`` and :func:`jaxmh.stablemath.log`, so that it
    gives the same bits whatever the batch (``jax.scipy.special.gammaln`` may not): the recurrence
    ``Gamma(x) = Gamma(x + 8) / (x (x + 1) ... (x + 7))`` and Stirling's series at ``x + 8``."""
    x = jnp.asarray(x)
    if not jnp.issubdtype(x.dtype, jnp.floating):
        x = x.astype(jnp.result_type(float))
    z = x + float(_LGAMMA_SHIFT)
    shift = stablemath.log(x)
    for i in range(1, _LGAMMA_SHIFT):
        shift = shift + stablemath.log(x + float(i))
    w = 1.0 / (z * z)
    series = jnp.zeros_like(z)
    for c in _STIRLING[::-1]:
        series = c + w * series
    return (z - 0.5) * stablemath.log(z) - z + _HALF_LOG_2PI + series / z - shift


def _student_t_core(x, df, scale):
    """Log-density of Student-t(df, 0, scale) at ``x`` (no support check); ``safe`` parameters."""
    z = x / scale
    half = 0.5 * df
    return (_lgamma(half + 0.5) - _lgamma(half) - 0.5 * stablemath.log(df) - _HALF_LOG_PI
            - stablemath.log(scale) - (half + 0.5) * stablemath.log(1.0 + z * z / df))


def _student_t_tail(t: float, df: float) -> float:
    """``P(|T| >= |t|)`` for ``T ~ Student-t(df)``: the regularised incomplete beta
    ``I_{df / (df + t^2)}(df / 2, 1 / 2)``."""
    t = abs(float(t))
    if t == 0.0:
        return 1.0
    if math.isinf(t):
        return 0.0
    return float(jax.scipy.special.betainc(0.5 * df, 0.5, df / (df + t * t)))


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


class _OnRealLine:
    """What the priors of locations share: support the real line; starts at ``loc`` give or take
    ``scale / 3``."""

    support = (-math.inf, math.inf)

    def start_scale(self, scale: bool = False) -> float:
        return self.scale / 3.0

    def start(self, key, shape, scale: bool = False):
        return _location_start(key, shape, self.loc, self.scale / 3.0)


@dataclass(frozen=True)
class Normal(_OnRealLine):
    """``N(loc, scale^2)``."""

    loc: float
    scale: float

    def __post_init__(self):
        object.__setattr__(self, "loc", _finite(self.loc, "Normal loc"))
        object.__setattr__(self, "scale", _positive(self.scale, "Normal scale"))

    def logpdf(self, x):
        return logpdf.normal(x, self.loc, self.scale)

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


@dataclass(frozen=True)
class StudentT(_OnRealLine):
    """Student-t with ``df`` degrees of freedom, location ``loc`` and scale ``scale``, as in Stan
    and NumPyro (``student_t(df, loc, scale)``)."""

    df: float
    loc: float
    scale: float

    def __post_init__(self):
        object.__setattr__(self, "df", _positive(self.df, "StudentT df"))
        object.__setattr__(self, "loc", _finite(self.loc, "StudentT loc"))
        object.__setattr__(self, "scale", _positive(self.scale, "StudentT scale"))

    def logpdf(self, x):
        ok = (self.df > 0) & (self.scale > 0)
        df, scale = jnp.where(ok, self.df, 1.0), jnp.where(ok, self.scale, 1.0)
        return jnp.where(ok, _student_t_core(x - self.loc, df, scale), -jnp.inf)

    def tail(self, x: float) -> float:
        return _student_t_tail((x - self.loc) / self.scale, self.df)

    def __str__(self) -> str:
        return f"student_t({_format(self.df)}, {_format(self.loc)}, {_format(self.scale)})"


@dataclass(frozen=True)
class HalfStudentT(_OnHalfLine):
    """Half-Student-t on ``[0, inf)``: twice the density of Student-t(df, 0, scale) at ``x >= 0``."""

    df: float
    scale: float

    def __post_init__(self):
        object.__setattr__(self, "df", _positive(self.df, "HalfStudentT df"))
        object.__setattr__(self, "scale", _positive(self.scale, "HalfStudentT scale"))

    def logpdf(self, x):
        ok = (self.df > 0) & (self.scale > 0)
        df, scale = jnp.where(ok, self.df, 1.0), jnp.where(ok, self.scale, 1.0)
        return jnp.where((x >= 0) & ok, _LOG_2 + _student_t_core(x, df, scale), -jnp.inf)

    def tail(self, x: float) -> float:
        return _student_t_tail(max(x, 0.0) / self.scale, self.df)

    def __str__(self) -> str:
        return f"half_student_t({_format(self.df)}, {_format(self.scale)})"


def _num_correlations(k: int) -> int:
    return k * (k - 1) // 2


def _cholesky_of_correlations(r, k: int):
    """The Cholesky factor of the (k, k) correlation matrix whose strictly lower triangle is ``r``
    (last axis, row-major: (1,0), (2,0), (2,1), ...), written out element by element with
    ``+ - * /`` and ``sqrt`` so that the bits do not depend on the batch.

    Returns ``(L, d, pd)``: ``L[i][j]`` (``j <= i``, nested lists of arrays), ``d[i] = L_ii^2``,
    and ``pd``, whether every ``d[i] > 0`` (the matrix is positive definite)."""
    corr, n = {}, 0
    for i in range(1, k):
        for j in range(i):
            corr[i, j] = r[..., n]
            n += 1
    one = jnp.ones_like(r[..., 0]) if n else jnp.ones(r.shape[:-1], dtype=r.dtype)
    L = [[None] * k for _ in range(k)]
    d = [one]
    pd = jnp.ones(one.shape, dtype=bool)
    L[0][0] = one
    for i in range(1, k):
        L[i][0] = corr[i, 0]
        for j in range(1, i):
            acc = corr[i, j]
            for m in range(j):
                acc = acc - L[i][m] * L[j][m]
            L[i][j] = acc / L[j][j]
        dii = one
        for m in range(i):
            dii = dii - L[i][m] * L[i][m]
        pd = pd & (dii > 0)
        dii_safe = jnp.where(dii > 0, dii, 1.0)
        d.append(dii_safe)
        L[i][i] = jnp.sqrt(dii_safe)
    return L, d, pd


@dataclass(frozen=True)
class LKJ:
    """The LKJ prior on a correlation matrix ``Omega``: density ``c_k(eta) det(Omega)^(eta - 1)``,
    with the exact normalising constant ``c_k(eta)`` of Stan's ``lkj_corr`` and NumPyro's ``LKJ``.
    ``eta = 1`` is uniform over correlation matrices; ``eta > 1`` favours weak correlations.

    Not elementwise: it has ``logpdf_corr(omega)``, ``logpdf_cholesky(L)`` and
    ``logpdf_correlations(r, k)`` (each batched over leading axes) instead of ``logpdf``.
    """

    eta: float

    def __post_init__(self):
        object.__setattr__(self, "eta", _positive(self.eta, "LKJ eta"))

    def _safe_eta(self):
        return jnp.where(self.eta > 0, self.eta, 1.0)

    def log_normalizer(self, k: int):
        """``log c_k(eta)``: minus the log of the integral of ``det(Omega)^(eta - 1)`` over (k, k)
        correlation matrices (Lewandowski, Kurowicka and Joe 2009, as in NumPyro's ``LKJCholesky``)."""
        k = int(k)
        eta = self._safe_eta()
        if k < 2:
            return jnp.zeros_like(jnp.asarray(eta, dtype=jnp.result_type(float)))
        dm1 = k - 1
        alpha = eta + 0.5 * dm1
        # multigammaln(alpha - 1/2, k - 1) without its pi constant, plus the pi constant of LKJ
        numerator = _lgamma(alpha - 0.5)
        for j in range(1, dm1):
            numerator = numerator + _lgamma(alpha - 0.5 - 0.5 * j)
        pi_constant = (dm1 * (dm1 - 1) / 4.0 + 0.5 * dm1) * math.log(math.pi)
        return dm1 * _lgamma(alpha) - numerator - pi_constant

    def _check_eta(self, value):
        return jnp.where(self.eta > 0, value, -jnp.inf)

    def logpdf_cholesky(self, L):
        """Log-density of the Cholesky factor ``L`` (shape ``(..., k, k)``) of a correlation matrix
        under ``LKJCholesky(k, eta)``: ``sum_{i=2..k} (k - i + 2 eta - 2) log L_ii + log c_k(eta)``
        (the LKJ density times the Jacobian of ``L -> L L^T``), as NumPyro's
        ``LKJCholesky(k, eta).log_prob``.  ``-inf`` where a diagonal element is not positive;
        ``L`` is otherwise assumed to be such a factor (rows of unit length)."""
        L = jnp.asarray(L)
        if L.ndim < 2 or L.shape[-1] != L.shape[-2]:
            raise ValueError(f"LKJ.logpdf_cholesky needs a (k, k) matrix, got shape {L.shape}")
        k = L.shape[-1]
        eta = self._safe_eta()
        total = self.log_normalizer(k)
        ok = jnp.ones(L.shape[:-2], dtype=bool)
        for i in range(1, k):           # 0-based i is the (i + 1)-th row: exponent k - (i + 1) + 2 eta - 2
            lii = L[..., i, i]
            ok = ok & (lii > 0)
            total = total + (k - i - 3 + 2.0 * eta) * stablemath.log(jnp.where(lii > 0, lii, 1.0))
        return self._check_eta(jnp.where(ok, total, -jnp.inf))

    def logpdf_correlations(self, r, k: int):
        """Log-density of the (k, k) correlation matrix whose strictly lower triangle is ``r``
        (last axis of length ``k (k - 1) / 2``, row-major: (1,0), (2,0), (2,1), (3,0), ...);
        ``-inf`` if some ``|r| >= 1`` or the matrix is not positive definite."""
        k = int(k)
        r = jnp.asarray(r)
        if not jnp.issubdtype(r.dtype, jnp.floating):
            r = r.astype(jnp.result_type(float))
        m = _num_correlations(k)
        if k < 1 or r.ndim < 1 or r.shape[-1] != m:
            raise ValueError(f"LKJ.logpdf_correlations needs the {m} correlations below the diagonal "
                             f"of a {k}x{k} matrix on its last axis, got shape {r.shape}")
        _, d, pd = _cholesky_of_correlations(r, k)
        ok = pd
        if m:
            inside = jnp.abs(r) < 1
            for n in range(m):
                ok = ok & inside[..., n]
        logdet = jnp.zeros(r.shape[:-1], dtype=r.dtype)
        for i in range(1, k):
            logdet = logdet + stablemath.log(d[i])
        value = (self._safe_eta() - 1.0) * logdet + self.log_normalizer(k)
        return self._check_eta(jnp.where(ok, value, -jnp.inf))

    def logpdf_corr(self, omega):
        """Log-density of the correlation matrix ``omega`` (shape ``(..., k, k)``, the strictly lower
        triangle is read), ``(eta - 1) log det(omega) + log c_k(eta)``, as NumPyro's
        ``LKJ(k, eta).log_prob``; ``-inf`` if ``omega`` is not positive definite."""
        omega = jnp.asarray(omega)
        if omega.ndim < 2 or omega.shape[-1] != omega.shape[-2]:
            raise ValueError(f"LKJ.logpdf_corr needs a (k, k) matrix, got shape {omega.shape}")
        k = omega.shape[-1]
        rows, cols = _lower_indices(k)
        if not rows:
            return self.logpdf_correlations(jnp.zeros(omega.shape[:-2] + (0,), dtype=omega.dtype), k)
        return self.logpdf_correlations(omega[..., rows, cols], k)

    def start_correlations(self, key, k: int, num_chains: int):
        """Starting correlations for ``num_chains`` chains, shape ``(num_chains, k (k - 1) / 2)``
        (the order of :meth:`logpdf_correlations`): ``U(-0.1, 0.1) / k``, so each matrix is
        diagonally dominant, hence positive definite, for every ``k``."""
        k = int(k)
        return jax.random.uniform(key, (num_chains, _num_correlations(k)), minval=-0.1 / k, maxval=0.1 / k)

    def __str__(self) -> str:
        return f"lkj({_format(self.eta)})"


def _lower_indices(k: int) -> tuple:
    """Row and column indices of the strictly lower triangle, row-major."""
    rows, cols = [], []
    for i in range(1, k):
        for j in range(i):
            rows.append(i)
            cols.append(j)
    return rows, cols


def sum_logpdf(prior, x):
    """Sum of ``prior.logpdf`` over all elements of ``x``."""
    return jnp.sum(prior.logpdf(x))


_PRIORS = (Normal, Uniform, HalfNormal, HalfCauchy, Exponential, StudentT, HalfStudentT, LKJ)
_SPELLINGS = {"normal": Normal, "uniform": Uniform, "halfnormal": HalfNormal, "halfcauchy": HalfCauchy,
              "exponential": Exponential, "studentt": StudentT, "halfstudentt": HalfStudentT, "lkj": LKJ}
_NUM_ARGS = {Normal: 2, Uniform: 2, HalfNormal: 1, HalfCauchy: 1, Exponential: 1, StudentT: 3,
             HalfStudentT: 2, LKJ: 1}
_KINDS = ("location", "scale", "correlation")


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


def check(prior: Any, name: str, *, scale: bool = False, kind: str | None = None) -> Any:
    """Check that ``prior`` can serve as the prior named ``name``; return it.

    Parameters
    ----------
    prior
        A prior from this module, or any object with a ``logpdf(x)`` method
        (``logpdf_correlations(r, k)`` for a correlation prior).
    name
        The argument's name, used in the messages (e.g. ``"prior_sigma"``).
    scale
        ``True`` for a scale parameter, the same as ``kind="scale"``.
    kind
        ``"location"`` (the default), ``"scale"`` or ``"correlation"``.  The
        prior of a scale, if from this module, must have its support in
        ``[0, inf)`` (``HalfNormal``, ``HalfCauchy``, ``HalfStudentT``,
        ``Exponential``, or ``Uniform`` with ``low >= 0``); the prior of a
        correlation matrix, if from this module, must be ``LKJ``, and ``LKJ``
        serves for nothing else.

    Raises
    ------
    TypeError
        ``prior`` is not a prior.
    ValueError
        ``prior`` is of the wrong kind (e.g. puts mass on negative values of a
        scale), or ``kind`` is not one of the three (or contradicts ``scale``).

    Examples
    --------
    >>> from jaxmh.priors import LKJ, HalfNormal, Normal, check
    >>> check(HalfNormal(1.0), "prior_sigma", scale=True)
    HalfNormal(scale=1.0)
    >>> check(LKJ(2.0), "prior_omega", kind="correlation")
    LKJ(eta=2.0)
    >>> check(Normal(0.0, 1.0), "prior_sigma", scale=True)
    Traceback (most recent call last):
    ...
    ValueError: prior_sigma is the prior of a scale (> 0): use HalfNormal, HalfCauchy, HalfStudentT, Exponential or Uniform with low >= 0, got Normal(loc=0.0, scale=1.0)
    """
    if kind is None:
        kind = "scale" if scale else "location"
    elif kind not in _KINDS:
        raise ValueError(f"kind must be one of {', '.join(map(repr, _KINDS))}, got {kind!r} (checking {name})")
    elif scale and kind != "scale":
        raise ValueError(f"scale=True contradicts kind={kind!r} (checking {name})")
    if kind == "correlation":
        if isinstance(prior, LKJ):
            return prior
        if isinstance(prior, _PRIORS):
            raise ValueError(f"{name} is the prior of a correlation matrix: use LKJ(eta), got {prior!r}")
        if not callable(getattr(prior, "logpdf_correlations", None)):
            raise TypeError(
                f"{name} must be a prior of a correlation matrix such as jaxmh.priors.LKJ(2) (an object "
                f"with a logpdf_correlations method), got {type(prior).__name__} {prior!r}"
            )
        return prior
    if isinstance(prior, LKJ):
        raise ValueError(
            f"{name} is the prior of a {kind} (a single number), but LKJ is the prior of a correlation "
            f"matrix, got {prior!r}"
        )
    if not isinstance(prior, _PRIORS) and not callable(getattr(prior, "logpdf", None)):
        raise TypeError(
            f"{name} must be a prior such as jaxmh.priors.Normal(0, 1) (an object with a logpdf "
            f"method), got {type(prior).__name__} {prior!r}"
        )
    if kind == "scale" and isinstance(prior, _PRIORS):
        if isinstance(prior, (Normal, StudentT)) or (isinstance(prior, Uniform) and prior.low < 0):
            raise ValueError(
                f"{name} is the prior of a scale (> 0): use HalfNormal, HalfCauchy, HalfStudentT, "
                f"Exponential or Uniform with low >= 0, got {prior!r}"
            )
    return prior


def parse(text: str) -> Any:
    """A prior from text such as ``"normal(0, 10)"``, ``"uniform(0, 10)"``,
    ``"half-normal(1)"``, ``"half-cauchy(5)"``, ``"exponential(0.1)"`` (a rate),
    ``"student_t(3, 0, 2.5)"`` (df, loc, scale), ``"half_student_t(3, 2.5)"``
    (df, scale) or ``"lkj(2)"`` (eta) (case, ``-`` and ``_`` ignored).

    Examples
    --------
    >>> from jaxmh.priors import parse
    >>> parse("half-normal(1)")
    HalfNormal(scale=1.0)
    >>> parse("Normal(0, 10)")
    Normal(loc=0.0, scale=10.0)
    >>> parse("student_t(3, 0, 2.5)")
    StudentT(df=3.0, loc=0.0, scale=2.5)
    """
    match = re.fullmatch(r"\s*([A-Za-z_\-]+)\s*\(([^()]*)\)\s*", str(text))
    kind = _SPELLINGS.get(re.sub(r"[-_]", "", match.group(1)).lower()) if match else None
    if kind is None:
        raise ValueError(
            f"cannot read the prior {text!r}: expected normal(loc, scale), uniform(low, high), "
            "half-normal(scale), half-cauchy(scale), exponential(rate), student_t(df, loc, scale), "
            "half_student_t(df, scale) or lkj(eta)"
        )
    args = [a.strip() for a in match.group(2).split(",")] if match.group(2).strip() else []
    expected = _NUM_ARGS[kind]
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
