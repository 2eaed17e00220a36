"""The sampler run as compiled chunks: warm-up, then sampling.

A run is two phases, each a sequence of chunks; a chunk is one jitted
``lax.scan`` over steps, ``vmap``-ed over chains, and both phases run the same
compiled scan (:func:`_chunk_impl`: a traced flag says which phase; a last,
partial chunk skips its surplus steps by a ``lax.cond`` on the step index).  Step ``t`` of chain ``c``
always uses the key ``fold_in(fold_in(key, c), t)``, so how a run is cut into
chunks -- and whether it was interrupted and resumed from a checkpoint -- does
not change a single bit of its output.  Between chunks the host can report
progress and write a checkpoint.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache, partial
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import PartitionSpec

from jaxmh import checkpoints, devices
from jaxmh._threefry import fold_in
from jaxmh.moments import Welford, welford_init, welford_update
from jaxmh.progress import Progress

STORES = ("draws", "moments", "both")
PyTree = Any


class Carry(NamedTuple):
    """What the sampling phase carries from step to step, per chain."""

    states: Any
    accepted: jax.Array        # accepted block updates so far, int32
    welford: Welford | None    # running moments (store "moments" or "both")


@dataclass(frozen=True)
class PlainWarmup:
    """Warm-up that just runs the kernel (``aux`` unused): the tutorial's burn-in."""

    step_fn: Callable

    def step_params(self, aux, params):
        """The parameters warm-up step runs the kernel with (one chain)."""
        return params

    def tune(self, aux, t, position, info):
        """The tuning state after warm-up step ``t`` (one chain): nothing to tune."""
        return aux


def identity(position):
    """``emit`` for a kernel whose state holds the position as users see it."""
    return position


def keep_params(aux, params):
    """``finish`` for a warm-up that tunes nothing: the sampling phase keeps ``params``."""
    return params


def _tree_where(flag, a, b):
    return jax.tree.map(lambda x, y: jnp.where(flag, x, y), a, b)


def _chunk_impl(key, chain_ids, carry, aux, warm_params, params, i0, end, t_offset, warming, *, step_fn,
                warm_step, length, thin, store, masked, emit):
    """One compiled scan for both phases: ``warming`` (traced) picks warm-up or sampling.

    The kernel step appears once in the program: in warm-up it runs with the
    tuner's current parameters (``warm_step.step_params``) and the tuner learns
    from it (``warm_step.tune``), one step a slot; in sampling it runs with the
    tuned ``params``, ``thin`` steps a draw, counting acceptances and moments.
    Warm-up step ``t`` uses ``fold_in(fold_in(warm_key, c), t)``; sampling step
    ``t_offset + i * thin + j`` the run key's (the warm key itself for an
    untuned run, whose warm-up is just its first steps).  Written once, the
    step is compiled once (it used to be two programs, a warm-up scan and a
    sampling scan, each compiling the whole step: seconds for a formula model).
    """
    def one_chain(cid, carry, aux, warm_params, params):
        chain_key = fold_in(key, cid)

        def one_slot(c, i):
            def go(c):
                steps = 1 if thin == 1 else jnp.where(warming, 1, thin).astype(jnp.uint32)
                first = t_offset + i * steps

                def one_step(j, cc):
                    carry, aux = cc
                    p = _tree_where(warming, warm_step.step_params(aux, warm_params), params)
                    t = first + j
                    state, info = step_fn(fold_in(chain_key, t), carry.states, p)
                    _note_blocks(step_fn, (carry.states, p), info)       # at trace time: for num_blocks
                    aux = jax.lax.cond(warming, lambda a: warm_step.tune(a, t, state.position, info),
                                       lambda a: a, aux)
                    counted = jnp.where(warming, 0, jnp.sum(info.is_accepted, dtype=jnp.int32))
                    return carry._replace(states=state, accepted=carry.accepted + counted), aux

                carry, aux = (one_step(jnp.uint32(0), c) if thin == 1
                              else jax.lax.fori_loop(jnp.uint32(0), steps, one_step, c))
                if carry.welford is not None:
                    carry = carry._replace(welford=jax.lax.cond(
                        warming, lambda w: w, lambda w: welford_update(w, emit(carry.states.position)),
                        carry.welford))
                return carry, aux

            c = jax.lax.cond(i < end, go, lambda c: c, c) if masked else go(c)
            return c, (emit(c[0].states.position) if store != "moments" else None)

        draws = i0 + jnp.arange(length, dtype=jnp.uint32)
        return jax.lax.scan(one_slot, (carry, aux), draws)

    return jax.vmap(one_chain)(chain_ids, carry, aux, warm_params, params)


#: XLA options of the sampling programs.  XLA's CPU backend hands some reductions to YNNPACK
#: (``ynn_fusion``), which costs more than XLA's own loops at a sampler's sizes (a few thousand rows
#: per chain): the Bernoulli benchmark's 3,000-row level and scale updates ran 1.5 to 2.5 times slower
#: with it (docs/benchmarks.md).  The option is the CPU backend's; other backends ignore it.
COMPILER_OPTIONS = {"xla_cpu_experimental_ynn_fusion_type": ""}


@lru_cache(maxsize=64)
def _compiled(impl: Callable, mesh, statics: tuple) -> Callable:
    """``impl`` with its static arguments bound, jitted; with a mesh, run per device by ``shard_map``.

    Each device runs the per-chain program on its share of the chains; chains
    never talk to each other, so no collective communication is needed.
    """
    fn = partial(impl, **dict(statics))
    if mesh is not None:
        chains, whole = PartitionSpec("chain"), PartitionSpec()
        # key; per chain: chain ids, carry, aux, warm-up params, params; then the four scalars
        specs = (whole,) + (chains,) * 5 + (whole,) * 4
        fn = jax.shard_map(fn, mesh=mesh, in_specs=specs, out_specs=chains, check_vma=False)
    return jax.jit(fn, compiler_options=COMPILER_OPTIONS)


def _warmup_chunk(*args, mesh, **statics):
    """A warm-up chunk of :func:`_chunk_impl` (``warming`` true), compiled once and run."""
    return _compiled(_chunk_impl, mesh, tuple(sorted(statics.items())))(*args)


def _sample_chunk(*args, mesh, **statics):
    """A sampling chunk of the same compiled :func:`_chunk_impl` (``warming`` false)."""
    return _compiled(_chunk_impl, mesh, tuple(sorted(statics.items())))(*args)


def _check_warmup(warm_step: Any, warm_aux: Any, warm_params: Any, params_shape: Any) -> None:
    """The warm-up step's parameters must be the sampling phase's, in structure and types: one program
    runs both."""
    if jax.tree_util.tree_leaves((warm_aux, warm_params)):
        shape = jax.eval_shape(jax.vmap(warm_step.step_params), warm_aux, warm_params)
    else:   # nothing per chain (a kernel without parameters)
        shape = warm_step.step_params(warm_aux, warm_params)
    same = jax.tree_util.tree_structure(shape) == jax.tree_util.tree_structure(params_shape) and all(
        a.shape == b.shape and a.dtype == b.dtype
        for a, b in zip(jax.tree_util.tree_leaves(shape), jax.tree_util.tree_leaves(params_shape)))
    if not same:
        raise TypeError("the warm-up's kernel parameters differ in structure or type from the sampling "
                        f"phase's ({shape} against {params_shape})")


#: accept/reject decisions per step, noted when a chunk traces its step (see :func:`num_blocks`)
_BLOCKS: dict = {}


def _signature(step_fn: Callable, one: Any) -> tuple:
    """What a step's number of decisions depends on: the step and one chain's state and parameters'
    structure, shapes and types."""
    leaves, treedef = jax.tree_util.tree_flatten(one)
    return step_fn, treedef, tuple((tuple(jnp.shape(v)), str(jnp.result_type(v))) for v in leaves)


def _note_blocks(step_fn: Callable, one: Any, info: Any) -> None:
    if len(_BLOCKS) >= 256:
        _BLOCKS.clear()
    _BLOCKS[_signature(step_fn, one)] = int(np.prod(jnp.shape(info.is_accepted)))


def num_blocks(step_fn: Callable, state: Any, params: Any) -> int:
    """Accept/reject decisions per step (``info.is_accepted.size``) for one chain: as noted when the
    chunk's program traced the step (tracing it again takes seconds for a formula model), else from
    tracing the step's shapes."""
    one = jax.tree.map(lambda v: v[0], (state, params))
    noted = _BLOCKS.get(_signature(step_fn, one))
    if noted is not None:
        return noted
    info = jax.eval_shape(lambda s, p: step_fn(jax.random.key(0), s, p)[1], *one)
    return int(np.prod(info.is_accepted.shape))


class Output(NamedTuple):
    states: Any
    accepted: jax.Array
    welford: Welford | None
    draws: PyTree | None
    params: Any
    blocks: int   # accept/reject decisions per step
    thin: int


class Program(NamedTuple):
    """What a run executes, per chain (every leaf with a leading chain axis).

    states
        The kernels' starting states.
    step_fn
        ``step_fn(key, state, params) -> (state, info)`` of the sampling phase.
    warm_step
        The warm-up's tuner, one chain at a time (:class:`PlainWarmup`,
        :class:`jaxmh.fitting.TunedWarmup`): ``step_params(aux, warm_params)``,
        the parameters of the next warm-up step (the sampling phase's structure
        and types), and ``tune(aux, t, position, info) -> aux`` after step ``t``.
    warm_aux, warm_params
        The warm-up's per-chain tuning state and fixed inputs (either may be ``None``).
    finish
        ``finish(aux, warm_params) -> params``: the sampling phase's per-chain parameters.
    emit
        One chain's state position -> the position stored and averaged (the
        identity, or ``unravel`` for a kernel run on flat vectors).
    same_key
        Warm-up and sampling share the sampling key and one step count (the
        tutorial's untuned sampler: its warm-up is just the first steps).
    """

    states: Any
    step_fn: Callable
    warm_step: Callable
    warm_aux: Any
    warm_params: Any
    finish: Callable
    emit: Callable = identity
    same_key: bool = False


class RunConfig(NamedTuple):
    """How long a run is and what it keeps (validated by the public functions)."""

    num_warmup: int
    num_samples: int
    thin: int = 1
    store: str = "draws"
    chunk_steps: int | None = None
    checkpoint: str | None = None
    fingerprint: dict | None = None
    progress: Progress | None = None


def run(program: Program, config: RunConfig, *, warm_key: jax.Array, run_key: jax.Array,
        chain_ids: jax.Array) -> Output:
    """Run warm-up then sampling in chunks; see the module docstring.

    The chains (``chain_ids`` and the program's per-chain leaves) are padded
    here to a multiple of the device count; the output keeps the padding
    (:func:`jaxmh.devices.unpad` drops it).
    """
    size = devices.padded_size(int(chain_ids.shape[0]))
    chain_ids, states, warm_aux, warm_params = devices.pad(
        (chain_ids, program.states, program.warm_aux, program.warm_params), size)
    warm_step, finish, step_fn, emit = program.warm_step, program.finish, program.step_fn, program.emit
    num_warmup, num_samples, thin, store = config.num_warmup, config.num_samples, config.thin, config.store
    chunk_steps, checkpoint = config.chunk_steps, config.checkpoint
    fingerprint = config.fingerprint or {}
    progress = config.progress or Progress(0, False)
    if program.same_key:
        warm_key, t_offset = run_key, num_warmup
    else:
        t_offset = 0
    total_steps = num_warmup + num_samples * thin
    # one compiled scan runs both phases in chunks of draw_len slots (a warm-up slot is one step)
    draw_len = num_samples if chunk_steps is None or chunk_steps >= total_steps else \
        min(num_samples, max(1, chunk_steps // thin))
    masked = num_samples % draw_len != 0 or num_warmup % draw_len != 0
    mesh = devices.chain_mesh(int(chain_ids.shape[0]))
    put = partial(devices.shard, mesh=mesh)
    chain_ids, states, warm_aux, warm_params = put((chain_ids, states, warm_aux, warm_params))

    params_shape = jax.eval_shape(finish, warm_aux, warm_params)
    welford = jax.vmap(welford_init)(jax.vmap(emit)(states.position)) if store != "draws" else None
    # every leaf placed as the chunks return it (sharded over the chains): the sampling phase's first
    # call then reuses the warm-up's compiled program instead of compiling it again
    carry = put(Carry(states, jnp.zeros(chain_ids.shape, jnp.int32), welford))
    host_draws = None
    warm_done, draws_done = 0, 0

    saved = checkpoints.load(checkpoint, fingerprint) if checkpoint else None
    if saved is not None:
        warm_done, draws_done = saved.warmup_done, saved.draws_done
        if warm_done < num_warmup:
            states, warm_aux = put(saved.restore("warmup", (states, warm_aux)))
        else:
            carry, params = put(saved.restore("sampling", (carry, params_shape)))
        if saved.draws is not None:
            host_draws = jax.tree_util.tree_unflatten(
                jax.tree_util.tree_structure(jax.eval_shape(jax.vmap(emit), carry.states.position)),
                saved.draws)
    progress.update(warm_done + draws_done * thin)

    def save():
        if checkpoint:
            if warm_done < num_warmup:
                trees = {"warmup": (states, warm_aux)}
            else:
                trees = {"sampling": (carry, params)}
            checkpoints.save(checkpoint, fingerprint, warm_done, draws_done, trees,
                             _slice_draws(host_draws, draws_done))

    _check_warmup(warm_step, warm_aux, warm_params, params_shape)
    statics = dict(step_fn=step_fn, warm_step=warm_step, length=draw_len, thin=thin, store=store, masked=masked,
                   emit=emit)
    idle = put(jax.tree.map(lambda v: jnp.zeros(v.shape, v.dtype), params_shape))  # the sampling phase's, unused
    while warm_done < num_warmup:
        (carry, warm_aux), _ = _warmup_chunk(
            warm_key, chain_ids, carry._replace(states=states), warm_aux, warm_params, idle, jnp.uint32(warm_done),
            jnp.uint32(num_warmup), jnp.uint32(0), jnp.bool_(True), mesh=mesh, **statics)
        states = carry.states
        warm_done = min(num_warmup, warm_done + draw_len)
        progress.update(warm_done)
        if warm_done < num_warmup:
            save()
    if saved is None or saved.warmup_done < num_warmup:
        params = put(finish(warm_aux, warm_params))
        carry = carry._replace(states=states)
        save()

    while draws_done < num_samples:
        (carry, warm_aux), chunk = _sample_chunk(
            run_key, chain_ids, carry, warm_aux, warm_params, params, jnp.uint32(draws_done),
            jnp.uint32(num_samples), jnp.uint32(t_offset), jnp.bool_(False), mesh=mesh, **statics)
        if store != "moments":
            if draw_len == num_samples:
                host_draws = chunk  # one chunk: keep the device arrays as they are
            else:
                host_draws = _append(host_draws, chunk, draws_done, num_samples)
        draws_done = min(num_samples, draws_done + draw_len)
        progress.update(num_warmup + draws_done * thin)
        save()
    progress.close()
    blocks = num_blocks(step_fn, carry.states, params)
    return Output(carry.states, carry.accepted, carry.welford, host_draws, params, blocks, thin)


def _append(host: PyTree | None, chunk: PyTree, start: int, num_samples: int) -> PyTree:
    """Copy a chunk of draws (``(chain, length, ...)``) into host buffers."""
    if host is None:
        host = jax.tree.map(
            lambda v: np.empty((v.shape[0], num_samples) + v.shape[2:], v.dtype), chunk)
    else:
        host = jax.tree.map(lambda h: h if isinstance(h, np.ndarray) and h.shape[1] == num_samples
                            else _grow(h, num_samples), host)

    def put(h, v):
        n = min(v.shape[1], num_samples - start)
        h[:, start:start + n] = np.asarray(v[:, :n])
        return h

    return jax.tree.map(put, host, chunk)


def _grow(h, num_samples):
    h = np.asarray(h)
    out = np.empty((h.shape[0], num_samples) + h.shape[2:], h.dtype)
    out[:, : h.shape[1]] = h
    return out


def _slice_draws(host: PyTree | None, n: int) -> PyTree | None:
    if host is None:
        return None
    return jax.tree.map(lambda h: np.asarray(h)[:, :n], host)
