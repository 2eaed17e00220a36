"""The model type every builder returns."""

from __future__ import annotations

from typing import Callable, NamedTuple

import jax

__all__ = ["Model"]


class Model(NamedTuple):
    """A Bayesian model over a dict of parameters.

    name
        Short name (``"pooled"``, ``"unpooled"``, ``"hierarchical"``).
    logdensity
        Pure JAX function ``params -> scalar`` log posterior density (with
        normalising constants of likelihood and priors); ``-inf`` outside the support.
    init
        ``init(key, num_chains) -> params`` with a leading chain axis: starting values.
    group_params
        Names of the per-group parameters (each shaped ``(num_groups,)``, or
        ``()`` if the model pools them).
    num_groups
        Number of groups in the data the model was built on.
    """

    name: str
    logdensity: Callable[[dict], jax.Array]
    init: Callable[[jax.Array, int], dict]
    group_params: tuple
    num_groups: int
