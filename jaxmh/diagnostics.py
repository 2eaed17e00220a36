"""Convergence diagnostics of Vehtari, Gelman, Simpson, Carpenter & Bürkner (2021).

Rank-normalised split R-hat (bulk and folded), bulk and tail effective sample
sizes, and Monte Carlo standard errors of the mean and the sd -- defined exactly
as ArviZ defines them (``arviz.rhat``, ``arviz.ess``, ``arviz.mcse``), in NumPy.

Every function takes draws shaped ``(chain, draw, *event)`` and returns an array
shaped ``event`` (a float for scalar parameters).  A parameter with a NaN draw
gets NaN; fewer than 4 draws gives NaN; R-hat needs at least 2 chains (NaN with
one), as in ArviZ.  Constant draws have R-hat NaN and ESS equal to the number
of draws.

References
----------
Vehtari, A., Gelman, A., Simpson, D., Carpenter, B., Bürkner, P.-C. (2021).
Rank-normalization, folding, and localization: an improved R-hat for assessing
convergence of MCMC. Bayesian Analysis 16(2), 667-718.
"""

from __future__ import annotations

import numpy as np

__all__ = ["rhat", "rhat_from_moments", "ess_bulk", "ess_tail", "ess_mean", "mcse_mean", "mcse_sd", "split_chains",
           "rank_normalize", "autocovariance", "as_rows", "rows_rhat_and_ess_bulk", "rows_mcse_mean",
           "rows_ess_tail", "worst"]

_BLOM = 3.0 / 8.0


# ---------------------------------------------------------------------------
# Shapes.  Internally every array is (E, C, N): one row of chains x draws per
# scalar parameter, draws contiguous, so sorts and FFTs run on contiguous memory.
# ---------------------------------------------------------------------------
def as_rows(draws) -> tuple[np.ndarray, tuple]:
    """(chain, draw, *event) -> contiguous float64 (E, chain, draw) and the event shape."""
    arr = np.asarray(draws, dtype=np.float64)
    if arr.ndim < 2:
        raise ValueError(
            f"draws must be shaped (chain, draw, *event); got shape {arr.shape}. "
            "For one chain use draws[None]"
        )
    event = arr.shape[2:]
    flat = arr.reshape(arr.shape[0], arr.shape[1], -1)
    return np.ascontiguousarray(np.moveaxis(flat, 2, 0)), event


def _finish(values: np.ndarray, event: tuple):
    out = np.asarray(values, dtype=np.float64).reshape(event)
    return float(out) if out.ndim == 0 else out


def _valid(x: np.ndarray, min_chains: int) -> np.ndarray:
    """Per row: no NaN, and enough chains and draws (ArviZ's ``not_valid``)."""
    ok = ~np.isnan(x).any(axis=(1, 2))
    if x.shape[1] < min_chains or x.shape[2] < 4:
        ok[:] = False
    return ok


def split_chains(x: np.ndarray) -> np.ndarray:
    """Split every chain into its first and last halves along the last axis.

    ``(..., C, N) -> (..., 2C, N // 2)`` (the middle draw is dropped when N is odd).
    """
    n = x.shape[-1]
    half = n // 2
    return np.concatenate([x[..., :half], x[..., n - half:]], axis=-2)


# ---------------------------------------------------------------------------
# Building blocks
# ---------------------------------------------------------------------------
def _ndtri(p: np.ndarray) -> np.ndarray:
    """Standard normal quantile (Acklam's algorithm, relative error < 1.2e-9)."""
    a = (-3.969683028665376e01, 2.209460984245205e02, -2.759285104469687e02,
         1.383577518672690e02, -3.066479806614716e01, 2.506628277459239e00)
    b = (-5.447609879822406e01, 1.615858368580409e02, -1.556989798598866e02,
         6.680131188771972e01, -1.328068155288572e01)
    c = (-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e00,
         -2.549732539343734e00, 4.374664141464968e00, 2.938163982698783e00)
    d = (7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e00, 3.754408661907416e00)
    p = np.asarray(p, dtype=np.float64)
    out = np.empty_like(p)
    low, high = p < 0.02425, p > 1 - 0.02425
    mid = ~(low | high)
    q = p[mid] - 0.5
    r = q * q
    out[mid] = ((((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q) / (
        ((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1)
    for mask, sign, pp in ((low, 1.0, p[low]), (high, -1.0, 1 - p[high])):
        q = np.sqrt(-2 * np.log(pp))
        out[mask] = sign * (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / (
            (((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1)
    return out


def _average_ranks(rows: np.ndarray) -> np.ndarray:
    """Ranks 1..n along each row, ties given their average rank (``scipy.stats.rankdata``).

    Metropolis chains repeat values (every rejection), so ties are the rule.
    """
    ranks = np.empty(rows.shape)
    for i, row in enumerate(rows):
        order = np.argsort(row)
        ordered = row[order]
        starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
        ends = np.r_[starts[1:], row.size]            # one past each group's last index
        mean_rank = (starts + ends + 1) / 2.0          # average of ranks starts+1 .. ends
        ranks[i, order] = np.repeat(mean_rank, ends - starts)
    return ranks


def rank_normalize(x: np.ndarray) -> np.ndarray:
    """Rank-normalise each row of (E, C, N) over all its chains and draws (Blom offsets).

    Averaged ranks are multiples of 1/2, so the normal quantiles are looked up
    in a table of the ``2 size - 1`` possible values.
    """
    rows = x.reshape(x.shape[0], -1)
    size = rows.shape[1]
    table = _ndtri((np.arange(2, 2 * size + 1) / 2.0 - _BLOM) / (size - 2 * _BLOM + 1))
    index = (2.0 * _average_ranks(rows) - 2.0).astype(np.int64)
    return table[index].reshape(x.shape)


def autocovariance(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """Autocovariance at every lag along ``axis`` by FFT (biased, divided by n)."""
    n = x.shape[axis]
    m = _next_fast_len(2 * n)
    centred = x - x.mean(axis=axis, keepdims=True)
    spectrum = np.fft.rfft(centred, n=m, axis=axis)
    power = spectrum.real**2 + spectrum.imag**2
    cov = np.fft.irfft(power, n=m, axis=axis)
    return np.take(cov, np.arange(n), axis=axis) / n


def _next_fast_len(n: int) -> int:
    """Smallest 2^a 3^b 5^c >= n (a fast FFT size)."""
    best = 1 << (n - 1).bit_length()
    p5 = 1
    while p5 < best:
        p35 = p5
        while p35 < best:
            p235 = p35
            while p235 < n:
                p235 *= 2
            best = min(best, p235)
            p35 *= 3
        p5 *= 5
    return best


def _rhat_basic(x: np.ndarray) -> np.ndarray:
    """Classic R-hat of (E, C, N) per row."""
    n = x.shape[2]
    with np.errstate(divide="ignore", invalid="ignore"):
        between = n * np.var(x.mean(axis=2), axis=1, ddof=1)
        within = np.mean(np.var(x, axis=2, ddof=1), axis=1)
        return np.sqrt((between / within + n - 1) / n)


def _ess_basic(x: np.ndarray) -> np.ndarray:
    """ESS of (E, C, N) per row: Geyer's initial monotone sequence (ArviZ's ``_ess``)."""
    num_rows, num_chains, n = x.shape
    out = np.full(num_rows, np.nan)
    nan_rows = np.isnan(x).any(axis=(1, 2))
    with np.errstate(invalid="ignore"):
        const = (np.nanmax(x, axis=(1, 2)) - np.nanmin(x, axis=(1, 2))) < np.finfo(float).resolution
    out[const & ~nan_rows] = num_chains * n
    rows = np.flatnonzero(~const & ~nan_rows)
    if rows.size == 0:
        return out
    x = x[rows]
    acov = autocovariance(x, axis=-1)                         # (E, C, N)
    mean_var = acov[:, :, 0].mean(axis=1) * n / (n - 1.0)
    var_plus = mean_var * (n - 1.0) / n
    if num_chains > 1:
        var_plus = var_plus + np.var(x.mean(axis=2), axis=1, ddof=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        rho = (1.0 - (mean_var[:, None] - acov.mean(axis=1)) / var_plus[:, None]).T   # (N, E)
    e = rows.size
    rho_hat = np.zeros((n, e))
    rho_hat[0] = 1.0
    rho_hat[1] = rho[1]
    rho_even, rho_odd = np.ones(e), rho[1].copy()
    t_final = np.ones(e, dtype=int)
    active = np.ones(e, dtype=bool)
    t = 1
    # Geyer's initial positive sequence, every row stepping together while active
    while t < n - 3:
        active &= (rho_even + rho_odd) > 0
        if not active.any():
            break
        even, odd = rho[t + 1], rho[t + 2]
        rho_even = np.where(active, even, rho_even)
        rho_odd = np.where(active, odd, rho_odd)
        keep = active & (even + odd >= 0)
        rho_hat[t + 1] = np.where(keep, even, rho_hat[t + 1])
        rho_hat[t + 2] = np.where(keep, odd, rho_hat[t + 2])
        t += 2
        t_final = np.where(active, t, t_final)
    max_t = t_final - 2
    idx = np.arange(e)
    improve = rho_even > 0
    rho_hat[max_t[improve] + 1, idx[improve]] = rho_even[improve]
    # Geyer's initial monotone sequence
    t = 1
    while t <= max_t.max() - 2:
        on = t <= max_t - 2
        prev = rho_hat[t - 1] + rho_hat[t]
        fix = on & (rho_hat[t + 1] + rho_hat[t + 2] > prev)
        rho_hat[t + 1] = np.where(fix, prev / 2.0, rho_hat[t + 1])
        rho_hat[t + 2] = np.where(fix, prev / 2.0, rho_hat[t + 2])
        t += 2
    lags = np.arange(n)[:, None]
    body = np.sum(np.where(lags <= max_t, rho_hat, 0.0), axis=0)
    edge = np.sum(np.where(lags == max_t + 1, rho_hat, 0.0), axis=0)
    tau = -1.0 + 2.0 * body + edge
    total = num_chains * n
    tau = np.maximum(tau, 1.0 / np.log10(total))
    ess = total / tau
    ess[np.isnan(rho_hat).any(axis=0)] = np.nan
    out[rows] = ess
    return out


def _where_valid(values: np.ndarray, ok: np.ndarray) -> np.ndarray:
    return np.where(ok, values, np.nan)


def _nan_if_short(fn):
    """Fewer than 4 draws: NaN for every row, as ArviZ (before any computation can fail)."""

    def wrapped(x: np.ndarray, *args):
        if x.shape[-1] < 4:
            out = np.full(x.shape[0], np.nan)
            return (out, out.copy()) if fn.__name__ == "rows_rhat_and_ess_bulk" else out
        return fn(x, *args)

    wrapped.__name__ = fn.__name__
    wrapped.__doc__ = fn.__doc__
    return wrapped


def _rows(x: np.ndarray) -> np.ndarray:
    """(E, C, N) -> (E, C * N)."""
    return x.reshape(x.shape[0], -1)


# ---------------------------------------------------------------------------
# Public diagnostics
# ---------------------------------------------------------------------------
@_nan_if_short
def rows_rhat_and_ess_bulk(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rank-normalised split R-hat and bulk ESS of (C, N, E), sharing the rank normalisation."""
    split = split_chains(x)
    z = rank_normalize(split)
    bulk = _rhat_basic(z)
    folded = np.abs(split - np.median(_rows(split), axis=1)[:, None, None])
    tail = _rhat_basic(rank_normalize(folded))
    # ArviZ takes Python's max(bulk, tail): the first unless the second is larger
    r = _where_valid(np.where(tail > bulk, tail, bulk), _valid(x, min_chains=2))
    return r, _where_valid(_ess_basic(z), _valid(x, min_chains=1))


def rhat(draws):
    """Rank-normalised split R-hat: the larger of the bulk and the folded (tail) R-hat.

    Parameters
    ----------
    draws
        Array shaped ``(chain, draw, *event)``; at least 2 chains and 4 draws.

    Returns
    -------
    float or numpy.ndarray
        Shaped ``event``.  Values near 1 (below 1.01) indicate convergence.

    Examples
    --------
    >>> import numpy as np
    >>> from jaxmh.diagnostics import rhat
    >>> x = np.random.default_rng(0).normal(size=(4, 1000))
    >>> bool(rhat(x) < 1.01)
    True
    """
    x, event = as_rows(draws)
    return _finish(rows_rhat_and_ess_bulk(x)[0], event)


def ess_bulk(draws):
    """Bulk effective sample size: ESS of the rank-normalised split chains.

    Returns an array shaped ``event`` (see :func:`rhat` for the input).
    """
    x, event = as_rows(draws)
    return _finish(rows_rhat_and_ess_bulk(x)[1], event)


def _quantile_ess(x: np.ndarray, prob: float) -> np.ndarray:
    quantile = np.quantile(_rows(x), prob, axis=1)[:, None, None]  # R's type 7
    return _ess_basic(split_chains((x <= quantile).astype(np.float64)))


@_nan_if_short
def rows_ess_tail(x: np.ndarray, prob: tuple = (0.05, 0.95)) -> np.ndarray:
    low, high = _quantile_ess(x, prob[0]), _quantile_ess(x, prob[1])
    return _where_valid(np.where(high < low, high, low), _valid(x, min_chains=1))


def ess_tail(draws, prob: tuple = (0.05, 0.95)):
    """Tail effective sample size: the smaller ESS of the 5% and 95% quantile indicators."""
    x, event = as_rows(draws)
    return _finish(rows_ess_tail(x, prob), event)


@_nan_if_short
def _ess_mean(x: np.ndarray) -> np.ndarray:
    return _where_valid(_ess_basic(split_chains(x)), _valid(x, min_chains=1))


def ess_mean(draws):
    """Effective sample size for the mean: ESS of the split chains (no rank normalisation)."""
    x, event = as_rows(draws)
    return _finish(_ess_mean(x), event)


@_nan_if_short
def rows_mcse_mean(x: np.ndarray) -> np.ndarray:
    sd = np.std(_rows(x), axis=1, ddof=1)
    return _where_valid(sd / np.sqrt(_ess_basic(split_chains(x))), _valid(x, min_chains=1))


def mcse_mean(draws):
    """Monte Carlo standard error of the posterior mean: ``sd / sqrt(ess_mean)``."""
    x, event = as_rows(draws)
    return _finish(rows_mcse_mean(x), event)


def mcse_sd(draws):
    """Monte Carlo standard error of the posterior standard deviation (ArviZ's definition)."""
    x, event = as_rows(draws)
    return _finish(_mcse_sd(x), event)


@_nan_if_short
def _mcse_sd(x: np.ndarray) -> np.ndarray:
    ok = _valid(x, min_chains=1)
    sq = (x - _rows(x).mean(axis=1)[:, None, None]) ** 2
    ess = _ess_basic(split_chains(sq))
    evar = _rows(sq).mean(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        varvar = (_rows(sq**2).mean(axis=1) - evar**2) / ess
        value = np.sqrt(varvar / evar / 4)
    return _where_valid(value, ok)


def rhat_from_moments(count, mean, variance):
    """R-hat from per-chain moments alone (no draws): Gelman & Rubin (1992).

    For runs that kept only running moments (``store="moments"``):
    ``count`` is ``(chain,)``, ``mean`` and ``variance`` (``ddof=1``) are
    ``(chain, *event)``.  With ``W`` the mean within-chain variance and ``B/n``
    the variance of the chain means, ``R = sqrt(((n-1)/n W + B/n) / W)``.  This
    is the classic, non-split, non-rank-normalised R-hat: it detects chains
    that disagree in location or scale but, unlike :func:`rhat`, not trends
    within a chain nor heavy tails, so it is the weaker check.  Needs at least
    two chains, else NaN.
    """
    count = np.asarray(count, dtype=np.float64)
    mean = np.asarray(mean, dtype=np.float64)
    variance = np.asarray(variance, dtype=np.float64)
    if count.ndim != 1 or mean.shape[:1] != count.shape or variance.shape != mean.shape:
        raise ValueError(
            f"expected count (chain,), mean and variance (chain, ...); got shapes {count.shape}, "
            f"{mean.shape} and {variance.shape}")
    if count.size < 2 or np.any(count < 2):
        return np.full(mean.shape[1:], np.nan)[()]
    n = count.mean()
    within = variance.mean(axis=0)
    between_over_n = mean.var(axis=0, ddof=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.sqrt(((n - 1) / n * within + between_over_n) / within)
    return np.where(within > 0, out, np.nan)[()]


def worst(draws: dict) -> tuple[float, float]:
    """Largest R-hat and smallest bulk ESS over every scalar parameter of a dict of draws."""
    rhats, esses = [], []
    for value in draws.values():
        r, e = rows_rhat_and_ess_bulk(as_rows(value)[0])
        rhats.append(r)
        esses.append(e)
    return float(np.max(np.concatenate(rhats))), float(np.min(np.concatenate(esses)))
