"""The tutorial's comparison: several models fitted to one dataset, scored against the truth."""

from __future__ import annotations

import time
from typing import Mapping, NamedTuple, Sequence

import jax
import numpy as np

from jaxmh import _checks, diagnostics, models as _models, prior_checks
from jaxmh.data import GroupedData
from jaxmh.kernels.random_walk import rwm
from jaxmh.fitting import METHODS, fit
from jaxmh.sampling import Result, sample
from jaxmh.summary import ESS_PER_CHAIN, RHAT_THRESHOLD

__all__ = ["ModelFit", "Comparison", "compare", "TUTORIAL_STEP_SIZES", "rmse"]

#: The tutorial's proposal standard deviations (pooled is not in the tutorial).
TUTORIAL_STEP_SIZES = {"pooled": 0.1, "unpooled": 0.125, "hierarchical": 0.1}
MODEL_BUILDERS = {"pooled": _models.pooled, "unpooled": _models.unpooled,
                  "hierarchical": _models.hierarchical}


class ModelFit(NamedTuple):
    """One model's fit: summary numbers, per-group posterior means and the full result."""

    model: str
    acceptance_rate: float
    rmse_alpha: float
    rmse_beta: float
    sigma_mean: float
    seconds: float
    min_ess_bulk: float
    max_rhat: float
    alpha_mean: np.ndarray
    beta_mean: np.ndarray
    result: Result
    priors: Mapping | None = None


class Comparison(NamedTuple):
    """Fits of several models to one dataset, with the truth when it is known."""

    data: GroupedData
    truth: Mapping | None
    fits: tuple

    def table(self) -> str:
        """The comparison as an aligned text table."""
        head = (f"{'model':<13}{'accept':>8}{'RMSE alpha':>12}{'RMSE beta':>11}{'mean sigma':>12}"
                f"{'min ESS':>9}{'max R-hat':>11}{'seconds':>9}")
        lines = [head, "-" * len(head)]
        failed = False
        for f in self.fits:
            bad = not self.converged(f)
            failed |= bad
            lines.append(
                f"{f.model:<13}{f.acceptance_rate:>8.3f}{f.rmse_alpha:>12.3f}{f.rmse_beta:>11.3f}"
                f"{f.sigma_mean:>12.3f}{f.min_ess_bulk:>9.0f}{f.max_rhat:>11.3f}{f.seconds:>9.2f}"
                + ("  !" if bad else "")
            )
        if failed:
            lines.append(
                f"! not converged: max R-hat > {RHAT_THRESHOLD} or min bulk ESS < {ESS_PER_CHAIN} per chain"
                " -- its estimates (and RMSEs) are not yet trustworthy"
            )
        return "\n".join(lines)

    @staticmethod
    def converged(fit: "ModelFit") -> bool:
        """Whether a fit passes R-hat <= 1.01 and bulk ESS >= 100 per chain for every parameter."""
        num_chains = np.shape(fit.result.acceptance_rate)[0]
        return bool(fit.max_rhat <= RHAT_THRESHOLD and fit.min_ess_bulk >= ESS_PER_CHAIN * num_chains)

    def __str__(self) -> str:
        return self.table()


def rmse(estimate: np.ndarray, truth: np.ndarray) -> float:
    """Root mean squared error of ``estimate`` against ``truth``."""
    estimate, truth = np.asarray(estimate, float), np.asarray(truth, float)
    return float(np.sqrt(np.mean((estimate - truth) ** 2)))


def _group_means(draws: Mapping, name: str, num_groups: int) -> np.ndarray:
    mean = np.asarray(draws[name], dtype=float).mean(axis=(0, 1))
    return np.broadcast_to(mean, (num_groups,)).copy()


def _worst_diagnostics(draws: Mapping) -> tuple[float, float]:
    """Largest R-hat and smallest bulk ESS over every scalar parameter."""
    rhats, esses = [], []
    for value in draws.values():
        x = np.asarray(value, dtype=np.float64)
        r, e = diagnostics._rhat_and_ess_bulk(diagnostics._as_draws(x)[0])
        rhats.append(r)
        esses.append(e)
    return float(np.max(np.concatenate(rhats))), float(np.min(np.concatenate(esses)))


def compare(
    key: jax.Array,
    data: GroupedData,
    truth: Mapping | None = None,
    *,
    models: Sequence[str] = ("pooled", "unpooled", "hierarchical"),
    num_chains: int = 4,
    num_samples: int = 8000,
    num_warmup: int = 2000,
    step_sizes: Mapping[str, float] | None = None,
    method: str = "rwm",
    priors: str = "auto",
) -> Comparison:
    """Fit several models to ``data`` with the tutorial's sampler and score them.

    The defaults are the tutorial's: 10,000 random-walk Metropolis iterations
    of which the first 2,000 are dropped, one proposal sd per model
    (:data:`TUTORIAL_STEP_SIZES`), here on ``num_chains`` chains each.

    Parameters
    ----------
    key
        PRNG key; model ``m`` (in the order given) uses ``fold_in(key, m)``.
    data
        The grouped data.
    truth
        Optional ``{"alpha": (G,), "beta": (G,)}``; without it RMSEs are NaN.
    models
        Names among ``"pooled"``, ``"unpooled"``, ``"hierarchical"``.
    step_sizes
        Proposal sd per model name, overriding the tutorial's (``method="rwm"``)
        or giving the starting scale of the tuning.
    method
        ``"rwm"`` (the tutorial's untuned sampler), ``"adaptive"`` or
        ``"blocked"`` (see :func:`jaxmh.fit`; a model without groups, such
        as the pooled one, falls back from ``"blocked"`` to ``"adaptive"``).
    priors
        ``"auto"`` (default): every model's priors scaled to the data
        (:mod:`jaxmh.default_priors`); ``"tutorial"``: the tutorial's, for
        data of the tutorial's scale (as ``jaxmh compare`` does on the
        tutorial's data).

    Returns
    -------
    Comparison
        ``.fits`` per model (acceptance rate, RMSEs, posterior mean of sigma,
        seconds for sampling including compilation, the worst R-hat and bulk
        ESS over all parameters, per-group posterior means) and ``.table()``.
    """
    key = _checks.as_key(key)
    if not isinstance(data, GroupedData):
        raise TypeError(f"data must be a GroupedData, got {type(data).__name__}")
    if isinstance(models, str):
        models = (models,)
    unknown = [m for m in models if m not in MODEL_BUILDERS]
    if unknown or not models:
        raise ValueError(f"models must be among {sorted(MODEL_BUILDERS)}, got {list(models)}")
    sizes = dict(TUTORIAL_STEP_SIZES, **(step_sizes or {}))
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if truth is not None:
        for name in ("alpha", "beta"):
            if np.shape(truth[name]) != (data.num_groups,):
                raise ValueError(
                    f"truth[{name!r}] has shape {np.shape(truth[name])}; expected ({data.num_groups},)"
                )
    fits = []
    for m, name in enumerate(models):
        model = MODEL_BUILDERS[name](data, priors=priors)
        k_init, k_run = jax.random.split(jax.random.fold_in(key, m))
        start = time.perf_counter()
        if method == "rwm":
            result = sample(
                k_run, rwm(model.logdensity, sizes[name]), model.init(k_init, num_chains),
                num_samples, num_warmup=num_warmup,
            )
        else:
            how = method if (method != "blocked" or model.split is not None) else "adaptive"
            result = fit(k_run, model, method=how, num_chains=num_chains, num_samples=num_samples,
                         num_warmup=num_warmup, step_size=sizes[name])
        jax.block_until_ready(result)
        seconds = time.perf_counter() - start
        result = result._replace(prior_bounds=prior_checks.model_bounds(model))
        rhat, ess = _worst_diagnostics(result.draws)
        alpha = _group_means(result.draws, "alpha", data.num_groups)
        beta = _group_means(result.draws, "beta", data.num_groups)
        fits.append(ModelFit(
            model=name,
            acceptance_rate=float(np.mean(result.acceptance_rate)),
            rmse_alpha=rmse(alpha, truth["alpha"]) if truth is not None else float("nan"),
            rmse_beta=rmse(beta, truth["beta"]) if truth is not None else float("nan"),
            sigma_mean=float(np.mean(result.draws["sigma"])),
            seconds=seconds,
            min_ess_bulk=ess,
            max_rhat=rhat,
            alpha_mean=alpha,
            beta_mean=beta,
            result=result,
            priors=model.priors,
        ))
    return Comparison(data, truth, tuple(fits))
