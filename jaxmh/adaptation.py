"""Warm-up tuning of random-walk proposal scales.

During warm-up each chain tunes its own proposal standard deviations:

* a **diagonal scale** per coordinate, re-estimated at the end of each window
  from the variance of that window's draws (Welford's method), regularised
  towards a small value as Stan does, ``var' = n/(n+5) var + 1e-3 u^2 * 5/(n+5)``,
  where ``u`` is the coordinate's typical scale (1 unless the model says,
  see :attr:`jaxmh.models.Model.start_scale`), so that the regularisation
  means the same on data of any scale;
* a **multiplier** per block (one for a joint random walk; one per group block
  plus one for the global block in the blocked sampler), adapted on the log
  scale by Robbins-Monro towards a target acceptance probability,
  ``log m += (t + 1)^-0.6 (acceptance_prob - target)``, with ``t`` counted
  from the start of the current window.  At a window's end the multiplier
  restarts at ``2.38 / sqrt(d)`` (Roberts, Gelman & Gilks 1997).

Windows end at 15%, 30%, 50% and 80% of the warm-up; the last 20% adapts the
multiplier only, and the final multiplier is the average of its iterates over
the last 10% of warm-up.  After warm-up the scales are frozen, so the sampling phase
is a fixed, valid Markov chain.  The targets are 0.234 for blocks of more
than two dimensions and 0.44 for one- and two-dimensional blocks.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxmh._threefry import fold_in
from jaxmh.moments import Welford, welford_init, welford_update, welford_variance
from jaxmh import stablemath

__all__ = ["Welford", "welford_init", "welford_update", "welford_variance", "target_acceptance",
           "window_ends", "AdaptState", "ScaleAdaptation", "update", "warmup_init", "warmup_step",
           "warmup_result"]

PyTree = Any
WINDOW_FRACTIONS = (0.15, 0.30, 0.50, 0.80)
RM_EXPONENT = 0.6


def target_acceptance(dim: int) -> float:
    """0.44 for one- and two-dimensional blocks, 0.234 otherwise."""
    return 0.44 if dim <= 2 else 0.234


def window_ends(num_steps: int) -> np.ndarray:
    """Boolean array: whether warm-up step ``t`` ends a variance window."""
    ends = np.zeros(num_steps, dtype=bool)
    if num_steps >= 50:
        for f in WINDOW_FRACTIONS:
            ends[int(round(f * num_steps)) - 1] = True
    return ends


def gains(num_steps: int) -> np.ndarray:
    """Robbins-Monro gain ``(s + 1)^-0.6`` at each warm-up step, ``s`` counted from the window's start."""
    out = np.empty(num_steps)
    s = 0
    for t, end in enumerate(window_ends(num_steps)):
        out[t] = (s + 1.0) ** -RM_EXPONENT
        s = 0 if end else s + 1
    return out


def averaged(num_steps: int) -> np.ndarray:
    """Steps whose multipliers are averaged into the final ones: the last 10% of warm-up.

    The last Robbins-Monro iterate still jitters with the latest acceptances;
    the average over the second half of the final, multiplier-only phase (as
    in Polyak-Ruppert averaging, or the averaged iterate of Stan's dual
    averaging) is a steadier choice for the fixed sampling phase.
    """
    mask = np.zeros(num_steps)
    mask[int(0.9 * num_steps):] = 1.0
    return mask


class AdaptState(NamedTuple):
    """One chain's tuning state during warm-up."""

    log_multiplier: jax.Array  # (num_blocks,)
    sd: PyTree                 # per-coordinate scales, the position's structure
    welford: Welford           # moments of the current window's draws
    window_step: jax.Array     # steps since the current window began
    log_multiplier_sum: jax.Array  # sum of the multipliers of the averaged steps
    num_averaged: jax.Array
    sd_floor: PyTree = None        # 5e-3 u^2 per coordinate (None: u = 1), the regularisation's numerator


def warmup_init(position: PyTree, initial_sd: PyTree, dims: Any, unit: PyTree = None) -> AdaptState:
    """Tuning state before the first warm-up step (multipliers 1, scales ``initial_sd``).

    ``unit``: each coordinate's typical scale (the position's structure; default 1),
    which scales the variance regularisation.
    """
    dtype = jnp.result_type(*jax.tree_util.tree_leaves(position))
    floor = None  # unit scales: the constant 5e-3 (then the arithmetic is exactly Stan's, as before)
    if unit is not None:
        floor = jax.tree.map(lambda v, u: jnp.broadcast_to(jnp.asarray(5e-3 * np.square(u), jnp.result_type(v)),
                                                             jnp.shape(v)), position, unit)
    return AdaptState(jnp.zeros(np.shape(dims), dtype), initial_sd, welford_init(position),
                      jnp.zeros((), dtype), jnp.zeros(np.shape(dims), dtype), jnp.zeros((), dtype), floor)


class ScaleAdaptation(NamedTuple):
    """Warm-up tuning of a random-walk kernel's proposal sds as pure pieces (BlackJAX style).

    ``init(position, initial_sd, unit) -> AdaptState``; ``params(state)``: the
    kernel's parameters for the next step; ``update(state, t, position, info)``
    after warm-up step ``t``; ``final(state)``: the frozen parameters, exactly
    the kernel's own parameter pytree (so the tuned kernel can be rebuilt).

    dims
        Dimension of each block (its target acceptance and restart multiplier).
    to_params
        ``to_params(multipliers, sd) -> params``: the kernel's parameters from
        one multiplier per block and per-coordinate scales (the position's structure).
    acceptance
        ``acceptance(info) -> (num_blocks,)``: each block's acceptance probability.
    num_steps
        Warm-up length (sets the windows and the averaged steps).
    """

    dims: int | tuple
    to_params: Callable[[jax.Array, PyTree], PyTree]
    acceptance: Callable[[Any], jax.Array]
    num_steps: int

    def init(self, position: PyTree, initial_sd: PyTree, unit: PyTree = None) -> AdaptState:
        return warmup_init(position, initial_sd, self.dims, unit)

    def params(self, adapt: AdaptState) -> PyTree:
        return self.to_params(stablemath.exp(adapt.log_multiplier), adapt.sd)

    def update(self, adapt: AdaptState, t: jax.Array, position: PyTree, info: Any) -> AdaptState:
        return update(adapt, t, position, self.acceptance(info), dims=self.dims, num_steps=self.num_steps)

    def final(self, adapt: AdaptState) -> PyTree:
        return warmup_result(adapt, self.to_params)


def update(adapt: AdaptState, t: jax.Array, position: PyTree, accept: jax.Array, *, dims: Any,
           num_steps: int) -> AdaptState:
    """Tune after warm-up step ``t`` (of ``num_steps``): ``accept`` holds each block's acceptance probability."""
    dims = np.asarray(dims)
    targets = jnp.asarray(np.where(dims <= 2, 0.44, 0.234))
    restart = jnp.asarray(np.log(2.38 / np.sqrt(dims)))
    window_end = jnp.asarray(window_ends(num_steps))[t] if num_steps else jnp.asarray(False)
    # the gain is a function of t alone (windows end at the same steps in every chain), so it is
    # looked up rather than computed per chain with pow: elementwise transcendental functions
    # may round differently with the batch shape, and a chain must not depend on its neighbours
    gain = jnp.asarray(gains(num_steps), adapt.window_step.dtype)[t] if num_steps else 1.0
    in_average = jnp.asarray(averaged(num_steps) > 0)[t] if num_steps else jnp.asarray(False)
    accept = jnp.reshape(accept, dims.shape)
    log_m = adapt.log_multiplier + gain * (accept - targets)
    welford = welford_update(adapt.welford, position)
    n = welford.count.astype(adapt.window_step.dtype)
    variance = welford_variance(welford)
    if adapt.sd_floor is None:
        new_sd = jax.tree.map(lambda v: jnp.sqrt(n / (n + 5.0) * v + 1e-3 * 5.0 / (n + 5.0)), variance)
    else:
        new_sd = jax.tree.map(lambda v, f: jnp.sqrt(n / (n + 5.0) * v + f / (n + 5.0)), variance, adapt.sd_floor)
    return AdaptState(
        log_multiplier=jnp.where(window_end, restart, log_m).astype(log_m.dtype),
        sd=jax.tree.map(lambda new, old: jnp.where(window_end, new, old), new_sd, adapt.sd),
        welford=jax.tree.map(lambda fresh, w: jnp.where(window_end, fresh, w),
                             welford_init(position), welford),
        window_step=jnp.where(window_end, 0.0, adapt.window_step + 1.0).astype(n.dtype),
        # a select, not ``sum + weight * log_m``: XLA may fuse that into an FMA in one
        # compilation and not in another, and a chunked run must equal the whole run
        log_multiplier_sum=jnp.where(in_average, adapt.log_multiplier_sum + log_m,
                                     adapt.log_multiplier_sum),
        num_averaged=adapt.num_averaged + jnp.where(in_average, 1.0, 0.0),
        sd_floor=adapt.sd_floor,
    )


def warmup_step(
    key: jax.Array,
    state: Any,
    adapt: AdaptState,
    t: jax.Array,
    *,
    step_fn: Callable,
    scale_fn: Callable[[jax.Array, PyTree], PyTree],
    dims: Any,
    num_steps: int,
) -> tuple[Any, AdaptState]:
    """Warm-up step ``t`` of one chain: move, then tune (pure; vmap it).

    The composition of :meth:`ScaleAdaptation.params`, a kernel step and
    :func:`update`, for a ``step_fn(key, state, step_size) -> (state, info)``
    whose ``info.acceptance_prob`` has one entry per block of ``dims``.  A
    kernel whose info says more (or less) states it through
    :class:`ScaleAdaptation`'s ``acceptance`` instead.
    """
    dims = np.asarray(dims)
    step_size = scale_fn(stablemath.exp(adapt.log_multiplier), adapt.sd)
    state, info = step_fn(fold_in(key, t), state, step_size)
    accept = jnp.reshape(info.acceptance_prob, (-1,))
    if accept.size != dims.size:
        raise ValueError(f"step_fn's info.acceptance_prob has {accept.size} entries but dims has {dims.size} "
                         "blocks; give a ScaleAdaptation an acceptance function that picks the blocks' entries")
    return state, update(adapt, t, state.position, accept, dims=dims, num_steps=num_steps)


def warmup_result(adapt: AdaptState, scale_fn: Callable[[jax.Array, PyTree], PyTree]) -> PyTree:
    """The frozen step sizes at the end of warm-up (multipliers averaged over its last 10%)."""
    mean = adapt.log_multiplier_sum / jnp.maximum(adapt.num_averaged, 1.0)
    log_m = jnp.where(adapt.num_averaged > 0, mean, adapt.log_multiplier)
    return scale_fn(stablemath.exp(log_m), adapt.sd)
