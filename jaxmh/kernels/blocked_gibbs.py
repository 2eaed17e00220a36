"""Blocked Gibbs with a tuned random walk for the rest: the sampler of formula models.

One transition:

1. **Conditional updates**, in turn: each is a pure ``update(key, position) ->
   (position, acceptance_prob, accepted)`` that leaves the target invariant --
   an exact draw from a full conditional (probability 1), or a
   Metropolis-Hastings step with a proposal built from one.  A formula model
   with a Gaussian likelihood provides, per bar term, the fixed effects and
   that term's effects of every level drawn jointly, and updates of its scales
   (see :mod:`jaxmh.models.formula`).
2. **Random walk**: the remaining parameters (``walk_names``; in a formula
   model, the correlations) get one joint Gaussian proposal accepted with the
   full log-density.
3. **Interweaving** (when the target can standardise): the walk parameters move
   again with the standardised group effects held fixed (Yu & Meng 2011), so
   the group-level sds mix whether the data say much or little about each level.

``step_size``, the kernel's parameter pytree, is a dict over ``walk_names`` (a
scalar or an array of the leaf's shape each) with an optional ``"interweave"``
entry of the same form; leaves may carry a leading chain axis.  Warm-up tunes
both moves (:mod:`jaxmh.adaptation`), so
``jaxmh.kernels.gibbs(model.conditionals, result.step_size)`` rebuilds a fit's
tuned kernel.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxmh import _checks, _stepsize, stablemath
from jaxmh._threefry import normals_and_uniforms
from jaxmh.adaptation import ScaleAdaptation
from jaxmh.kernels.base import Kernel, SamplingAlgorithm

__all__ = ["Conditionals", "GibbsState", "GibbsInfo", "KERNEL", "init", "gibbs", "INTERWEAVE"]

PyTree = Any

#: The key of ``step_size`` holding the interweaving move's sds.
INTERWEAVE = "interweave"


class Conditionals(NamedTuple):
    """What the Gibbs kernel needs from a model (``model.conditionals``).

    logdensity
        ``p -> ()``: the full log-density.
    updates
        Tuple of ``update(key, p) -> (p, acceptance_prob, accepted)``, each
        leaving the target invariant (exact conditional draws: probability 1
        and ``True``; or Metropolis-Hastings steps).
    walk_names
        The parameters moved by the joint random walk (every other leaf must be
        moved by an update).
    standardize, unstandardize
        Optional, as in :class:`jaxmh.models.GroupSplit`: ``standardize(p) ->
        (z, logdet)`` and ``unstandardize(z, p)``, for the interweaving move.
    """

    logdensity: Callable
    updates: tuple
    walk_names: tuple
    standardize: Callable | None = None
    unstandardize: Callable | None = None


class GibbsState(NamedTuple):
    """A chain's position and its log-density."""

    position: PyTree
    logdensity: jax.Array


class GibbsInfo(NamedTuple):
    """One entry per update, then the random walk, then (if any) the interweaving move."""

    acceptance_prob: jax.Array
    is_accepted: jax.Array


def init(position: PyTree, target: Conditionals) -> GibbsState:
    """A chain state at ``position``."""
    return GibbsState(position, jnp.asarray(target.logdensity(position)))


def _walk_size(position: dict, names: tuple) -> int:
    return sum(int(np.prod(np.shape(position[k]))) for k in names)


def _interweaves(target: Conditionals, position: dict) -> bool:
    return target.standardize is not None and _walk_size(position, tuple(target.walk_names)) > 0


def _step(key: jax.Array, state: GibbsState, target: Conditionals, step_size: dict):
    sizes, interweave = _stepsize.without(step_size, INTERWEAVE)
    position = state.position
    names = tuple(target.walk_names)
    dtype = jnp.promote_types(jnp.result_type(state.logdensity), jnp.float32)
    keys = jax.random.split(key, len(target.updates) + 1)
    probs, accepts = [], []
    for k_update, update in zip(keys[:-1], target.updates):
        position, prob, accepted = update(k_update, position)
        probs.append(jnp.asarray(prob, dtype)[None])
        accepts.append(jnp.asarray(accepted, bool)[None])
    current = jnp.asarray(target.logdensity(position), dtype)
    d = _walk_size(position, names)
    if d:
        z, u = normals_and_uniforms(keys[-1], 2 * d, 2, dtype)
        proposal = _stepsize.move(position, names, sizes, z[:d])
        new = jnp.asarray(target.logdensity(proposal), dtype)
        delta = jnp.where(jnp.isfinite(new), new - current, -jnp.inf)
        accept = stablemath.log(u[0]) < delta
        position = {k: jnp.where(accept, proposal[k], v) for k, v in position.items()}
        current = jnp.where(accept, new, current)
        probs.append(stablemath.exp(jnp.minimum(delta, 0.0))[None])
        accepts.append(accept[None])
        if _interweaves(target, position):
            zs, logdet = target.standardize(position)
            moved = _stepsize.move(position, names, sizes if interweave is None else interweave, z[d:])
            proposal = {**moved, **target.unstandardize(zs, moved)}
            logdet_new = target.standardize(proposal)[1]
            new = jnp.asarray(target.logdensity(proposal), dtype)
            gain = new - current + logdet_new - logdet
            delta = jnp.where(jnp.isfinite(new) & jnp.isfinite(gain), gain, -jnp.inf)
            accept = stablemath.log(u[1]) < delta
            position = {k: jnp.where(accept, proposal[k], v) for k, v in position.items()}
            current = jnp.where(accept, new, current)
            probs.append(stablemath.exp(jnp.minimum(delta, 0.0))[None])
            accepts.append(accept[None])
    position = {k: position[k] for k in state.position}
    info = GibbsInfo(jnp.concatenate(probs) if probs else jnp.ones((0,), dtype),
                     jnp.concatenate(accepts) if accepts else jnp.ones((0,), bool))
    return GibbsState(position, current), info


def _target_of(model: Any) -> Conditionals:
    target = getattr(model, "conditionals", None)
    if target is None:
        raise ValueError(f"the Gibbs sampler needs a model with conditional updates (model.conditionals); "
                         f"the {model.name} model has none (formula models, jaxmh.model, have them)")
    return target


def _check_position(target: Conditionals, position: Any) -> None:
    if not isinstance(position, dict):
        raise TypeError(f"the Gibbs sampler needs a dict position, got {type(position).__name__}")
    if INTERWEAVE in position:
        raise ValueError(f"the Gibbs sampler reserves the name {INTERWEAVE!r}; rename that parameter")
    missing = [k for k in target.walk_names if k not in position]
    if missing:
        raise ValueError(f"walk parameters {missing} are not in the position {sorted(position)}")


def _walk(target: Conditionals, position: dict) -> dict:
    return {k: position[k] for k in target.walk_names}


def _check(target: Conditionals, step_size: Any, position: dict, num_chains: int | None = None) -> None:
    _check_position(target, position)
    if not isinstance(step_size, dict):
        step_size = {k: step_size for k in target.walk_names}
    sizes, interweave = _stepsize.without(step_size, INTERWEAVE)
    _stepsize.check(sizes, _walk(target, position), "step_size", num_chains)
    if interweave is not None:
        _stepsize.check(interweave, _walk(target, position), "step_size['interweave']", num_chains)


def _as_dict(step_size: Any, names: tuple) -> dict:
    return step_size if isinstance(step_size, dict) else {k: step_size for k in names}


def _per_chain(step_size: dict, position: dict, num_chains: int) -> dict:
    sizes, interweave = _stepsize.without(step_size, INTERWEAVE)
    dtype = jnp.promote_types(jnp.result_type(*jax.tree_util.tree_leaves(position)), jnp.float32)
    walk = {k: position[k] for k in sizes}
    out = _stepsize.per_chain(sizes, walk, num_chains, dtype)
    if interweave is not None:
        out[INTERWEAVE] = _stepsize.per_chain(interweave, walk, num_chains, dtype)
    return out


@dataclass(frozen=True)
class GibbsParams:
    """``(multipliers, sd) -> step_size``: multipliers ``[walk, interweave]`` times per-coordinate scales."""

    walk_names: tuple
    interweaves: bool

    def __call__(self, multiplier: jax.Array, sd: dict) -> dict:
        sizes = {k: multiplier[0] * sd[k] for k in self.walk_names}
        if self.interweaves:
            return dict(sizes, **{INTERWEAVE: {k: multiplier[1] * sd[k] for k in self.walk_names}})
        return sizes


@dataclass(frozen=True)
class _Acceptance:
    num_updates: int

    def __call__(self, info: GibbsInfo) -> jax.Array:
        tuned = info.acceptance_prob[self.num_updates:]
        # no random walk (every parameter has an update of its own): nothing to tune
        return tuned if tuned.shape[0] else jnp.ones((1,), info.acceptance_prob.dtype)


def adaptation(target: Conditionals, position: dict, num_steps: int) -> ScaleAdaptation:
    """Tuning of the random walk and the interweaving move (one multiplier each, per-coordinate scales
    from the draws' variances), as :mod:`jaxmh.adaptation` does for the other kernels."""
    names = tuple(target.walk_names)
    d = max(_walk_size(position, names), 1)
    interweaves = _interweaves(target, position)
    return ScaleAdaptation((d, d) if interweaves else (d,), GibbsParams(names, interweaves),
                           _Acceptance(len(target.updates)), num_steps)


def gibbs(conditionals: Conditionals, step_size: Any, interweave_step_size: Any = None) -> SamplingAlgorithm:
    """Blocked Gibbs: the model's conditional updates, then a random walk on the rest.

    Parameters
    ----------
    conditionals
        A :class:`Conditionals` (``model.conditionals`` of a formula model).
    step_size
        Proposal sds of the random walk: a float, or a dict over
        ``conditionals.walk_names`` (an optional ``"interweave"`` entry sets the
        interweaving move's); leaves may carry a leading chain axis (a fit's
        ``result.step_size``).
    interweave_step_size
        The interweaving move's sds (default: ``step_size``'s ``"interweave"``
        entry, else the walk's).

    Returns
    -------
    SamplingAlgorithm
        ``init(position) -> GibbsState``, ``step(key, state) -> (GibbsState, GibbsInfo)``.
    """
    if not isinstance(conditionals, Conditionals):
        raise TypeError("conditionals must be a jaxmh.kernels.blocked_gibbs.Conditionals (model.conditionals of a "
                        f"formula model), got {type(conditionals).__name__}")
    step_size = _as_dict(step_size, tuple(conditionals.walk_names))
    _checks.positive_scales(step_size, "step_size")
    if interweave_step_size is not None:
        _checks.positive_scales(interweave_step_size, "interweave_step_size")
        step_size = dict(step_size, **{INTERWEAVE: _as_dict(interweave_step_size, tuple(conditionals.walk_names))})

    def init_fn(position: PyTree) -> GibbsState:
        _check(conditionals, step_size, position)
        return init(position, conditionals)

    def step_fn(key: jax.Array, state: GibbsState):
        return _step(key, state, conditionals, step_size)

    return SamplingAlgorithm(init_fn, step_fn, KERNEL, conditionals, step_size)


#: The Gibbs kernel's contract (:class:`jaxmh.kernels.base.Kernel`).
KERNEL = Kernel("gibbs", init, _step, _target_of, _check, _per_chain, adaptation, None, gibbs)
