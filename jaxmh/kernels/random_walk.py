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

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxmh import _checks, _flat, _stepsize
from jaxmh._threefry import normal_and_uniform
from jaxmh import stablemath
from jaxmh.adaptation import ScaleAdaptation
from jaxmh.kernels.base import Kernel, Representation, SamplingAlgorithm

__all__ = ["RWState", "RWInfo", "SamplingAlgorithm", "KERNEL", "init", "build_kernel", "rwm"]

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


def init(position: PyTree, logdensity_fn: LogDensityFn) -> RWState:
    """Create a chain state at ``position``."""
    return RWState(position, jnp.asarray(logdensity_fn(position)))


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
        for leaf, scale, lo, hi in zip(leaves, _stepsize.leaf_scales(step_size, position), offsets[:-1], offsets[1:])
    ]
    return jax.tree_util.tree_unflatten(treedef, moved), u


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


_KERNEL = build_kernel()


def _target_of(model: Any) -> LogDensityFn:
    return model.logdensity


def _check(logdensity_fn: LogDensityFn, step_size: PyTree, position: PyTree, num_chains: int | None = None) -> None:
    _stepsize.check(step_size, position, "step_size", num_chains)


def _per_chain(step_size: PyTree, position: PyTree, num_chains: int) -> PyTree:
    dtype = jnp.promote_types(jnp.result_type(*jax.tree_util.tree_leaves(position)), jnp.float32)
    return _stepsize.per_chain(step_size, position, num_chains, dtype)  # the noise's dtype


def joint_params(multiplier: jax.Array, sd: PyTree) -> PyTree:
    """One block: the step size is the multiplier times the per-coordinate scales."""
    return jax.tree.map(lambda s: multiplier * s, sd)


def joint_acceptance(info: RWInfo) -> jax.Array:
    return info.acceptance_prob


def adaptation(logdensity_fn: LogDensityFn, position: PyTree, num_steps: int) -> ScaleAdaptation:
    """Tuning of one joint block: a multiplier and per-coordinate scales (:mod:`jaxmh.adaptation`)."""
    dim = sum(int(np.prod(np.shape(v))) for v in jax.tree_util.tree_leaves(position))
    return ScaleAdaptation(dim, joint_params, joint_acceptance, num_steps)


def representation(logdensity_fn: LogDensityFn, position: PyTree) -> Representation | None:
    """The same chain on one flat vector per chain (see :mod:`jaxmh._flat`): faster, same draws.

    ``None`` for positions with mixed leaf dtypes (ravelling would promote them).
    """
    fns = _flat.ravel_fns(position)
    if fns is None:
        return None
    ravel, unravel = fns
    return Representation(_flat.FlatLogdensity(logdensity_fn, unravel), ravel, unravel)


def rwm(logdensity_fn: LogDensityFn, step_size: float | PyTree) -> SamplingAlgorithm:
    """Random-walk Metropolis with Gaussian proposals.

    Parameters
    ----------
    logdensity_fn
        Pure JAX function of a position pytree returning a scalar log-density
        (up to a constant).
    step_size
        Proposal standard deviation: a positive float, or a pytree with the
        position's structure giving one (per leaf or per coordinate); a leaf
        with a leading chain axis gives one per chain (as :func:`jaxmh.fit`
        tunes them: ``jaxmh.rwm(model.logdensity, result.step_size)``
        continues a fit's chains from ``result.final_state``).

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
        _stepsize.check(step_size, position)
        return init(position, logdensity_fn)

    def step_fn(key: jax.Array, state: RWState) -> tuple[RWState, RWInfo]:
        return _KERNEL(key, state, logdensity_fn, step_size)

    return SamplingAlgorithm(init_fn, step_fn, KERNEL, logdensity_fn, step_size)


#: The random-walk kernel's contract (:class:`jaxmh.kernels.base.Kernel`).
KERNEL = Kernel("random walk", init, _KERNEL, _target_of, _check, _per_chain, adaptation, representation, rwm)
