"""``jaxmh.fit``: a model in, a tuned and checked sampler run out."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxmh import _checks, _flat, _loop, adaptation, checkpoints, devices, prior_checks
from jaxmh import progress as progress_mod
from jaxmh.kernels import group_blocked as blocked_kernel, random_walk as rwm_kernel
from jaxmh.models.base import Model
from jaxmh.sampling import (Result, _check_initial, assemble, check_run_options, key_data_list,
                            chunk_steps)

__all__ = ["fit", "METHODS", "DEFAULT_STEP_SIZE"]

METHODS = ("rwm", "adaptive", "blocked")
#: Proposal sd of the untuned tutorial sampler (``method="rwm"``) and the start of tuning.
DEFAULT_STEP_SIZE = 0.1


def _block_dims_rwm(position: dict) -> np.ndarray:
    return np.asarray(sum(int(np.prod(np.shape(v))) for v in jax.tree_util.tree_leaves(position)))


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


@dataclass(frozen=True)
class _AdaptiveWarmup:
    """A warm-up step that tunes the proposal scales (:func:`jaxmh.adaptation.warmup_step`).

    ``params`` is ``None`` for a model with its data inside, or per-chain data
    that the step function takes as ``(data, step_size)``.
    """

    step_fn: Callable
    scale_fn: Callable
    dims: tuple
    num_steps: int

    def __call__(self, chain_key, state, aux, params, t):
        def step(key, state, step_size):
            return self.step_fn(key, state, step_size if params is None else (params, step_size))

        return adaptation.warmup_step(chain_key, state, aux, t, step_fn=step, scale_fn=self.scale_fn,
                                      dims=self.dims, num_steps=self.num_steps)


@dataclass(frozen=True)
class _Tuned:
    """End of warm-up: the frozen step sizes (paired with the per-chain data, if any)."""

    scale_fn: Callable

    def __call__(self, aux, params):
        tuned = jax.vmap(lambda a: adaptation.warmup_result(a, self.scale_fn))(aux)
        return tuned if params is None else (params, tuned)


class Plan(NamedTuple):
    """How to run one model: its kernel states and the pieces :func:`jaxmh._loop.run` takes."""

    states: Any
    step_fn: Callable
    warm_step: Callable
    warm_aux: Any
    warm_params: Any
    finish: Callable
    same_key: bool  # warm-up and sampling share one key and one step count (the tutorial's rwm)
    emit: Callable = _loop.identity  # state position -> the position users see (unravel, if flat)


def _units(model: Model, one: dict) -> dict | None:
    """Each coordinate's typical scale (:attr:`Model.start_scale`, 1 where it says nothing), or ``None``
    when the model gives none (all 1)."""
    scales = model.start_scale or {}
    if not isinstance(one, dict) or not any(float(v) != 1.0 for v in scales.values()):
        return None
    return {k: np.full(np.shape(v), float(scales.get(k, 1.0))) for k, v in one.items()}


def plan(model: Model, method: str, positions: dict, start: float, num_warmup: int, data: Any = None,
         step_fn: Callable | None = None, states: Any = None) -> Plan:
    """Kernel states and step functions for ``method`` on ``model`` (chains on axis 0).

    ``data``, ``step_fn`` and ``states`` let a caller pass per-chain data
    through the sampler (as :func:`jaxmh.study` does); by default the model's
    own closures are used.
    """
    num_chains = jax.tree_util.tree_leaves(positions)[0].shape[0]
    dtype = jnp.result_type(float)
    one = jax.tree.map(lambda v: v[0], positions)
    unit = _units(model, one)
    emit, logdensity = _loop.identity, model.logdensity
    fns = _flat.ravel_fns(one) if method in ("rwm", "adaptive") and step_fn is None and states is None \
        and data is None else None
    if fns is not None:  # a joint random walk runs on one vector per chain (see jaxmh._flat)
        ravel, emit = fns
        logdensity = _flat.FlatLogdensity(model.logdensity, emit)
        positions, one = jax.vmap(ravel)(positions), ravel(one)
        unit = None if unit is None else np.concatenate([np.ravel(u) for u in jax.tree_util.tree_leaves(unit)])
    if method == "rwm" or unit is None:  # the tutorial's sampler: one sd, whatever the model's scales
        initial_sd = jax.tree.map(lambda v: jnp.full(jnp.shape(v), start, dtype), one)
    else:
        initial_sd = jax.tree.map(lambda v, u: jnp.asarray(start * u, dtype), one, unit)
    batch = lambda tree: jax.tree.map(  # noqa: E731
        lambda v: jnp.broadcast_to(v, (num_chains,) + jnp.shape(v)), tree)
    if method in ("rwm", "adaptive"):
        step = step_fn or rwm_kernel.ScaledStep(logdensity)
        if states is None:
            states = jax.vmap(lambda p: rwm_kernel.init(p, logdensity))(positions)
        scale_fn, dims = _rwm_scale, int(_block_dims_rwm(one))
    else:
        split = model.split
        step = step_fn or _BlockedStep(split)
        if states is None:
            states = jax.vmap(lambda p: blocked_kernel.init(p, split))(positions)
        group_dim = sum(int(np.prod(np.shape(one[k])[1:])) for k in split.group_names)
        global_dim = sum(int(np.prod(np.shape(v))) for k, v in one.items() if k not in split.group_names)
        num_groups = int(np.shape(one[split.group_names[0]])[0])
        scale_fn = _blocked_scale(tuple(split.group_names), num_groups)
        # blocks: each group, the globals, and the interweaving move (its own multiplier)
        interweaves = split.standardize is not None and global_dim > 0
        dims = tuple([group_dim] * num_groups + [max(global_dim, 1)] * (2 if interweaves else 1))
    if method == "rwm":  # the tutorial's sampler: one fixed sd, warm-up steps simply dropped
        fixed = batch(initial_sd)
        params = fixed if data is None else (data, fixed)
        return Plan(states, step, _loop.PlainWarmup(step), None, params, _loop.keep_params, True, emit)
    aux = jax.vmap(lambda p: adaptation.warmup_init(p, initial_sd, dims, unit))(positions)
    return Plan(states, step, _AdaptiveWarmup(step, scale_fn, dims, num_warmup), aux, data,
                _Tuned(scale_fn), False, emit)


def run_plan(p: Plan, k_warm: jax.Array, k_run: jax.Array, chain_ids: jax.Array, *, num_warmup: int,
             num_samples: int, thin: int, store: str, chunk: int | None = None,
             checkpoint: str | None = None, fingerprint: dict | None = None,
             progress: Any = None) -> "_loop.Output":
    """Run a :class:`Plan` (chains padded to the device count) through :func:`jaxmh._loop.run`."""
    size = devices.padded_size(int(chain_ids.shape[0]))
    return _loop.run(
        warm_key=k_run if p.same_key else k_warm, run_key=k_run,
        chain_ids=devices.pad(chain_ids, size), states=devices.pad(p.states, size),
        warm_step=p.warm_step, warm_aux=devices.pad(p.warm_aux, size),
        warm_params=devices.pad(p.warm_params, size), finish=p.finish, step_fn=p.step_fn,
        num_warmup=num_warmup, num_samples=num_samples, thin=thin,
        t_offset=num_warmup if p.same_key else 0, store=store, chunk_steps=chunk,
        checkpoint=checkpoint, fingerprint=fingerprint or {},
        progress=progress or progress_mod.Progress(0, False), emit=p.emit,
    )


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
    store: str = "draws",
    checkpoint: str | os.PathLike | None = None,
    checkpoint_every: int | None = None,
    progress: bool | None = None,
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
        Starting proposal sd (``"adaptive"``, ``"blocked"``), in units of each
        parameter's typical scale (:attr:`Model.start_scale`, from its prior;
        1 for the tutorial's priors), or the fixed one (``"rwm"``, in the
        parameters' own units).
    store, checkpoint, checkpoint_every, progress
        As :func:`jaxmh.sample`: keep draws or only running moments; save to
        and resume from a checkpoint file; show a progress bar.

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
    checkpoint, checkpoint_every = check_run_options(store, checkpoint, checkpoint_every, progress)
    k_init, k_warm, k_run = jax.random.split(key, 3)
    positions = model.init(k_init, num_chains)
    p = plan(model, method, positions, start, num_warmup)
    _check_initial(positions, p.states.logdensity)
    total = num_warmup + num_samples * thin
    show = progress_mod.wanted(progress)
    chunk = chunk_steps(total, checkpoint, checkpoint_every, show)
    fingerprint = {
        "kind": "fit", "model": model.name, "method": method, "key": key_data_list(key),
        "num_chains": num_chains, "num_samples": num_samples, "num_warmup": num_warmup, "thin": thin,
        "store": store, "chunk": chunk, "step_size": float(start), "start": checkpoints.digest(p.states),
    }
    out = run_plan(p, k_warm, k_run, jnp.arange(num_chains, dtype=jnp.uint32), num_warmup=num_warmup,
                   num_samples=num_samples, thin=thin, store=store, chunk=chunk, checkpoint=checkpoint,
                   fingerprint=fingerprint,
                   progress=progress_mod.Progress(total, show, desc=f"{model.name} ({method})"))
    if p.emit is not _loop.identity:  # flat vectors back to the model's parameters
        unravel = jax.vmap(p.emit)
        out = out._replace(states=out.states._replace(position=unravel(out.states.position)),
                           params=unravel(out.params))
    tuned = devices.unpad(out.params, num_chains)
    if method == "blocked":
        sizes, interweave = tuned
        tuned = dict(sizes, **({"interweave": interweave} if model.split.standardize is not None else {}))
    result = assemble(out, num_chains, num_samples, store, step_size=tuned)
    return result._replace(prior_bounds=prior_checks.model_bounds(model))
