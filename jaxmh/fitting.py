"""``jaxmh.fit``: a model in, a tuned and checked sampler run out."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache, partial
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from jaxmh import _checks, adaptation
from jaxmh._threefry import fold_in
from jaxmh.kernels import group_blocked as blocked_kernel, random_walk as rwm_kernel
from jaxmh.models.base import Model
from jaxmh.sampling import Result, _check_initial, _run

__all__ = ["fit", "METHODS", "DEFAULT_STEP_SIZE"]

METHODS = ("rwm", "adaptive", "blocked")
#: Proposal sd of the untuned tutorial sampler (``method="rwm"``) and the start of tuning.
DEFAULT_STEP_SIZE = 0.1


def _block_dims_rwm(position: dict) -> np.ndarray:
    return np.asarray(sum(int(np.prod(np.shape(v))) for v in jax.tree_util.tree_leaves(position)))


@dataclass(frozen=True)
class _RWMStep:
    logdensity: Callable
    kernel: Callable = rwm_kernel.build_kernel()

    def __call__(self, key, state, step_size):
        return self.kernel(key, state, self.logdensity, step_size)


@dataclass(frozen=True)
class _BlockedStep:
    split: Any
    kernel: Callable = blocked_kernel.build_kernel()

    def __call__(self, key, state, step_size):
        sizes, interweave = step_size
        return self.kernel(key, state, self.split, sizes, interweave)


def _rwm_scale(multiplier, sd):
    return jax.tree.map(lambda s: multiplier * s, sd)


@lru_cache(maxsize=None)
def _blocked_scale(group_names, num_groups):
    """Multipliers ``[group 0..G-1, global, interweave]`` times per-coordinate scales."""

    def scale(multiplier, sd):
        sizes, interweave = {}, {}
        for k, s in sd.items():
            if k in group_names:
                sizes[k] = multiplier[:num_groups].reshape((num_groups,) + (1,) * (jnp.ndim(s) - 1)) * s
            else:
                sizes[k] = multiplier[num_groups] * s
                interweave[k] = multiplier[-1] * s
        return sizes, interweave

    return scale


@partial(jax.jit, static_argnames=("step_fn", "scale_fn", "dims", "num_steps"))
def _warmup_chains(key, states, initial_sd, *, step_fn, scale_fn, dims, num_steps):
    num_chains = jax.tree_util.tree_leaves(states)[0].shape[0]
    keys = jax.vmap(lambda c: fold_in(key, c))(jnp.arange(num_chains, dtype=jnp.uint32))
    run = partial(adaptation.warmup, step_fn=step_fn, scale_fn=scale_fn,
                  dims=np.asarray(dims), num_steps=num_steps)
    return jax.vmap(lambda k, s: run(k, s, initial_sd=initial_sd))(keys, states)


def fit(
    key: jax.Array,
    model: Model,
    *,
    method: str | None = None,
    num_chains: int = 4,
    num_samples: int = 1000,
    num_warmup: int = 1000,
    thin: int = 1,
    step_size: float | None = None,
) -> Result:
    """Sample a model's posterior with a tuned random-walk Metropolis sampler.

    Parameters
    ----------
    key
        PRNG key.
    model
        A :class:`jaxmh.models.Model`.
    method
        ``"blocked"`` (default for models with groups): group-blocked
        Metropolis-within-Gibbs with per-group scales tuned in warm-up;
        ``"adaptive"`` (default otherwise): joint random walk with per-coordinate
        scales tuned in warm-up; ``"rwm"``: the tutorial's untuned joint random
        walk with one proposal sd (``step_size``, default 0.1).
    num_chains, num_samples, num_warmup, thin
        Chains; draws kept per chain; warm-up steps (tuning, then discarded);
        keep every ``thin``-th step.
    step_size
        Starting proposal sd (``"adaptive"``, ``"blocked"``) or the fixed one (``"rwm"``).

    Returns
    -------
    Result
        As :func:`jaxmh.sample`, with ``step_size`` holding the tuned scales
        per chain.

    Examples
    --------
    >>> import jax, jaxmh
    >>> data, truth = jaxmh.data.simulate(jax.random.key(0))
    >>> result = jaxmh.fit(jax.random.key(1), jaxmh.models.hierarchical(data), num_samples=500)
    >>> result.draws["alpha"].shape
    (4, 500, 75)
    """
    key = _checks.as_key(key)
    if not isinstance(model, Model):
        raise TypeError(f"model must be a jaxmh.models.Model, got {type(model).__name__}")
    if method is None:
        method = "blocked" if model.split is not None else "adaptive"
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if method == "blocked" and model.split is None:
        raise ValueError(f"method='blocked' needs a model with groups; the {model.name} model has none")
    num_chains = _checks.positive_int(num_chains, "num_chains")
    num_samples = _checks.positive_int(num_samples, "num_samples")
    num_warmup = _checks.nonnegative_int(num_warmup, "num_warmup")
    thin = _checks.positive_int(thin, "thin")
    start = DEFAULT_STEP_SIZE if step_size is None else step_size
    _checks.positive_scales(start, "step_size")
    k_init, k_warm, k_run = jax.random.split(key, 3)
    positions = model.init(k_init, num_chains)

    dtype = jnp.result_type(float)
    one = jax.tree.map(lambda v: v[0], positions)
    initial_sd = jax.tree.map(lambda v: jnp.full(jnp.shape(v), start, dtype), one)
    if method == "rwm":  # the tutorial's sampler: one fixed sd, warm-up steps simply dropped
        states = jax.vmap(lambda p: rwm_kernel.init(p, model.logdensity))(positions)
        _check_initial(positions, states.logdensity)
        fixed = jax.tree.map(lambda v: jnp.broadcast_to(v, (num_chains,) + v.shape), initial_sd)
        result = _run(k_run, states, fixed, step_fn=_RWMStep(model.logdensity), num_samples=num_samples,
                      num_warmup=num_warmup, thin=thin)
        return result._replace(step_size=fixed)
    if method == "adaptive":
        step_fn = _RWMStep(model.logdensity)
        states = jax.vmap(lambda p: rwm_kernel.init(p, model.logdensity))(positions)
        scale_fn, dims = _rwm_scale, int(_block_dims_rwm(one))
    else:
        split = model.split
        step_fn = _BlockedStep(split)
        states = jax.vmap(lambda p: blocked_kernel.init(p, split))(positions)
        group_dim = sum(int(np.prod(np.shape(one[k])[1:])) for k in split.group_names)
        global_dim = sum(int(np.prod(np.shape(v))) for k, v in one.items() if k not in split.group_names)
        num_groups = int(np.shape(one[split.group_names[0]])[0])
        scale_fn = _blocked_scale(tuple(split.group_names), num_groups)
        # blocks: each group, the globals, and the interweaving move (its own multiplier)
        interweaves = split.standardize is not None and global_dim > 0
        dims = tuple([group_dim] * num_groups + [max(global_dim, 1)] * (2 if interweaves else 1))
    _check_initial(positions, states.logdensity)
    states, tuned = _warmup_chains(k_warm, states, initial_sd, step_fn=step_fn, scale_fn=scale_fn,
                                   dims=dims, num_steps=num_warmup)
    result = _run(k_run, states, tuned, step_fn=step_fn, num_samples=num_samples, num_warmup=0, thin=thin)
    if method == "blocked":
        sizes, interweave = tuned
        tuned = dict(sizes, **({"interweave": interweave} if split.standardize is not None else {}))
    return result._replace(step_size=tuned)
