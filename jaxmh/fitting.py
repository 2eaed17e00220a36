"""``jaxmh.fit``: a model in, a tuned and checked sampler run out."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from jaxmh import _checks, _loop, _stepsize, checkpoints, devices, methods, prior_checks
from jaxmh import progress as progress_mod
from jaxmh.models.base import Model
from jaxmh.sampling import (Bound, Result, assemble, check_initial, check_run_options, chunk_steps, key_data_list,
                            start)

__all__ = ["fit", "METHODS", "DEFAULT_STEP_SIZE", "program"]

#: The method names (:data:`jaxmh.methods.METHODS`).
METHODS = tuple(methods.METHODS)
#: Where tuning starts, in units of each parameter's typical scale (:attr:`Model.start_scale`).
DEFAULT_STEP_SIZE = 0.1


@dataclass(frozen=True)
class Rebound:
    """``step(key, state, (data, params))``: the target rebuilt from per-chain data (:attr:`Model.with_data`)."""

    kernel: Any
    with_data: Callable

    def __call__(self, key, state, params):
        data, p = params
        return self.kernel.step(key, state, self.kernel.target_of(self.with_data(data)), p)


@dataclass(frozen=True)
class TunedWarmup:
    """Warm-up step by step: the adapter's current parameters for the kernel, then its tuning."""

    step_fn: Callable
    adapter: Any

    def step_params(self, aux, params):
        """The kernel's parameters for the next warm-up step (one chain): the adapter's current ones."""
        p = self.adapter.params(aux)
        return p if params is None else (params, p)

    def tune(self, aux, t, position, info):
        """The adapter after warm-up step ``t`` (one chain)."""
        return self.adapter.update(aux, t, position, info)


@dataclass(frozen=True)
class TunedFinish:
    """End of warm-up: the adapter's final parameters (paired with the per-chain data, if any)."""

    adapter: Any

    def __call__(self, aux, params):
        tuned = jax.jit(jax.vmap(self.adapter.final))(aux)   # one small program, not one per operation
        return tuned if params is None else (params, tuned)


def _units(model: Model, one: dict) -> dict | None:
    """Each coordinate's typical scale (:attr:`Model.start_scale`, 1 where it says nothing), or ``None``
    when the model gives none (all 1)."""
    scales = model.start_scale or {}
    if not isinstance(one, dict) or not any(float(v) != 1.0 for v in scales.values()):
        return None
    return {k: np.full(np.shape(v), float(scales.get(k, 1.0))) for k, v in one.items()}


def _initial_sd(step_size: Any, one: Any, unit: Any) -> Any:
    """``step_size`` (a float or a pytree like the position) times each coordinate's unit."""
    dtype = jnp.result_type(float)
    leaves, treedef = jax.tree_util.tree_flatten(one)
    units = jax.tree_util.tree_leaves(unit) if unit is not None else [1.0] * len(leaves)
    return jax.tree_util.tree_unflatten(treedef, [
        jnp.asarray(np.broadcast_to(np.asarray(s, np.float64), np.shape(v)) * u, dtype) if unit is not None
        else jnp.full(jnp.shape(v), s, dtype)
        for s, v, u in zip(_stepsize.leaf_scales(step_size, one), leaves, units)])


def program(method: methods.Method, model: Model, positions: Any, *, step_size: Any, num_warmup: int,
            params: Any = None, data: Any = None) -> _loop.Program:
    """What :func:`jaxmh._loop.run` executes for ``method`` on ``model`` (chains on axis 0).

    ``step_size``: the fixed proposal sds of an untuned method, or where tuning
    starts (in units of :attr:`Model.start_scale`).  ``params``: the kernel's
    parameters, per chain, to run untuned with (a fit continued from its
    result).  ``data``: per-chain model data (:attr:`Model.data`, leading chain
    axis); the kernel's target is then rebuilt from it (:attr:`Model.with_data`).
    """
    kernel = method.kernel
    num_chains = jax.tree_util.tree_leaves(positions)[0].shape[0]
    one = jax.tree.map(lambda v: v[0], positions)
    target = kernel.target_of(model)
    tuned = method.tuned and params is None
    if params is None and not tuned:
        kernel.check(target, step_size, one)
        params = step_size
    elif params is not None:
        kernel.check(target, params, one, num_chains)
    emit, run_target, run_one, unit, ravel = _loop.identity, target, one, _units(model, one), None
    if tuned:
        _stepsize.check(step_size, one)  # where tuning starts: a float, or like the position
    initial_sd = _initial_sd(step_size, one, unit) if tuned else None
    rep = kernel.representation(target, one) if kernel.representation is not None and data is None else None
    if rep is not None:  # the kernel's own faster layout (the random walk: one flat vector per chain)
        run_target, run_one, emit, ravel = rep.target, rep.ravel(one), rep.unravel, rep.ravel
        initial_sd = None if initial_sd is None else rep.ravel(initial_sd)
        unit = None if unit is None else np.concatenate([np.ravel(u) for u in jax.tree_util.tree_leaves(unit)])
    if data is None:
        step = Bound(kernel, run_target)
        # op by op, as fit always has (the tutorial's models keep their draws to the bit); models made
        # since (with a layout, e.g. formula models) start in one compiled call: seconds less to wait
        states, params = start(kernel, target, positions, params, ravel,
                               compiled=getattr(model, "layout", None) is not None)
    else:
        step = Rebound(kernel, model.with_data)
        params = None if params is None else kernel.per_chain(params, one, num_chains)
        states = jax.vmap(lambda p, d: kernel.init(p, kernel.target_of(model.with_data(d))))(positions, data)
    if tuned:
        positions = jax.vmap(ravel)(positions) if ravel is not None else positions
    if not tuned:
        warm_params = params if data is None else (data, params)
        return _loop.Program(states, step, _loop.PlainWarmup(step), None, warm_params, _loop.keep_params, emit,
                             same_key=not method.tuned)
    adapter = kernel.adaptation(run_target, run_one, num_warmup)
    aux = jax.vmap(adapter.init, in_axes=(0, None, None))(positions, initial_sd, unit)
    return _loop.Program(states, step, TunedWarmup(step, adapter), aux, data, TunedFinish(adapter), emit)


def _continued(init: Any) -> tuple[Any, Any]:
    """``(positions, kernel parameters or None)`` from ``fit``'s ``init`` argument."""
    if isinstance(init, Result):
        return init.final_state.position, init.step_size
    return init, None


def fit(
    key: jax.Array,
    model: Model,
    *,
    method: str | methods.Method | Any = None,
    num_chains: int = 4,
    num_samples: int = 1000,
    num_warmup: int | None = None,
    thin: int = 1,
    step_size: Any = None,
    init: Any = None,
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
        walk; or a :class:`jaxmh.methods.Method` / :class:`jaxmh.kernels.Kernel`
        of your own (:data:`jaxmh.methods.METHODS` lists the names).
    num_chains, num_samples, num_warmup, thin
        Chains; draws kept per chain; warm-up steps (tuning, then discarded;
        default 1000, or 0 when continuing a result); keep every ``thin``-th step.
    step_size
        A float or a pytree like the position.  Tuned methods: where tuning
        starts, in units of each parameter's typical scale
        (:attr:`Model.start_scale`, from its prior; default 0.1).  ``"rwm"``:
        the fixed proposal sd in the parameters' own units (default
        :attr:`Model.default_step_size`, the tutorial's).
    init
        Starting positions (leading chain axis; default: ``model.init``), or an
        earlier :class:`Result` of this model and method to continue: its
        chains go on from ``final_state`` with its tuned ``step_size`` (no
        warm-up unless ``num_warmup`` asks to tune again).
    store, checkpoint, checkpoint_every, progress
        As :func:`jaxmh.sample`: keep draws or only running moments; save to
        and resume from a checkpoint file; show a progress bar.

    Returns
    -------
    Result
        As :func:`jaxmh.sample`, with ``step_size`` holding the kernel's
        parameters per chain (tuned, or fixed), so that e.g.
        ``jaxmh.kernels.blocked(model.split, result.step_size)`` rebuilds the
        kernel; ``method`` names the sampler.

    Examples
    --------
    >>> import jax, jaxmh
    >>> data, truth = jaxmh.data.simulate(jax.random.key(0))
    >>> model = jaxmh.models.hierarchical(data)
    >>> result = jaxmh.fit(jax.random.key(1), model, num_samples=500)
    >>> result.draws["alpha"].shape
    (4, 500, 75)
    >>> more = jaxmh.fit(jax.random.key(2), model, init=result, num_samples=500)  # 500 more draws per chain
    """
    key = _checks.as_key(key)
    if not isinstance(model, Model):
        raise TypeError(f"model must be a jaxmh.models.Model, got {type(model).__name__}")
    chosen = methods.resolve(method, model)
    num_samples = _checks.positive_int(num_samples, "num_samples")
    continuing = isinstance(init, Result)
    num_warmup = (0 if continuing else 1000) if num_warmup is None else num_warmup
    num_warmup = _checks.nonnegative_int(num_warmup, "num_warmup")
    thin = _checks.positive_int(thin, "thin")
    if step_size is None:
        step_size = DEFAULT_STEP_SIZE if chosen.tuned else model.default_step_size
    _checks.positive_scales(step_size, "step_size")
    checkpoint, checkpoint_every = check_run_options(store, checkpoint, checkpoint_every, progress)
    k_init, k_warm, k_run = jax.random.split(key, 3)
    if init is None:
        num_chains = _checks.positive_int(num_chains, "num_chains")
        positions, params = model.init(k_init, num_chains), None
    else:
        if continuing and init.final_state is None:
            raise ValueError("init: this result has no final state to continue from")
        positions, params = _continued(init)
        positions = jax.tree.map(jnp.asarray, positions)
        num_chains = int(jax.tree_util.tree_leaves(positions)[0].shape[0])
        if continuing and params is None:
            raise ValueError("init: this result has no step_size (it was not made by jaxmh.fit); "
                             "continue it with jaxmh.sample and its kernel")
        if num_warmup > 0:
            params = None  # tune again, from where the chains are
    p = program(chosen, model, positions, step_size=step_size, num_warmup=num_warmup, params=params)
    check_initial(positions, p.states.logdensity)
    total = num_warmup + num_samples * thin
    show = progress_mod.wanted(progress)
    chunk = chunk_steps(total, checkpoint, checkpoint_every, show)
    fingerprint = {
        "kind": "fit", "model": model.name, "method": chosen.name, "key": key_data_list(key),
        "num_chains": num_chains, "num_samples": num_samples, "num_warmup": num_warmup, "thin": thin,
        "store": store, "chunk": chunk, "step_size": checkpoints.digest(step_size),
        "start": checkpoints.digest(p.states), "params": checkpoints.digest(params),
    }
    config = _loop.RunConfig(num_warmup, num_samples, thin, store, chunk, checkpoint, fingerprint,
                             progress_mod.Progress(total, show, desc=f"{model.name} ({chosen.name})"))
    out = _loop.run(p, config, warm_key=k_warm, run_key=k_run,
                    chain_ids=jnp.arange(num_chains, dtype=jnp.uint32))
    if p.emit is not _loop.identity:  # the kernel's layout back to the model's parameters
        unravel = jax.vmap(p.emit)
        out = out._replace(states=out.states._replace(position=unravel(out.states.position)),
                           params=unravel(out.params))
    result = assemble(out, num_chains, num_samples, store, step_size=devices.unpad(out.params, num_chains))
    order = getattr(getattr(model, "layout", None), "names", None)   # the model's display order, if it has one
    if order is not None and isinstance(result.draws, dict) and set(order) == set(result.draws):
        result = result._replace(draws={k: result.draws[k] for k in order})
    return result._replace(prior_bounds=prior_checks.model_bounds(model), method=chosen.name,
                           coords=getattr(model, "coords", None), layout=getattr(model, "layout", None),
                           model=model)
