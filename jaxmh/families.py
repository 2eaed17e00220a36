"""Likelihood families of formula models: what a row of data says about its linear predictor.

========== ======== =================================== ====================================
family     link     response                            ``jaxmh.model`` arguments
========== ======== =================================== ====================================
gaussian   identity any number                          (``sigma`` is a parameter)
bernoulli  logit    0 or 1, or text with two values     --
binomial   logit    successes out of ``trials``, or a   ``trials="column"`` (or a number)
                    proportion in [0, 1] (times trials)
poisson    log      counts 0, 1, 2, ...                 ``offset="column"`` (optional, on the
                                                        log scale: ``log(exposure)``)
========== ======== =================================== ====================================

A text Bernoulli response counts its second value in sorted order as 1 (as R's
``glm`` does with a factor: ``"no"``/``"yes"`` gives ``yes = 1``).  Each
family's ``loglik`` is the full log-likelihood of a row (with the binomial
coefficient or ``-log(y!)``: :func:`constants`), ``score`` its first derivative
in ``eta`` and its negative second derivative (the weight of iteratively
reweighted least squares), which the sampler uses to build its proposals.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxmh import stablemath

__all__ = ["Family", "FAMILIES", "get", "prepare", "Prepared"]


class Family(NamedTuple):
    """A likelihood family with its link (the functions take jax arrays of rows)."""

    name: str
    link: str
    #: ``(y, eta, trials) -> (n,)`` log-likelihood of each row, without :func:`constants`
    loglik: Callable
    #: ``(y, eta, trials) -> (d1, w)``: ``d loglik / d eta`` and ``-d^2 loglik / d eta^2`` per row
    score: Callable
    #: ``eta -> mean`` per trial: the probability (logit) or the rate (log)
    inverse_link: Callable
    #: ``(y, trials) -> (eta0, w0)``: a starting linear predictor from the data alone, and its weights
    #: (as a GLM's iterations start: ``mu = (y + 1/2) / (trials + 1)``, or ``y + 1/2`` for counts)
    start: Callable = None


def _softplus(x: jax.Array) -> jax.Array:
    """``log(1 + exp(x))`` without overflow."""
    return jnp.maximum(x, 0.0) + stablemath.log(1.0 + stablemath.exp(-jnp.abs(x)))


def _sigmoid(x: jax.Array) -> jax.Array:
    e = stablemath.exp(-jnp.abs(x))
    return jnp.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _logit_loglik(y, eta, trials):
    return y * eta - trials * _softplus(eta)


def _logit_score(y, eta, trials):
    mu = _sigmoid(eta)
    return y - trials * mu, trials * mu * (1.0 - mu)


def _poisson_loglik(y, eta, trials):
    return y * eta - stablemath.exp(eta)


def _poisson_score(y, eta, trials):
    rate = stablemath.exp(eta)
    return y - rate, rate


def _logit_start(y, trials):
    mu = (y + 0.5) / (trials + 1.0)
    return stablemath.log(mu / (1.0 - mu)), trials * mu * (1.0 - mu)


def _poisson_start(y, trials):
    return stablemath.log(y + 0.5), y + 0.5


def _gaussian_unused(*args):
    raise NotImplementedError("the Gaussian family's likelihood has sigma; formula models write it themselves")


FAMILIES = {
    "gaussian": Family("gaussian", "identity", _gaussian_unused, _gaussian_unused, lambda eta: eta),
    "bernoulli": Family("bernoulli", "logit", _logit_loglik, _logit_score, _sigmoid, _logit_start),
    "binomial": Family("binomial", "logit", _logit_loglik, _logit_score, _sigmoid, _logit_start),
    "poisson": Family("poisson", "log", _poisson_loglik, _poisson_score, stablemath.exp, _poisson_start),
}


def get(name: Any) -> Family:
    """The family named ``name`` (a ``ValueError`` listing the families otherwise)."""
    if not isinstance(name, str) or name.lower() not in FAMILIES:
        raise ValueError(f"family must be one of {', '.join(map(repr, FAMILIES))}, got {name!r}")
    return FAMILIES[name.lower()]


class Prepared(NamedTuple):
    """A non-Gaussian family's data, checked: ``y``, ``trials``, ``offset`` and the rows' constants."""

    y: np.ndarray
    trials: np.ndarray
    offset: np.ndarray
    constants: np.ndarray
    note: str          # what was read how, e.g. "'yes' counted as 1", or ""


def _first(mask: np.ndarray, rows: np.ndarray) -> str:
    return f"row {int(rows[np.flatnonzero(mask)[0]])}"


def _more(mask: np.ndarray) -> str:
    k = int(np.sum(mask)) - 1
    return f" (and {k} more {'row' if k == 1 else 'rows'})" if k > 0 else ""


def _value(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else repr(float(v))


def constants(family: str, y: np.ndarray, trials: np.ndarray) -> np.ndarray:
    """Each row's log-likelihood constant: ``log C(trials, y)`` (logit families), ``-log(y!)`` (Poisson)."""
    from math import lgamma
    if family == "poisson":
        return -np.array([lgamma(v + 1.0) for v in y])
    return np.array([lgamma(n + 1.0) - lgamma(k + 1.0) - lgamma(n - k + 1.0) for k, n in zip(y, trials)])


def prepare(family: str, y: np.ndarray, response: str, rows: np.ndarray, *, levels: tuple = (),
            trials: Any = None, trials_column: str | None = None, offset: np.ndarray | None = None,
            offset_column: str | None = None) -> Prepared:
    """Check a response against the family's support and return the family's data.

    Parameters
    ----------
    family
        ``"bernoulli"``, ``"binomial"`` or ``"poisson"``.
    y
        ``(n,)`` the response (positions among ``levels`` for a text response).
    response
        The response column's name (for messages).
    rows
        ``(n,)`` 1-based row numbers in the data (for messages).
    levels
        A text response's sorted distinct values, else ``()``.
    trials, trials_column
        The binomial trials: ``(n,)`` values of column ``trials_column``, or a
        positive integer for every row.
    offset, offset_column
        The Poisson offset's values and column.

    Raises
    ------
    ValueError
        One line naming the column and its first offending row: a value
        outside the family's support, trials that are not positive integers,
        successes above the trials, a non-finite offset, an argument the family
        does not take.
    """
    n = y.shape[0]
    note = ""
    if family != "binomial" and trials is not None:
        hint = " (a 0/1 response is family='bernoulli'; counts out of trials are 'binomial')" \
            if family == "bernoulli" else ""
        raise ValueError(f"trials: only the binomial family has trials; family is {family!r}{hint}")
    if family != "poisson" and offset is not None:
        raise ValueError(f"offset: only the poisson family takes an offset here; family is {family!r}")
    if levels and family != "bernoulli":
        raise ValueError(f"the response {response!r} has text values; family {family!r} needs numbers"
                         + (" (two text values: family='bernoulli')" if len(levels) == 2 else ""))
    if family == "bernoulli":
        if levels:
            if len(levels) != 2:
                shown = ", ".join(map(repr, levels[:5])) + (", ..." if len(levels) > 5 else "")
                raise ValueError(f"family 'bernoulli': the response {response!r} must have two values, it has "
                                 f"{len(levels)} ({shown})")
            note = f"{response} = {levels[1]!r} counted as 1, {levels[0]!r} as 0"
        else:
            bad = (y != 0) & (y != 1)
            if bad.any():
                distinct = np.unique(y)
                shown = ", ".join(_value(v) for v in distinct[:5]) + (", ..." if len(distinct) > 5 else "")
                raise ValueError(f"family 'bernoulli': the response {response!r} must be 0 or 1; {_first(bad, rows)} "
                                 f"has {_value(y[bad][0])}{_more(bad)} (values: {shown}); counts out of trials are "
                                 "family='binomial' with trials=")
        trials_ = np.ones(n)
    elif family == "binomial":
        if trials is None:
            raise ValueError("family 'binomial' needs trials=: the column of trials (e.g. trials='size'; "
                             "--trials on the command line), or one number for every row; a 0/1 response is "
                             "family='bernoulli'")
        name = f"column {trials_column!r} (the trials)" if trials_column else "trials"
        trials_ = np.broadcast_to(np.asarray(trials, np.float64), (n,)).astype(np.float64)
        bad = ~(trials_ >= 1) | (trials_ != np.round(trials_))
        if bad.any():
            raise ValueError(f"{name} must be whole numbers of at least 1; {_first(bad, rows)} has "
                             f"{_value(trials_[bad][0])}" + _more(bad))
        neg = y < 0
        if neg.any():
            raise ValueError(f"family 'binomial': the response {response!r} must not be negative; "
                             f"{_first(neg, rows)} has {_value(y[neg][0])}" + _more(neg))
        whole = y == np.round(y)
        if not whole.all():
            if (y <= 1).all():
                counts = y * trials_
                off = np.abs(counts - np.round(counts)) > 1e-6 * np.maximum(trials_, 1)
                if off.any():
                    raise ValueError(f"family 'binomial': the response {response!r} reads as proportions, but "
                                     f"{_first(off, rows)}'s {_value(y[off][0])} times its trials "
                                     f"{_value(trials_[off][0])} is not a whole number of successes" + _more(off))
                y = np.round(counts)
                note = f"{response} read as proportions of the trials"
            else:
                raise ValueError(f"family 'binomial': the response {response!r} must be whole numbers of "
                                 f"successes (or proportions in [0, 1]); {_first(~whole, rows)} has "
                                 f"{_value(y[~whole][0])}" + _more(~whole))
        above = y > trials_
        if above.any():
            raise ValueError(f"family 'binomial': the response {response!r} has more successes than "
                             f"{'trials' if not trials_column else repr(trials_column)}: {_first(above, rows)} "
                             f"has {_value(y[above][0])} out of {_value(trials_[above][0])}" + _more(above))
    elif family == "poisson":
        bad = (y < 0) | (y != np.round(y))
        if bad.any():
            raise ValueError(f"family 'poisson': the response {response!r} must be counts (0, 1, 2, ...); "
                             f"{_first(bad, rows)} has {_value(y[bad][0])}" + _more(bad))
        trials_ = np.ones(n)
    else:
        raise ValueError(f"prepare: no data to prepare for family {family!r}")
    off = np.zeros(n) if offset is None else np.asarray(offset, np.float64)
    if offset is not None:
        bad = ~np.isfinite(off)
        if bad.any():
            raise ValueError(f"column {offset_column!r} (the offset, on the log scale) must be finite; "
                             f"{_first(bad, rows)} has {float(off[bad][0])!r} (log of an exposure of 0?)" + _more(bad))
    return Prepared(y.astype(np.float64), trials_, off, constants(family, y, trials_), note)

