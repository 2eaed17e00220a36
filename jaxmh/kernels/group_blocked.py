"""Group-blocked Metropolis-within-Gibbs for models with conditionally independent groups.

One transition has two blocks:

1. **Groups.** Every group's parameters (e.g. ``alpha[g], beta[g]``) get a
   Gaussian random-walk proposal at once; group ``g`` is accepted or rejected
   on its own, with ``Δ_g = group_logdensity(proposal)[g] - group_logdensity(current)[g]``.
   Because the groups are conditionally independent given the global
   parameters (see :class:`jaxmh.models.GroupSplit`), this is ``G`` independent
   Metropolis updates of the full conditionals, in O(N) total work.
2. **Globals.** The remaining parameters (hyperparameters, shared scales) get
   one joint Gaussian random-walk proposal accepted with the full log-density.
3. **Interweaving** (when the split provides ``standardize``): the globals get
   a second proposal with the *standardised* group effects held fixed, so the
   group effects move with their location and scale; the acceptance ratio
   includes the Jacobian ``|d group / d z|``.  This is the non-centred half
   of an ancillarity-sufficiency interweaving (Yu & Meng 2011) and is what
   lets a hierarchical scale such as ``sigma_alpha`` mix.

``step_size`` -- the kernel's parameter pytree -- is a dict over the
position's leaves: group leaves take arrays broadcastable to the leaf (``(G,)``
or ``(G, ...)``: one sd per group, or per group and coordinate); global leaves
take scalars or arrays of their shape.  An optional entry ``"interweave"``
(a dict over the global leaves) sets the interweaving move's sds.  Any leaf may
carry a leading chain axis (per-chain sds, as :func:`jaxmh.fit` tunes them), so
``jaxmh.kernels.blocked(model.split, result.step_size)`` rebuilds a fit's tuned kernel.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxmh import _checks, _stepsize
from jaxmh._threefry import normals_and_uniforms
from jaxmh import stablemath
from jaxmh.adaptation import ScaleAdaptation
from jaxmh.kernels.base import Kernel, SamplingAlgorithm

__all__ = ["BlockedState", "BlockedInfo", "KERNEL", "init", "build_kernel", "blocked", "block_dims"]

#: The key of ``step_size`` holding the interweaving move's sds.
INTERWEAVE = "interweave"

PyTree = Any


class BlockedState(NamedTuple):
    """State of a group-blocked chain.

    position
        Dict of parameters.
    logdensity
        Total log-density, ``global_logdensity + sum(group_logdensity)``.
    group_logdensity
        Per-group terms at ``position``, shape ``(G,)`` (carried, never recomputed).
    global_logdensity
        The remaining terms at ``position``.
    """

    position: PyTree
    logdensity: jax.Array
    group_logdensity: jax.Array
    global_logdensity: jax.Array


class BlockedInfo(NamedTuple):
    """What one transition did, one entry per block update.

    Entries ``0..G-1`` are the group blocks, entry ``G`` the global block, and
    entry ``G + 1`` (when the split can standardise) the interweaving move.

    acceptance_prob
        ``min(1, exp(Δ))`` of each block's proposal.
    is_accepted
        Whether each block's proposal was accepted.
    """

    acceptance_prob: jax.Array
    is_accepted: jax.Array


def init(position: PyTree, split) -> BlockedState:
    """Create a chain state at ``position`` for a model split ``split``."""
    g = jnp.asarray(split.group_logdensity(position))
    h = jnp.asarray(split.global_logdensity(position))
    return BlockedState(position, h + jnp.sum(g), g, h)


def _leaf_sizes(position: dict, names) -> list[int]:
    return [int(np.prod(jnp.shape(position[k]))) for k in names]


def _by_group(mask: jax.Array, leaf: jax.Array) -> jax.Array:
    """Broadcast a (G,) mask over a (G, ...) leaf."""
    return mask.reshape(mask.shape + (1,) * (jnp.ndim(leaf) - 1))


def build_kernel() -> Callable:
    """Build the group-blocked transition ``kernel(key, state, split, step_size, interweave_step_size=None)``.

    ``interweave_step_size`` (global leaves only) sets the proposal sds of the
    interweaving move; by default it uses the global block's.
    """

    def kernel(key, state: BlockedState, split, step_size: dict, interweave_step_size: dict | None = None):
        position = state.position
        group_names = tuple(split.group_names)
        global_names = tuple(k for k in position if k not in group_names)
        dtype = jnp.promote_types(jnp.result_type(state.logdensity), jnp.float32)
        num_groups = state.group_logdensity.shape[0]
        n_group = sum(_leaf_sizes(position, group_names))
        n_global = sum(_leaf_sizes(position, global_names))
        z, u = normals_and_uniforms(key, n_group + 2 * n_global, num_groups + 2, dtype)
        z_nc = z[n_group + n_global:]

        # 1. all groups at once, each accepted on its own terms
        proposal = _stepsize.move(position, group_names, step_size, z[:n_group])
        g_prop = jnp.asarray(split.group_logdensity(proposal), dtype)
        delta_g = jnp.where(jnp.isfinite(g_prop), g_prop - state.group_logdensity, -jnp.inf)
        accept_g = stablemath.log(u[:num_groups]) < delta_g
        position = {
            k: jnp.where(_by_group(accept_g, v), proposal[k], v) if k in group_names else v
            for k, v in position.items()
        }
        g_cur = jnp.where(accept_g, g_prop, state.group_logdensity)
        h_cur = state.global_logdensity
        total_cur = h_cur + jnp.sum(g_cur)

        # 2. the global parameters jointly, with the full log-density
        if global_names:
            proposal = _stepsize.move(position, global_names, step_size, z[n_group:])
            g_new = jnp.asarray(split.group_logdensity(proposal), dtype)
            h_new = jnp.asarray(split.global_logdensity(proposal), dtype)
            total_new = h_new + jnp.sum(g_new)
            delta_h = jnp.where(jnp.isfinite(total_new), total_new - total_cur, -jnp.inf)
            accept_h = stablemath.log(u[num_groups]) < delta_h
            position = {k: jnp.where(accept_h, proposal[k], v) for k, v in position.items()}
            g_cur = jnp.where(accept_h, g_new, g_cur)
            h_cur = jnp.where(accept_h, h_new, h_cur)
            total_cur = jnp.where(accept_h, total_new, total_cur)
        else:
            delta_h = jnp.zeros((), dtype)
            accept_h = jnp.ones((), bool)
        deltas, accepts = [delta_g, delta_h[None]], [accept_g, accept_h[None]]

        # 3. interweaving: the globals again, with the standardised group effects held fixed
        if global_names and split.standardize is not None:
            z, logdet = split.standardize(position)
            nc_size = step_size if interweave_step_size is None else interweave_step_size
            moved = _stepsize.move(position, global_names, nc_size, z_nc)
            proposal = {**moved, **split.unstandardize(z, moved)}
            logdet_new = split.standardize(proposal)[1]
            g_new = jnp.asarray(split.group_logdensity(proposal), dtype)
            h_new = jnp.asarray(split.global_logdensity(proposal), dtype)
            total_new = h_new + jnp.sum(g_new)
            gain = total_new - total_cur + logdet_new - logdet
            delta_nc = jnp.where(jnp.isfinite(total_new) & jnp.isfinite(gain), gain, -jnp.inf)
            accept_nc = stablemath.log(u[num_groups + 1]) < delta_nc
            position = {k: jnp.where(accept_nc, proposal[k], v) for k, v in position.items()}
            g_cur = jnp.where(accept_nc, g_new, g_cur)
            h_cur = jnp.where(accept_nc, h_new, h_cur)
            total_cur = jnp.where(accept_nc, total_new, total_cur)
            deltas.append(delta_nc[None])
            accepts.append(accept_nc[None])

        position = {k: position[k] for k in state.position}  # keep the caller's key order
        new_state = BlockedState(position, total_cur, g_cur, h_cur)
        info = BlockedInfo(
            acceptance_prob=stablemath.exp(jnp.minimum(jnp.concatenate(deltas), 0.0)),
            is_accepted=jnp.concatenate(accepts),
        )
        return new_state, info

    return kernel


def _check_split(split, position: dict) -> None:
    if not isinstance(position, dict):
        raise TypeError(f"the blocked sampler needs a dict position, got {type(position).__name__}")
    if INTERWEAVE in position:
        raise ValueError(f"the blocked sampler reserves the name {INTERWEAVE!r}; rename that parameter")
    missing = [k for k in split.group_names if k not in position]
    if missing:
        raise ValueError(f"group parameters {missing} are not in the position {sorted(position)}")
    sizes = {k: jnp.shape(position[k])[:1] for k in split.group_names}
    if len(set(sizes.values())) != 1 or () in sizes.values():
        raise ValueError(f"group parameters need one leading group axis of equal length, got {sizes}")


def _globals(split, position: dict) -> dict:
    return {k: v for k, v in position.items() if k not in split.group_names}


def _check(split, step_size: dict, position: dict, num_chains: int | None = None) -> None:
    _check_split(split, position)
    sizes, interweave = _stepsize.without(step_size, INTERWEAVE)
    _stepsize.check(sizes, position, "step_size", num_chains)
    if interweave is not None:
        _stepsize.check(interweave, _globals(split, position), "step_size['interweave']", num_chains)


def _per_chain(step_size: dict, position: dict, num_chains: int) -> dict:
    dtype = jnp.promote_types(jnp.result_type(*jax.tree_util.tree_leaves(position)), jnp.float32)
    sizes, interweave = _stepsize.without(step_size, INTERWEAVE)
    out = _stepsize.per_chain(sizes, position, num_chains, dtype)
    if interweave is not None:
        globals_ = {k: v for k, v in position.items() if k in interweave}
        out[INTERWEAVE] = _stepsize.per_chain(interweave, globals_, num_chains, dtype)
    return out


def _step(key, state: BlockedState, split, step_size: dict):
    sizes, interweave = _stepsize.without(step_size, INTERWEAVE)
    return _KERNEL(key, state, split, sizes, interweave)


def _target_of(model: Any):
    if model.split is None:
        raise ValueError(f"the blocked sampler needs a model with groups (model.split); "
                         f"the {model.name} model has none")
    return model.split


def block_dims(split, position: dict) -> tuple:
    """Dimension of each block the kernel accepts or rejects on its own: each group's, the
    globals', and (when the split can standardise) the interweaving move's -- the layout of
    ``BlockedInfo.acceptance_prob``."""
    num_groups = int(np.shape(position[split.group_names[0]])[0])
    group_dim = sum(int(np.prod(np.shape(position[k])[1:])) for k in split.group_names)
    global_dim = sum(int(np.prod(np.shape(v))) for k, v in position.items() if k not in split.group_names)
    interweaves = split.standardize is not None and global_dim > 0
    return tuple([group_dim] * num_groups + [max(global_dim, 1)] * (2 if interweaves else 1))


@dataclass(frozen=True)
class BlockedParams:
    """``(multipliers, sd) -> step_size``: multipliers ``[group 0..G-1, global, interweave]`` times scales."""

    group_names: tuple
    num_groups: int
    interweaves: bool

    def __call__(self, multiplier: jax.Array, sd: dict) -> dict:
        g = self.num_groups
        sizes, interweave = {}, {}
        for k, s in sd.items():
            if k in self.group_names:
                sizes[k] = multiplier[:g].reshape((g,) + (1,) * (jnp.ndim(s) - 1)) * s
            else:
                sizes[k] = multiplier[g] * s
                interweave[k] = multiplier[-1] * s
        return dict(sizes, **{INTERWEAVE: interweave}) if self.interweaves else sizes


def _acceptance(info: BlockedInfo) -> jax.Array:
    return info.acceptance_prob


def adaptation(split, position: dict, num_steps: int) -> ScaleAdaptation:
    """Tuning of every block: one multiplier per group, the globals and the interweaving move,
    times per-coordinate scales (:mod:`jaxmh.adaptation`)."""
    dims = block_dims(split, position)
    num_groups = int(np.shape(position[split.group_names[0]])[0])
    interweaves = len(dims) == num_groups + 2
    return ScaleAdaptation(dims, BlockedParams(tuple(split.group_names), num_groups, interweaves),
                           _acceptance, num_steps)


_KERNEL = build_kernel()


def blocked(split, step_size: dict, interweave_step_size: dict | None = None) -> SamplingAlgorithm:
    """Group-blocked Metropolis-within-Gibbs.

    Parameters
    ----------
    split
        A :class:`jaxmh.models.GroupSplit` (``model.split``).
    step_size
        Dict of proposal sds per leaf; group leaves broadcast to ``(G, ...)``;
        an optional ``"interweave"`` entry gives the interweaving move's sds;
        leaves may carry a leading chain axis (a fit's ``result.step_size``).
    interweave_step_size
        Dict of proposal sds of the global leaves for the interweaving move
        (models whose split can standardise); defaults to ``step_size``'s
        ``"interweave"`` entry, else its global sds.

    Returns
    -------
    SamplingAlgorithm
        ``init(position) -> BlockedState``, ``step(key, state) -> (BlockedState, BlockedInfo)``.

    Examples
    --------
    >>> import jax, jaxmh
    >>> data, _ = jaxmh.data.simulate(jax.random.key(0), 10, 5)
    >>> model = jaxmh.models.hierarchical(data)
    >>> sizes = {k: 0.5 for k in ("alpha", "beta", "mu_alpha", "mu_beta", "sigma_alpha", "sigma_beta", "sigma")}
    >>> kernel = jaxmh.kernels.blocked(model.split, sizes)
    >>> result = jaxmh.sample(jax.random.key(1), kernel, model.init(jax.random.key(2), 2), num_samples=100)
    """
    if split is None or not hasattr(split, "group_logdensity"):
        raise TypeError("split must be a jaxmh.models.GroupSplit (model.split); this model has none")
    if not isinstance(step_size, dict):
        raise TypeError(f"step_size must be a dict of proposal sds per parameter, got {type(step_size).__name__}")
    _checks.positive_scales(step_size, "step_size")
    if interweave_step_size is not None:
        _checks.positive_scales(interweave_step_size, "interweave_step_size")
        step_size = dict(step_size, **{INTERWEAVE: interweave_step_size})

    def init_fn(position: PyTree) -> BlockedState:
        _check(split, step_size, position)
        return init(position, split)

    def step_fn(key: jax.Array, state: BlockedState):
        return _step(key, state, split, step_size)

    return SamplingAlgorithm(init_fn, step_fn, KERNEL, split, step_size)


#: The group-blocked kernel's contract (:class:`jaxmh.kernels.base.Kernel`).
KERNEL = Kernel("group-blocked", init, _step, _target_of, _check, _per_chain, adaptation, None, blocked)
