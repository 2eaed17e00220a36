"""Varying intercepts, common slope: group intercepts drawn from a common normal distribution."""

from __future__ import annotations

from typing import Any, Mapping

import jax
import jax.numpy as jnp

from jaxmh import stablemath, logpdf
from jaxmh.data import GroupedData
from jaxmh.models import _common, _inputs, _regression
from jaxmh.models.registry import register
from jaxmh.models.base import GroupSplit, Model

__all__ = ["intercepts"]


@register("intercepts", "{y} ~ N(alpha[g] + beta * {x}, sigma^2), alpha[g] ~ N(mu_alpha, sigma_alpha^2)", "varying intercepts, one slope", partial_pooling=True)
def intercepts(
    data: GroupedData,
    *,
    priors: str | Mapping[str, Any] = "auto",
    prior_mu_alpha: Any = None,
    prior_beta: Any = None,
    prior_sigma_alpha: Any = None,
    prior_sigma: Any = None,
) -> Model:
    """Varying-intercept model with one slope shared by all groups.

    ``y_ij ~ N(alpha_i + beta x_ij, sigma^2)``, ``alpha_i ~ N(mu_alpha, sigma_alpha^2)``.
    ``priors="auto"`` (default) scales the priors to the data
    (:mod:`jaxmh.default_priors`); ``priors="tutorial"`` gives the tutorial's,
    ``mu_alpha, beta ~ N(0, 3^2)`` and ``sigma_alpha, sigma ~ U(0, 10)``; a dict
    ``{parameter: prior}`` or a ``prior_*`` argument replaces single priors
    (:mod:`jaxmh.priors`; scale priors must live on ``[0, inf)``).

    Parameters of the model: ``alpha`` (shape ``(G,)``), ``mu_alpha``,
    ``sigma_alpha``, ``beta`` and ``sigma`` (scalars).  ``model.split`` lets
    :func:`jaxmh.fit` use the group-blocked sampler, with an interweaving move
    on ``(alpha - mu_alpha) / sigma_alpha``.

    Raises
    ------
    TypeError
        ``data`` is not ``GroupedData`` or a ``prior_*`` is not a prior.
    ValueError
        Fewer than 2 groups, or a scale prior with mass below 0.

    Examples
    --------
    >>> import jax, jaxmh
    >>> data, _ = jaxmh.datasets.radon()
    >>> model = jaxmh.models.intercepts(data, prior_sigma=jaxmh.priors.HalfNormal(1.0))
    >>> model.group_params, model.num_groups
    (('alpha',), 85)
    """
    _inputs.check_groups(data, "intercepts")
    chosen = _inputs.model_priors("intercepts", data, priors, {
        "mu_alpha": prior_mu_alpha, "beta": prior_beta, "sigma_alpha": prior_sigma_alpha, "sigma": prior_sigma})
    model_data = {"stats": _common.stats_of(data), "priors": chosen}
    logdensity, init, split = _functions(model_data)
    model = Model("intercepts", logdensity, init, ("alpha",), data.num_groups, split, chosen,
                  _inputs.scale_params("intercepts"), _inputs.start_scales("intercepts", chosen, {"alpha": "mu_alpha"}),
                  model_data)
    return _common.rebindable(model, _functions)


def _functions(model_data: dict):
    """``(logdensity, init, split)`` over ``{"stats": GroupStats, "priors": {name: prior}}``."""
    stats, chosen = model_data["stats"], model_data["priors"]
    prior_mu_alpha, prior_beta = chosen["mu_alpha"], chosen["beta"]
    prior_sigma_alpha, prior_sigma = chosen["sigma_alpha"], chosen["sigma"]
    num_groups = stats.n.shape[0]

    def global_logdensity(params: dict) -> jax.Array:
        return (
            prior_mu_alpha.logpdf(params["mu_alpha"])
            + prior_sigma_alpha.logpdf(params["sigma_alpha"])
            + prior_beta.logpdf(params["beta"])
            + prior_sigma.logpdf(params["sigma"])
        )

    def group_logdensity(params: dict) -> jax.Array:
        alpha = params["alpha"]
        return (
            logpdf.normal(alpha, params["mu_alpha"], params["sigma_alpha"])
            + _regression.group_loglik(alpha, params["beta"], params["sigma"], stats)
        )

    def logdensity(params: dict) -> jax.Array:
        return global_logdensity(params) + jnp.sum(group_logdensity(params))

    def standardize(params: dict):
        s = params["sigma_alpha"]
        return {"alpha": (params["alpha"] - params["mu_alpha"]) / s}, num_groups * stablemath.log(s)

    def unstandardize(z: dict, params: dict) -> dict:
        return {"alpha": params["mu_alpha"] + params["sigma_alpha"] * z["alpha"]}

    def init(key: jax.Array, num_chains: int) -> dict:
        key, num_chains = _common.check_init_args(key, num_chains)
        k = jax.random.split(key, 5)
        start = _inputs.draw_start
        return {
            "alpha": start(prior_mu_alpha, k[0], (num_chains, num_groups)),
            "mu_alpha": start(prior_mu_alpha, k[1], (num_chains,)),
            "sigma_alpha": start(prior_sigma_alpha, k[2], (num_chains,), scale=True),
            "beta": start(prior_beta, k[3], (num_chains,)),
            "sigma": start(prior_sigma, k[4], (num_chains,), scale=True),
        }

    split = GroupSplit(("alpha",), group_logdensity, global_logdensity, standardize, unstandardize)
    return logdensity, init, split
