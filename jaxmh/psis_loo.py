"""Leave-one-out cross-validation by Pareto-smoothed importance sampling (PSIS-LOO).

:func:`loo` estimates how well a fitted model predicts each observation when
that observation is left out (Vehtari, Gelman & Gabry 2017, "Practical Bayesian
model evaluation using leave-one-out cross-validation and WAIC", Statistics and
Computing 27), and flags the observations whose Pareto k is too high for the
estimate to be trusted (Vehtari, Simpson, Gelman, Yao & Gabry 2024, "Pareto
smoothed importance sampling", JMLR 25: the threshold ``min(1 - 1/log10(S),
0.7)`` for ``S`` draws).  The smoothing itself is arviz-stats's
(``arviz_stats.base.array_stats.loo``): a maintained implementation, so the
numbers are ArviZ's to the last digit (docs/design.md says why).

:func:`pointwise_loglik` gives the ``(chain, draw, observation)`` log-likelihood
a model's :attr:`~jaxmh.models.Model.pointwise_loglik` defines, computed from
the draws in batches after sampling; nothing stores it unless asked.
"""

from __future__ import annotations

import warnings
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

#: Draws per batch of :func:`pointwise_loglik` (bounds its memory: batch x observations values).
BATCH_DRAWS = 256


class LooWarning(UserWarning):
    """Some observations' Pareto k is above the threshold: their LOO estimate is not reliable."""


class Loo(NamedTuple):
    """PSIS-LOO of one fitted model (:func:`loo`).

    elpd_loo, se
        Expected log pointwise predictive density for new data, summed over the
        observations, and its standard error (``sqrt(n var(elpd_i))``).
    p_loo
        Effective number of parameters (the in-sample lppd minus elpd_loo).
    elpd_i, p_loo_i, pareto_k
        Per observation, ``(n,)``.
    good_k
        The threshold on k for ``S`` draws: ``min(1 - 1/log10(S), 0.7)``.
    num_draws, r_eff
        ``S`` (chains x draws) and the relative efficiency used for the tails.
    """

    elpd_loo: float
    se: float
    p_loo: float
    elpd_i: np.ndarray
    p_loo_i: np.ndarray
    pareto_k: np.ndarray
    good_k: float
    num_draws: int
    r_eff: float

    @property
    def high_k(self) -> np.ndarray:
        """Indices (0-based rows) of the observations with k above :attr:`good_k`."""
        return np.flatnonzero(self.pareto_k > self.good_k)

    def __str__(self) -> str:
        n = len(self.elpd_i)
        lines = [f"PSIS-LOO from {self.num_draws} draws, {n} observations",
                 f"  elpd_loo {self.elpd_loo:10.1f}  (se {self.se:.1f})",
                 f"  p_loo    {self.p_loo:10.1f}",
                 f"  Pareto k > {self.good_k:.2f}: {len(self.high_k)} of {n} observations"]
        if len(self.high_k):
            lines.append(f"    rows (0-based): {_rows(self.high_k)}")
        return "\n".join(lines)


def _rows(idx: np.ndarray, most: int = 10) -> str:
    shown = ", ".join(str(int(i)) for i in idx[:most])
    return shown + (f" (and {len(idx) - most} more)" if len(idx) > most else "")


def good_k(num_draws: int) -> float:
    """The Pareto k threshold for ``num_draws`` draws: ``min(1 - 1/log10(S), 0.7)`` (Vehtari et al. 2024)."""
    return float(min(1.0 - 1.0 / np.log10(num_draws), 0.7)) if num_draws > 1 else 0.7


def _model_of(result: Any, model: Any) -> Any:
    model = model if model is not None else getattr(result, "model", None)
    if model is None:
        raise ValueError("result: it does not say which model it came from (fit it with jaxmh.fit, or pass "
                         "model=)")
    if getattr(model, "pointwise_loglik", None) is None:
        raise ValueError(f"model {getattr(model, 'name', model)!r} does not define a pointwise log-likelihood "
                         "(Model.pointwise_loglik), so it cannot be compared by leave-one-out")
    return model


def pointwise_loglik(result: Any, model: Any = None, *, batch: int = BATCH_DRAWS) -> np.ndarray:
    """The log-likelihood of every observation at every draw, ``(chain, draw, observation)`` (float64).

    Parameters
    ----------
    result
        A :class:`jaxmh.Result` holding draws (``store="draws"`` or ``"both"``).
    model
        The model fitted (default: the one :func:`jaxmh.fit` recorded in the result).
    batch
        Draws evaluated at once (memory: ``batch x chains x observations`` values).
    """
    model = _model_of(result, model)
    draws = getattr(result, "draws", None)
    leaves = jax.tree_util.tree_leaves(draws)
    if not leaves:
        raise ValueError("result: it holds no draws (run with store='draws' or 'both' to compare by LOO)")
    num_draws = leaves[0].shape[1]
    one = jax.jit(jax.vmap(jax.vmap(model.pointwise_loglik)))
    out = []
    for start in range(0, num_draws, batch):
        part = jax.tree.map(lambda v: jnp.asarray(v)[:, start:start + batch], draws)
        out.append(np.asarray(one(part), np.float64))
    return np.concatenate(out, axis=1)


def relative_efficiency(result: Any) -> float:
    """ArviZ's ``r_eff``: the mean over all parameters of their ESS (``method="mean"``) over the number of
    draws; 1 for a single chain."""
    from arviz_stats.base import array_stats

    leaves = [np.asarray(v, np.float64) for v in jax.tree_util.tree_leaves(result.draws)]
    num_chains, num_draws = leaves[0].shape[:2]
    if num_chains == 1:
        return 1.0
    ess = [np.ravel(array_stats.ess(np.moveaxis(v.reshape(num_chains, num_draws, -1), -1, 0),
                                    method="mean", chain_axis=-2, draw_axis=-1)) for v in leaves]
    return float(np.mean(np.concatenate(ess)) / (num_chains * num_draws))


def loo(result_or_loglik: Any, model: Any = None, *, r_eff: float | None = None, warn: bool = True) -> Loo:
    """PSIS-LOO of a fitted model: elpd_loo, its standard error, p_loo, pointwise values, Pareto k.

    Parameters
    ----------
    result_or_loglik
        A :class:`jaxmh.Result` of :func:`jaxmh.fit` (its model's pointwise
        log-likelihood is computed from the draws), or an array of pointwise
        log-likelihood values shaped ``(chain, draw, observation)``.
    model
        The model of ``result`` (default: the one the result records).
    r_eff
        Relative efficiency of the draws for the Pareto tails (default: as
        ArviZ, the mean ESS of the parameters over the number of draws for a
        result; 1 for an array).
    warn
        Emit a :class:`LooWarning` naming the observations (0-based rows) whose
        Pareto k is above :func:`good_k`.

    Examples
    --------
    Of a fit: ``print(jaxmh.loo(jaxmh.fit(key, jaxmh.model("y ~ x + (1 | g)", df))))``.  Of pointwise
    values, ``(chain, draw, observation)``:

    >>> import numpy as np, jaxmh
    >>> values = np.random.default_rng(0).normal(-1.0, 0.1, size=(2, 500, 3))
    >>> result = jaxmh.loo(values)
    >>> round(result.elpd_loo, 2), result.pareto_k.shape, len(result.high_k)
    (-3.03, (3,), 0)
    """
    from arviz_stats.base import array_stats

    if isinstance(result_or_loglik, (np.ndarray, jax.Array)):
        values = np.asarray(result_or_loglik, np.float64)
        if values.ndim != 3:
            raise ValueError(f"result_or_loglik: expected (chain, draw, observation) log-likelihood values, "
                             f"got an array of shape {values.shape}")
        r_eff = 1.0 if r_eff is None else r_eff
    else:
        values = pointwise_loglik(result_or_loglik, model)
        r_eff = relative_efficiency(result_or_loglik) if r_eff is None else r_eff
    if not np.all(np.isfinite(values)):
        bad = np.flatnonzero(~np.all(np.isfinite(values), axis=(0, 1)))
        raise ValueError(f"result_or_loglik: the log-likelihood is not finite at some draws for "
                         f"observation(s) {_rows(bad)}")
    if not (isinstance(r_eff, (int, float, np.floating)) and 0 < r_eff):
        raise ValueError(f"r_eff: expected a positive number, got {r_eff!r}")
    num_draws = values.shape[0] * values.shape[1]
    elpd_i, k, p_i = array_stats.loo(np.moveaxis(values, -1, 0), chain_axis=-2, draw_axis=-1, r_eff=float(r_eff))
    elpd, se, p_loo, _ = array_stats.loo_summary(elpd_i, p_i)
    out = Loo(float(elpd), float(se), float(p_loo), np.asarray(elpd_i), np.asarray(p_i), np.asarray(k),
              good_k(num_draws), int(num_draws), float(r_eff))
    if warn and len(out.high_k):
        warnings.warn(high_k_message(out), LooWarning, stacklevel=2)
    return out


def high_k_message(result: Loo) -> str:
    """What :func:`loo` warns when some observations' Pareto k is above the threshold."""
    return (f"{len(result.high_k)} of {len(result.elpd_i)} observations have Pareto k > {result.good_k:.2f} "
            f"(rows, 0-based: {_rows(result.high_k)}): their leave-one-out estimate is unreliable, and so is "
            "elpd_loo; more draws will not fix it (Vehtari et al. 2024). Refit without them (exact LOO) or use a "
            "more robust model.")
