"""Gaussian random-walk Metropolis (Metropolis et al. 1953).

A proposal ``x' = x + step_size * z`` with ``z ~ N(0, I)`` is accepted with
probability ``min(1, p(x') / p(x))``.  ``step_size`` is the proposal's standard
deviation: one float for every coordinate, or a pytree shaped like the position
with one standard deviation per leaf (scalar) or per coordinate (array).

The kernel is pure: ``init(position, logdensity_fn)`` and
``step(key, state, logdensity_fn, step_size)``, with the log-density of the
current position carried in the state so it is never recomputed.  A proposal
whose log-density is not finite (``-inf``, ``+inf`` or NaN) is always rejected.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxmh import _checks
from jaxmh._threefry import normal_and_uniform
from jaxmh import _stablemath as stablemath

__all__ = ["RWState", "RWInfo", "SamplingAlgorithm", "RWStep", "ScaledStep", "init", "build_kernel", "rwm"]

PyTree = Any
LogDensityFn = Callable[[PyTree], jax.Array]


class RWState(NamedTuple):
    """State of a random-walk Metropolis chain.

    position
        Current position (a pytree).
    logdensity
        Log-density at ``position``, carried so that it is never recomputed.
    """

    position: PyTree
    logdensity: jax.Array


class RWInfo(NamedTuple):
    """What one transition did.

    acceptance_prob
        ``min(1, exp(logdensity(proposal) - logdensity(position)))``; 0 for a
        non-finite proposal.
    is_accepted
        Whether the proposal was accepted.
    proposal
        The proposed state (position and its log-density), accepted or not.
    """

    acceptance_prob: jax.Array
    is_accepted: jax.Array
    proposal: RWState


class SamplingAlgorithm(NamedTuple):
    """A kernel closed over its log-density and parameters.

    ``init(position) -> state`` and ``step(key, state) -> (state, info)``.
    """

    init: Callable[[PyTree], RWState]
    step: Callable[[jax.Array, RWState], tuple[RWState, RWInfo]]


def init(position: PyTree, logdensity_fn: LogDensityFn) -> RWState:
    """Create a chain state at ``position``."""
    return RWState(position, jnp.asarray(logdensity_fn(position)))


def _leaf_scales(step_size: PyTree, position: PyTree) -> list:
    """Proposal sd for each position leaf (a scalar or an array broadcastable to the leaf)."""
    if jax.tree_util.treedef_is_leaf(jax.tree_util.tree_structure(step_size)):
        return [step_size] * len(jax.tree_util.tree_leaves(position))
    return jax.tree_util.tree_leaves(step_size)


def propose(key: jax.Array, position: PyTree, step_size: PyTree) -> tuple[PyTree, jax.Array]:
    """Gaussian random-walk proposal and one uniform for the accept test.

    The noise for all leaves comes from one call of the random-number generator;
    each leaf takes its own slice (no concatenation of the position).
    """
    leaves, treedef = jax.tree_util.tree_flatten(position)
    sizes = [int(np.prod(jnp.shape(leaf))) for leaf in leaves]
    # noise in at least float32: a float16 uniform cannot stay inside (0, 1)
    dtype = jnp.promote_types(jnp.result_type(*leaves), jnp.float32)
    z, u = normal_and_uniform(key, sum(sizes), dtype)
    offsets = np.cumsum([0] + sizes)
    moved = [
        leaf + (jnp.asarray(scale, dtype) * z[lo:hi].reshape(jnp.shape(leaf))).astype(jnp.result_type(leaf))
        for leaf, scale, lo, hi in zip(leaves, _leaf_scales(step_size, position), offsets[:-1], offsets[1:])
    ]
    return jax.tree_util.tree_unflatten(treedef, moved), u


def _check_structure(step_size: PyTree, position: PyTree) -> None:
    """A pytree ``step_size`` must have the position's structure and broadcast to its leaves."""
    if jax.tree_util.treedef_is_leaf(jax.tree_util.tree_structure(step_size)):
        return
    want = jax.tree_util.tree_structure(position)
    got = jax.tree_util.tree_structure(step_size)
    if want != got:
        raise ValueError(
            f"step_size has pytree structure {got}, but the position has {want}; "
            "pass one float or a pytree with the position's structure"
        )
    for name, s, p in zip(_checks.leaf_names(position), jax.tree_util.tree_leaves(step_size),
                          jax.tree_util.tree_leaves(position)):
        try:
            fits = jnp.broadcast_shapes(jnp.shape(s), jnp.shape(p)) == jnp.shape(p)
        except ValueError:
            fits = False
        if not fits:
            raise ValueError(
                f"step_size leaf {name} has shape {jnp.shape(s)}, which does not fit the "
                f"position leaf of shape {jnp.shape(p)}"
            )


def build_kernel() -> Callable:
    """Build the random-walk Metropolis transition.

    Returns
    -------
    kernel(key, state, logdensity_fn, step_size) -> (RWState, RWInfo)
    """

    def kernel(
        key: jax.Array, state: RWState, logdensity_fn: LogDensityFn, step_size: PyTree
    ) -> tuple[RWState, RWInfo]:
        proposal, u = propose(key, state.position, step_size)
        proposal_logdensity = jnp.asarray(logdensity_fn(proposal), dtype=state.logdensity.dtype)
        delta = proposal_logdensity - state.logdensity
        delta = jnp.where(jnp.isfinite(proposal_logdensity), delta, -jnp.inf)
        is_accepted = stablemath.log(u) < delta
        new_state = jax.tree.map(
            lambda new, old: jnp.where(is_accepted, new, old),
            RWState(proposal, proposal_logdensity),
            state,
        )
        info = RWInfo(
            acceptance_prob=stablemath.exp(jnp.minimum(delta, 0.0)),
            is_accepted=is_accepted,
            proposal=RWState(proposal, proposal_logdensity),
        )
        return new_state, info

    return kernel


@dataclass(frozen=True, eq=False)
class RWStep:
    """``step(key, state)`` of :func:`rwm`: the transition closed over its arguments.

    A named callable rather than a closure so that the driver can see what it
    runs (and run it on a flat position vector, see :mod:`jaxmh._flat`).
    """

    logdensity_fn: LogDensityFn
    step_size: Any

    def __call__(self, key: jax.Array, state: RWState) -> tuple[RWState, RWInfo]:
        return _KERNEL(key, state, self.logdensity_fn, self.step_size)


@dataclass(frozen=True)
class ScaledStep:
    """``step(key, state, step_size)``: the transition with the proposal sds passed in.

    How the driver runs a random walk whose sds are per-chain data (tuned in
    warm-up, or a flat vector per chain): :func:`jaxmh.fit` and
    :mod:`jaxmh._flat` both use it.
    """

    logdensity_fn: LogDensityFn

    def __call__(self, key: jax.Array, state: RWState, step_size: PyTree) -> tuple[RWState, RWInfo]:
        return _KERNEL(key, state, self.logdensity_fn, step_size)


_KERNEL = build_kernel()


def rwm(logdensity_fn: LogDensityFn, step_size: float | PyTree) -> SamplingAlgorithm:
    """Random-walk Metropolis with Gaussian proposals.

    Parameters
    ----------
    logdensity_fn
        Pure JAX function of a position pytree returning a scalar log-density
        (up to a constant).
    step_size
        Proposal standard deviation: a positive float, or a pytree with the
        position's structure giving one (per leaf or per coordinate).

    Returns
    -------
    SamplingAlgorithm
        ``init(position) -> RWState`` and ``step(key, state) -> (RWState, RWInfo)``.

    Examples
    --------
    >>> import jax, jax.numpy as jnp, jaxmh
    >>> kernel = jaxmh.rwm(lambda p: -0.5 * jnp.sum(p["x"] ** 2), step_size=1.0)
    >>> state = kernel.init({"x": jnp.zeros(3)})
    >>> state, info = kernel.step(jax.random.key(0), state)
    """
    if not callable(logdensity_fn):
        raise TypeError(f"logdensity_fn must be callable, got {type(logdensity_fn).__name__}")
    _checks.positive_scales(step_size, "step_size")

    def init_fn(position: PyTree) -> RWState:
        _check_structure(step_size, position)
        return init(position, logdensity_fn)

    return SamplingAlgorithm(init_fn, RWStep(logdensity_fn, step_size))
