"""Complete pooling: one intercept and one slope shared by every group."""

from __future__ import annotations

import jax

from jaxmh.data import GroupedData
from jaxmh.models import _common, _inputs, _regression
from jaxmh.models.base import Model
from jaxmh.priors import Uniform

__all__ = ["pooled"]


def pooled(
    data: GroupedData,
    *,
    prior_alpha=Uniform(-100.0, 100.0),
    prior_beta=Uniform(-100.0, 100.0),
    prior_sigma=Uniform(0.0, 10.0),
) -> Model:
    """``y_ij ~ N(alpha + beta x_ij, sigma^2)`` ignoring the groups.

    Priors default to the tutorial's flat ones: ``alpha, beta ~ U(-100, 100)``,
    ``sigma ~ U(0, 10)``.  Parameters: ``alpha``, ``beta``, ``sigma`` (scalars).
    """
    _inputs.check_priors({"prior_alpha": prior_alpha, "prior_beta": prior_beta},
                         {"prior_sigma": prior_sigma})
    stats = _common.stats_of(data, pooled=True)

    def logdensity(params: dict) -> jax.Array:
        alpha, beta, sigma = params["alpha"], params["beta"], params["sigma"]
        prior = prior_alpha.logpdf(alpha) + prior_beta.logpdf(beta) + prior_sigma.logpdf(sigma)
        return prior + _regression.loglik(alpha, beta, sigma, stats)

    def init(key: jax.Array, num_chains: int) -> dict:
        key, num_chains = _common.check_init_args(key, num_chains)
        ka, kb, ks = jax.random.split(key, 3)
        return {
            "alpha": _common.draw_locations(ka, (num_chains,)),
            "beta": _common.draw_locations(kb, (num_chains,)),
            "sigma": _common.draw_scales(ks, (num_chains,)),
        }

    return Model("pooled", logdensity, init, ("alpha", "beta"), _common.num_groups_of(data))
