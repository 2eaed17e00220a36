"""No pooling: every group has its own intercept and slope, with flat priors."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxmh.data import GroupedData
from jaxmh.models import _common, _inputs, _regression
from jaxmh.models.base import GroupSplit, Model
from jaxmh.priors import Uniform

__all__ = ["unpooled"]


def unpooled(
    data: GroupedData,
    *,
    prior_alpha=Uniform(-100.0, 100.0),
    prior_beta=Uniform(-100.0, 100.0),
    prior_sigma=Uniform(0.0, 10.0),
) -> Model:
    """``y_ij ~ N(alpha_i + beta_i x_ij, sigma^2)`` with independent priors per group.

    Priors default to the tutorial's: ``alpha_i, beta_i ~ U(-100, 100)``,
    ``sigma ~ U(0, 10)``.  Parameters: ``alpha`` and ``beta`` (shape ``(G,)``)
    and ``sigma``.
    """
    _inputs.check_priors({"prior_alpha": prior_alpha, "prior_beta": prior_beta},
                         {"prior_sigma": prior_sigma})
    stats = _common.stats_of(data)
    num_groups = _common.num_groups_of(data)

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
            "alpha": _common.draw_locations(ka, (num_chains, num_groups)),
            "beta": _common.draw_locations(kb, (num_chains, num_groups)),
            "sigma": _common.draw_scales(ks, (num_chains,)),
        }

    split = GroupSplit(("alpha", "beta"), group_logdensity, global_logdensity)
    return Model("unpooled", logdensity, init, ("alpha", "beta"), num_groups, split)
