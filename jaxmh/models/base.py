"""The model type every builder returns."""

from __future__ import annotations

from typing import Any, Callable, Mapping, NamedTuple, Sequence

import jax

__all__ = ["Model", "GroupSplit"]


class GroupSplit(NamedTuple):
    """A log-density split by conditional independence between groups.

    ``logdensity(p) == global_logdensity(p) + sum(group_logdensity(p))`` where

    group_names
        The per-group parameters (leaves with a leading group axis ``G``).
    group_logdensity
        ``p -> (G,)``: entry ``g`` holds *every* term that involves group ``g``'s
        parameters (its likelihood and its prior given the hyperparameters),
        and no term of another group's parameters.
    global_logdensity
        ``p -> ()``: the remaining terms, which involve no group parameter
        (hyperpriors, priors of shared parameters).

    Given the global parameters the groups are then conditionally independent,
    so each group's block can be accepted or rejected on its own entry.

    standardize, unstandardize
        Optional non-centring of the group parameters given the globals:
        ``standardize(p) -> (z, logdet)`` with ``z`` a dict over ``group_names``
        and ``logdet = log|d group / d z|``, and ``unstandardize(z, p)`` its
        inverse (group parameters from ``z`` and ``p``'s globals).  When given,
        the blocked sampler also moves the globals with ``z`` held fixed (an
        interweaving step, Yu & Meng 2011), which lets hierarchical scales mix.
    """

    group_names: tuple
    group_logdensity: Callable[[dict], jax.Array]
    global_logdensity: Callable[[dict], jax.Array]
    standardize: Callable | None = None
    unstandardize: Callable | None = None


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
    split
        A :class:`GroupSplit` of ``logdensity`` for group-blocked samplers, or
        ``None`` when the model has no per-group parameters.
    priors
        ``{parameter: prior}`` for the parameters with a prior of their own
        (printed in headers; their bounds are checked after sampling).
    scale_params
        The parameters that are scales (their own lower bound is 0).
    start_scale
        ``{parameter: typical spread}`` of the starting values; the tuned
        samplers of :func:`jaxmh.fit` start their proposal sds at
        ``step_size`` times it, so data of any scale start well.
    data
        The pytree of arrays the log-density reads (e.g. the data's sufficient
        statistics and the priors' numbers), or ``None`` for a model closed
        over its data that cannot be rebound.
    with_data
        ``with_data(data) -> Model``: the same model over another ``data`` of
        the same structure (possibly traced, e.g. one dataset per chain in
        :func:`jaxmh.study`); its ``logdensity``, ``init`` and ``split`` read
        the new data.  ``None`` if the model cannot be rebound.
    default_step_size
        Proposal sd of the untuned random walk (``method="rwm"``) when none is
        given: 0.1, or the tutorial's choice for its models (0.125 unpooled).
    conditionals
        A :class:`jaxmh.kernels.blocked_gibbs.Conditionals` (exact or Metropolis-Hastings
        updates of blocks of parameters given the rest) for the Gibbs kernel,
        or ``None``.  Models with one are sampled with it by default.
    coords
        ``{parameter: labels of its leading axis}`` (e.g. each group's name):
        summary rows read ``name[label]`` instead of ``name[index]``.
    layout
        Anything more the model wants to say about itself (a formula model:
        its :class:`jaxmh.models.formula.FormulaLayout`), for printing.
    pointwise_loglik
        ``params -> (num_obs,)``: each observation's log-likelihood (with its
        constants) at one draw, for leave-one-out comparison
        (:func:`jaxmh.loo`); ``None`` if the model does not define it.

    The parameters compared with a truth (:func:`jaxmh.compare`,
    :func:`jaxmh.study`) are those whose names the truth holds; a model
    parameter broadcasts to the truth's shape (a pooled intercept against
    every group's).
    """

    name: str
    logdensity: Callable[[dict], jax.Array]
    init: Callable[[jax.Array, int], dict]
    group_params: tuple
    num_groups: int
    split: GroupSplit | None = None
    priors: Mapping[str, Any] | None = None
    scale_params: tuple = ()
    start_scale: Mapping[str, float] | None = None
    data: Any = None
    with_data: Callable[[Any], "Model"] | None = None
    default_step_size: float = 0.1
    conditionals: Any = None
    coords: Mapping[str, Sequence[str]] | None = None
    layout: Any = None
    pointwise_loglik: Callable[[dict], jax.Array] | None = None
