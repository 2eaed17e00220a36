"""Complete pooling: one intercept and one slope shared by every group."""

from __future__ import annotations

from typing import Any, Mapping

import jax

from jaxmh.data import GroupedData
from jaxmh.models import _common, _inputs, _regression
from jaxmh.models.registry import register
from jaxmh.models.base import Model

__all__ = ["pooled"]


@register("pooled", "{y} ~ N(alpha + beta * {x}, sigma^2), groups ignored", "one line for every group (complete pooling)")
def pooled(
    data: GroupedData,
    *,
    priors: str | Mapping[str, Any] = "auto",
    prior_alpha: Any = None,
    prior_beta: Any = None,
    prior_sigma: Any = None,
) -> Model:
    """``y_ij ~ N(alpha + beta x_ij, sigma^2)`` ignoring the groups.

    ``priors="auto"`` (default): weakly informative priors scaled to the data
    (:mod:`jaxmh.default_priors`); ``priors="tutorial"``: the tutorial's flat
    ``alpha, beta ~ U(-100, 100)`` and ``sigma ~ U(0, 10)``; a dict ``{parameter: prior}``
    or a ``prior_*`` argument replaces single priors.  Parameters: ``alpha``, ``beta``, ``sigma`` (scalars).
    """
    chosen = _inputs.model_priors("pooled", data, priors,
                                  {"alpha": prior_alpha, "beta": prior_beta, "sigma": prior_sigma})
    model_data = {"stats": _common.stats_of(data, pooled=True), "priors": chosen, "rows": _common.rows_of(data)}
    logdensity, init, split = _functions(model_data)
    model = Model("pooled", logdensity, init, ("alpha", "beta"), data.num_groups, split, chosen,
                  _inputs.scale_params("pooled"), _inputs.start_scales("pooled", chosen), model_data)
    model = model._replace(pointwise_loglik=_FUNCTIONS(model_data)["pointwise_loglik"])
    return _common.rebindable(model, _FUNCTIONS)


def _functions(model_data: dict):
    """``(logdensity, init, None)`` over ``{"stats": GroupStats (one group), "priors": {name: prior}}``."""
    stats, chosen = model_data["stats"], model_data["priors"]
    prior_alpha, prior_beta, prior_sigma = chosen["alpha"], chosen["beta"], chosen["sigma"]

    def logdensity(params: dict) -> jax.Array:
        alpha, beta, sigma = params["alpha"], params["beta"], params["sigma"]
        prior = prior_alpha.logpdf(alpha) + prior_beta.logpdf(beta) + prior_sigma.logpdf(sigma)
        return prior + _regression.loglik(alpha, beta, sigma, stats)

    def init(key: jax.Array, num_chains: int) -> dict:
        key, num_chains = _common.check_init_args(key, num_chains)
        ka, kb, ks = jax.random.split(key, 3)
        return {
            "alpha": _inputs.draw_start(prior_alpha, ka, (num_chains,)),
            "beta": _inputs.draw_start(prior_beta, kb, (num_chains,)),
            "sigma": _inputs.draw_start(prior_sigma, ks, (num_chains,), scale=True),
        }

    return logdensity, init, None


_FUNCTIONS = _common.RegressionFunctions(_functions)
