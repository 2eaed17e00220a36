"""No pooling: every group has its own intercept and slope, with flat priors."""

from __future__ import annotations

from typing import Any, Mapping

import jax
import jax.numpy as jnp

from jaxmh.data import GroupedData
from jaxmh.models import _common, _inputs, _regression
from jaxmh.models.registry import register
from jaxmh.models.base import GroupSplit, Model

__all__ = ["unpooled"]


@register("unpooled", "{y} ~ N(alpha[g] + beta[g] * {x}, sigma^2), each group on its own", "separate fits per group (no pooling)")
def unpooled(
    data: GroupedData,
    *,
    priors: str | Mapping[str, Any] = "auto",
    prior_alpha: Any = None,
    prior_beta: Any = None,
    prior_sigma: Any = None,
) -> Model:
    """``y_ij ~ N(alpha_i + beta_i x_ij, sigma^2)`` with independent priors per group.

    ``priors="auto"`` (default): weakly informative priors scaled to the data
    (:mod:`jaxmh.default_priors`); ``priors="tutorial"``: the tutorial's flat
    ``alpha_i, beta_i ~ U(-100, 100)`` and ``sigma ~ U(0, 10)``; a dict ``{parameter: prior}``
    or a ``prior_*`` argument replaces single priors.  Parameters: ``alpha`` and ``beta`` (shape ``(G,)``) and ``sigma``.
    """
    chosen = _inputs.model_priors("unpooled", data, priors,
                                  {"alpha": prior_alpha, "beta": prior_beta, "sigma": prior_sigma})
    model_data = {"stats": _common.stats_of(data), "priors": chosen, "rows": _common.rows_of(data)}
    logdensity, init, split = _functions(model_data)
    model = Model("unpooled", logdensity, init, ("alpha", "beta"), data.num_groups, split, chosen,
                  _inputs.scale_params("unpooled"), _inputs.start_scales("unpooled", chosen), model_data,
                  default_step_size=0.125)  # the tutorial's proposal sd for this model
    model = model._replace(pointwise_loglik=_FUNCTIONS(model_data)["pointwise_loglik"])
    return _common.rebindable(model, _FUNCTIONS)


def _functions(model_data: dict):
    """``(logdensity, init, split)`` over ``{"stats": GroupStats, "priors": {name: prior}}``."""
    stats, chosen = model_data["stats"], model_data["priors"]
    prior_alpha, prior_beta, prior_sigma = chosen["alpha"], chosen["beta"], chosen["sigma"]
    num_groups = stats.n.shape[0]

    def global_logdensity(params: dict) -> jax.Array:
        return prior_sigma.logpdf(params["sigma"])

    def group_logdensity(params: dict) -> jax.Array:
        alpha, beta = params["alpha"], params["beta"]
        return (
            prior_alpha.logpdf(alpha)
            + prior_beta.logpdf(beta)
            + _regression.group_loglik(alpha, beta, params["sigma"], stats)
        )

    def logdensity(params: dict) -> jax.Array:
        return global_logdensity(params) + jnp.sum(group_logdensity(params))

    def init(key: jax.Array, num_chains: int) -> dict:
        key, num_chains = _common.check_init_args(key, num_chains)
        ka, kb, ks = jax.random.split(key, 3)
        return {
            "alpha": _inputs.draw_start(prior_alpha, ka, (num_chains, num_groups)),
            "beta": _inputs.draw_start(prior_beta, kb, (num_chains, num_groups)),
            "sigma": _inputs.draw_start(prior_sigma, ks, (num_chains,), scale=True),
        }

    split = GroupSplit(("alpha", "beta"), group_logdensity, global_logdensity)
    return logdensity, init, split


_FUNCTIONS = _common.RegressionFunctions(_functions)
