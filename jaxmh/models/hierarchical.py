"""Partial pooling: group intercepts and slopes drawn from common normal distributions."""

from __future__ import annotations

from typing import Any, Mapping

import jax
import jax.numpy as jnp

from jaxmh import logpdf
from jaxmh.data import GroupedData
from jaxmh.models import _common, _inputs, _regression
from jaxmh.models.registry import register
from jaxmh.models.base import GroupSplit, Model
from jaxmh import stablemath

__all__ = ["hierarchical"]


@register("hierarchical",
          "{y} ~ N(alpha[g] + beta[g] * {x}, sigma^2), alpha[g] ~ N(mu_alpha, sigma_alpha^2), "
          "beta[g] ~ N(mu_beta, sigma_beta^2)", "varying intercepts and slopes (partial pooling)", partial_pooling=True)
def hierarchical(
    data: GroupedData,
    *,
    priors: str | Mapping[str, Any] = "auto",
    prior_mu_alpha: Any = None,
    prior_mu_beta: Any = None,
    prior_sigma_alpha: Any = None,
    prior_sigma_beta: Any = None,
    prior_sigma: Any = None,
) -> Model:
    """The tutorial's hierarchical model.

    ``y_ij ~ N(alpha_i + beta_i x_ij, sigma^2)``, ``alpha_i ~ N(mu_alpha, sigma_alpha^2)``,
    ``beta_i ~ N(mu_beta, sigma_beta^2)``.

    Parameters
    ----------
    data
        The grouped data (at least 2 groups).
    priors
        ``"auto"`` (default): weakly informative priors scaled to the data
        (:mod:`jaxmh.default_priors`); ``"tutorial"``: the tutorial's,
        ``mu_alpha, mu_beta ~ N(0, 3^2)`` and ``sigma_alpha, sigma_beta, sigma ~ U(0, 10)``;
        or a dict ``{parameter: prior}`` replacing some of the defaults.
    prior_mu_alpha, prior_mu_beta, prior_sigma_alpha, prior_sigma_beta, prior_sigma
        Replace one prior (:mod:`jaxmh.priors`; scale priors on ``[0, inf)``).

    Returns
    -------
    Model
        Parameters ``alpha``, ``beta`` (shape ``(G,)``), ``mu_alpha``, ``mu_beta``,
        ``sigma_alpha``, ``sigma_beta``, ``sigma`` (scalars); ``model.priors`` holds the priors used.
    """
    _inputs.check_groups(data, "hierarchical")
    chosen = _inputs.model_priors("hierarchical", data, priors, {
        "mu_alpha": prior_mu_alpha, "mu_beta": prior_mu_beta, "sigma_alpha": prior_sigma_alpha,
        "sigma_beta": prior_sigma_beta, "sigma": prior_sigma})
    model_data = {"stats": _common.stats_of(data), "priors": chosen, "rows": _common.rows_of(data)}
    logdensity, init, split = _functions(model_data)
    model = Model("hierarchical", logdensity, init, ("alpha", "beta"), data.num_groups, split, chosen,
                  _inputs.scale_params("hierarchical"),
                  _inputs.start_scales("hierarchical", chosen, {"alpha": "mu_alpha", "beta": "mu_beta"}),
                  model_data)
    model = model._replace(pointwise_loglik=_FUNCTIONS(model_data)["pointwise_loglik"])
    return _common.rebindable(model, _FUNCTIONS)


def _functions(model_data: dict):
    """``(logdensity, init, split)`` over ``{"stats": GroupStats, "priors": {name: prior}}``."""
    stats, chosen = model_data["stats"], model_data["priors"]
    prior_mu_alpha, prior_mu_beta = chosen["mu_alpha"], chosen["mu_beta"]
    prior_sigma_alpha, prior_sigma_beta, prior_sigma = chosen["sigma_alpha"], chosen["sigma_beta"], chosen["sigma"]
    num_groups = stats.n.shape[0]

    def global_logdensity(params: dict) -> jax.Array:
        return (
            prior_mu_alpha.logpdf(params["mu_alpha"])
            + prior_mu_beta.logpdf(params["mu_beta"])
            + prior_sigma_alpha.logpdf(params["sigma_alpha"])
            + prior_sigma_beta.logpdf(params["sigma_beta"])
            + prior_sigma.logpdf(params["sigma"])
        )

    def group_logdensity(params: dict) -> jax.Array:
        alpha, beta = params["alpha"], params["beta"]
        return (
            logpdf.normal(alpha, params["mu_alpha"], params["sigma_alpha"])
            + logpdf.normal(beta, params["mu_beta"], params["sigma_beta"])
            + _regression.group_loglik(alpha, beta, params["sigma"], stats)
        )

    def logdensity(params: dict) -> jax.Array:
        return global_logdensity(params) + jnp.sum(group_logdensity(params))

    def standardize(params: dict):
        s_a, s_b = params["sigma_alpha"], params["sigma_beta"]
        z = {"alpha": (params["alpha"] - params["mu_alpha"]) / s_a,
             "beta": (params["beta"] - params["mu_beta"]) / s_b}
        return z, num_groups * (stablemath.log(s_a) + stablemath.log(s_b))

    def unstandardize(z: dict, params: dict) -> dict:
        return {"alpha": params["mu_alpha"] + params["sigma_alpha"] * z["alpha"],
                "beta": params["mu_beta"] + params["sigma_beta"] * z["beta"]}

    def init(key: jax.Array, num_chains: int) -> dict:
        key, num_chains = _common.check_init_args(key, num_chains)
        k = jax.random.split(key, 7)
        start = _inputs.draw_start
        return {
            "alpha": start(prior_mu_alpha, k[0], (num_chains, num_groups)),
            "beta": start(prior_mu_beta, k[1], (num_chains, num_groups)),
            "mu_alpha": start(prior_mu_alpha, k[2], (num_chains,)),
            "mu_beta": start(prior_mu_beta, k[3], (num_chains,)),
            "sigma_alpha": start(prior_sigma_alpha, k[4], (num_chains,), scale=True),
            "sigma_beta": start(prior_sigma_beta, k[5], (num_chains,), scale=True),
            "sigma": start(prior_sigma, k[6], (num_chains,), scale=True),
        }

    split = GroupSplit(("alpha", "beta"), group_logdensity, global_logdensity, standardize, unstandardize)
    return logdensity, init, split


_FUNCTIONS = _common.RegressionFunctions(_functions)
