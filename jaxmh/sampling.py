"""The sampling driver: many chains, one compiled scan.

Chain ``c`` uses the key ``fold_in(key, c)`` and step ``t`` of that chain the
key ``fold_in(fold_in(key, c), t)`` (``fold_in`` here is Threefry of the
counter under the key, see :mod:`jaxmh._threefry`), so a chain's draws depend only on the
user's key and its index -- never on how many chains run beside it.  The steps
are one ``jax.lax.scan`` (warm-up, then sampling with an inner loop for
thinning); the chains are ``jax.vmap``-ed; the whole run is one jitted
computation per (kernel, shapes, settings).
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from functools import partial
from typing import Any, Callable, Mapping, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jaxmh import _checks, _loop, checkpoints, devices
from jaxmh import progress as progress_mod
from jaxmh.kernels.base import SamplingAlgorithm
from jaxmh.moments import Moments, moments_of

__all__ = ["Result", "sample", "check_initial"]

PyTree = Any


class Result(NamedTuple):
    """What :func:`sample` returns.

    draws
        Pytree of the position's structure; every leaf shaped
        ``(num_chains, num_samples, *leaf_shape)``, warm-up dropped.
    acceptance_rate
        Share of accepted proposals per chain after warm-up, shape ``(num_chains,)``
        (for a kernel with several blocks, the share over all block updates).
    final_state
        The kernels' states after the last step (leading chain axis); pass it
        back to :func:`sample` as ``initial_positions`` to continue the chains.
    step_size
        The kernel's parameters the sampling phase used (its proposal sds),
        per chain (leading chain axis): tuned in warm-up by :func:`jaxmh.fit`,
        or as given.  Rebuild the kernel with them to continue the chains
        (``jaxmh.kernels.blocked(model.split, result.step_size)``).  ``None``
        for a hand-made kernel without the open form.
    moments
        With ``store="moments"`` (or ``"both"``): per-chain running moments of
        the kept draws, a :class:`jaxmh.moments.Moments` (``count``, ``mean``,
        ``variance``); otherwise ``None``.  With ``store="moments"``,
        ``draws`` is ``None``.
    prior_bounds
        The finite bounds the model's priors set (:class:`jaxmh.prior_checks.PriorBound`),
        filled in by :func:`jaxmh.fit`; :func:`jaxmh.summary` warns when the
        posterior reaches one.
    method
        The sampler :func:`jaxmh.fit` ran (a name of :data:`jaxmh.methods.METHODS`
        or the kernel's), or ``None``.
    coords
        ``{parameter: labels of its leading axis}`` from the model
        (:attr:`jaxmh.models.Model.coords`, filled in by :func:`jaxmh.fit`):
        summary rows and ArviZ coordinates by group label.
    layout
        A formula model's :class:`jaxmh.models.formula.FormulaLayout` (filled
        in by :func:`jaxmh.fit`): its family, for ``summary(scale="response")``.
    model
        The :class:`jaxmh.models.Model` fitted (filled in by :func:`jaxmh.fit`),
        for :func:`jaxmh.loo` and predictions.
    """

    draws: PyTree
    acceptance_rate: jax.Array
    final_state: Any
    step_size: Any = None
    moments: Moments | None = None
    prior_bounds: tuple = ()
    method: str | None = None
    coords: Mapping[str, Sequence[str]] | None = None
    layout: Any = None
    model: Any = None

    def to_arviz(self):
        """The draws as an ``arviz.InferenceData`` (needs the optional ``arviz`` package).

        The ``posterior`` group holds every parameter with dims ``(chain, draw, ...)``;
        ``sample_stats`` holds ``acceptance_rate``, each chain's post-warm-up
        acceptance rate repeated over its draws.
        """
        try:
            import arviz
        except ImportError:
            raise ImportError(
                "Result.to_arviz() needs ArviZ, which jaxmh does not install by default: "
                "pip install arviz  (or pip install 'jaxmh[arviz]')"
            ) from None
        leaves = jax.tree_util.tree_flatten_with_path(self.draws)[0]
        if not leaves:
            raise ValueError("this result holds no draws (it was run with store='moments'); "
                             "run with store='draws' to export it")
        posterior, dims, coords = {}, {}, {}
        for name, (path, leaf) in zip(_checks.leaf_names(self.draws), leaves):
            posterior[name] = np.asarray(leaf)
            labels = (self.coords or {}).get(name)
            if labels is not None and posterior[name].ndim == 3 and len(labels) == posterior[name].shape[2]:
                dim = name.split("|")[-1] if "|" in name else f"{name}_dim_0"
                dims[name] = [dim]
                coords[dim] = list(labels)
        num_chains, num_draws = next(iter(posterior.values())).shape[:2]
        rate = np.broadcast_to(np.asarray(self.acceptance_rate)[:, None], (num_chains, num_draws))
        return arviz.from_dict(posterior=posterior, sample_stats={"acceptance_rate": np.array(rate)},
                               dims=dims or None, coords=coords or None)


def _num_chains(positions: PyTree) -> int:
    leaves = jax.tree_util.tree_leaves(positions)
    if not leaves:
        raise ValueError("initial_positions is empty; expected a pytree of arrays with a leading chain axis")
    names = _checks.leaf_names(positions)
    sizes = {}
    for name, leaf in zip(names, leaves):
        shape = np.shape(leaf)
        if len(shape) == 0:
            raise ValueError(
                f"initial_positions: leaf {name} is a scalar; every leaf needs a leading chain "
                "axis (shape (num_chains, ...))"
            )
        sizes[name] = shape[0]
    if len(set(sizes.values())) != 1:
        raise ValueError(f"initial_positions: leaves disagree on the number of chains: {sizes}")
    num = next(iter(sizes.values()))
    if num < 1:
        raise ValueError("initial_positions has 0 chains")
    return num


def _as_float_positions(positions: PyTree) -> PyTree:
    def convert(name, leaf):
        kind = np.asarray(leaf).dtype if not isinstance(leaf, jax.Array) else leaf.dtype
        if not (jnp.issubdtype(kind, jnp.number) or kind == bool):
            raise TypeError(f"initial_positions: leaf {name} has dtype {kind}; expected floats")
        arr = jnp.asarray(leaf)
        if jnp.issubdtype(arr.dtype, jnp.floating):
            return arr
        if jnp.issubdtype(arr.dtype, jnp.integer) or arr.dtype == bool:
            return arr.astype(jnp.result_type(float))
        raise TypeError(f"initial_positions: leaf {name} has dtype {arr.dtype}; expected floats")

    leaves, treedef = jax.tree_util.tree_flatten(positions)
    names = _checks.leaf_names(positions)
    return jax.tree_util.tree_unflatten(treedef, [convert(n, x) for n, x in zip(names, leaves)])


def _describe_chain(position: PyTree, c: int) -> str:
    parts = []
    for name, leaf in zip(_checks.leaf_names(position), jax.tree_util.tree_leaves(position)):
        value = np.asarray(leaf[c])
        text = np.array2string(value, precision=4, threshold=6, edgeitems=2)
        parts.append(f"{name}={text}")
    return ", ".join(parts)


def check_initial(position: PyTree, logdensity: jax.Array) -> None:
    names = _checks.leaf_names(position)
    for name, leaf in zip(names, jax.tree_util.tree_leaves(position)):
        arr = np.asarray(leaf)
        bad = ~np.isfinite(arr.reshape(arr.shape[0], -1)).all(axis=1)
        if bad.any():
            raise ValueError(
                f"initial_positions: leaf {name} is not finite at chain(s) {np.flatnonzero(bad).tolist()}"
            )
    ld = np.asarray(logdensity)
    if ld.shape != (np.shape(jax.tree_util.tree_leaves(position)[0])[0],):
        raise ValueError(
            f"logdensity_fn must return a scalar per position, got shape {ld.shape[1:]}"
        )
    bad = np.flatnonzero(~np.isfinite(ld))
    if bad.size:
        c = int(bad[0])
        raise ValueError(
            f"initial_positions: the log-density is {ld[c]} (not finite) at chain(s) "
            f"{bad.tolist()}; chain {c} has {_describe_chain(position, c)}. "
            "Start every chain inside the support of the target."
        )


@partial(jax.jit, static_argnames=("init_fn",))
def _init(positions, *, init_fn):
    return jax.vmap(init_fn)(positions)


@dataclass(frozen=True)
class Closed:
    """``step(key, state, params)`` for a hand-made algorithm's ``step(key, state)`` (no parameters)."""

    step: Callable

    def __call__(self, key, state, params):
        return self.step(key, state)


def check_run_options(store: str, checkpoint: Any, checkpoint_every: Any, progress: Any):
    """Validate the options ``sample`` and ``fit`` share; returns them normalised."""
    if store not in _loop.STORES:
        raise ValueError(f"store must be one of {_loop.STORES}, got {store!r}")
    if checkpoint is not None:
        if not isinstance(checkpoint, (str, os.PathLike)):
            raise TypeError(f"checkpoint must be a file path, got {type(checkpoint).__name__}")
        checkpoint = os.fspath(checkpoint)
        folder = os.path.dirname(os.path.abspath(checkpoint))
        if not os.path.isdir(folder):
            raise ValueError(f"checkpoint: the folder {folder} does not exist")
    if checkpoint_every is not None:
        checkpoint_every = _checks.positive_int(checkpoint_every, "checkpoint_every")
    if progress is not None and not isinstance(progress, bool):
        raise TypeError(f"progress must be True, False or None (auto), got {progress!r}")
    return checkpoint, checkpoint_every


def chunk_steps(total: int, checkpoint: str | None, checkpoint_every: int | None,
                show_progress: bool) -> int | None:
    """Steps per compiled chunk: the checkpoint interval, ~50 progress updates, or one chunk."""
    if checkpoint is not None:
        return checkpoint_every if checkpoint_every is not None else max(1, -(-total // 10))
    if checkpoint_every is not None:
        return checkpoint_every
    if show_progress:
        return max(1, -(-total // 50))
    return None


def assemble(out: "_loop.Output", num_chains: int, num_samples: int, store: str,
             step_size: Any = None) -> Result:
    """A :class:`Result` from a run's output, padding chains dropped."""
    blocks = out.blocks
    draws = None
    if out.draws is not None:
        draws = jax.tree.map(lambda v: jnp.asarray(v[:num_chains]), out.draws)
    moments = None
    if out.welford is not None:
        moments = jax.vmap(moments_of)(devices.unpad(out.welford, num_chains))
    # on the host: one division is not worth compiling a program for
    rate = jnp.asarray(np.asarray(out.accepted)[:num_chains] / (num_samples * out.thin * blocks),
                       jnp.result_type(float))
    return Result(draws, rate, devices.unpad(out.states, num_chains), step_size, moments)


def sample(
    key: jax.Array,
    kernel: SamplingAlgorithm,
    initial_positions: PyTree,
    *args: Any,
    num_samples: int | None = None,
    num_warmup: int = 0,
    thin: int = 1,
    store: str = "draws",
    checkpoint: str | os.PathLike | None = None,
    checkpoint_every: int | None = None,
    progress: bool | None = None,
) -> Result:
    """Run independent chains of ``kernel`` and collect their draws.

    Parameters
    ----------
    key
        A JAX PRNG key (``jax.random.key(seed)``).
    kernel
        A sampling algorithm, e.g. ``jaxmh.rwm(logdensity, step_size)`` or
        ``jaxmh.kernels.blocked(model.split, step_size)``: the driver runs its
        open form (:class:`jaxmh.kernels.base.SamplingAlgorithm`), or, for a
        hand-made one, just its ``init(position)`` and ``step(key, state)``.
    initial_positions
        Pytree whose leaves have a leading chain axis ``(num_chains, ...)``;
        the number of chains is read from it.  A ``final_state`` from an
        earlier :class:`Result` continues those chains.
    num_samples
        Draws kept per chain (after warm-up and thinning); default 1000.
        (Passing it positionally still works but is deprecated.)
    num_warmup
        Steps run and discarded first.
    thin
        Keep every ``thin``-th step: ``num_warmup + num_samples * thin`` steps run.
    store
        ``"draws"`` (default): keep every draw in ``result.draws``;
        ``"moments"``: keep only per-chain running means and variances in
        ``result.moments`` (memory independent of ``num_samples``;
        ``result.draws`` is ``None``); ``"both"``.
    checkpoint
        Path of a ``.npz`` file: the run is saved there every
        ``checkpoint_every`` steps, and calling ``sample`` again with the same
        arguments resumes from it, giving bit-for-bit the uninterrupted result.
    checkpoint_every
        Steps per compiled chunk (default: a tenth of the run with a
        checkpoint, else the whole run in one chunk).
    progress
        Show a progress bar between chunks; default: only in a terminal, and
        not when the ``CI`` environment variable is set.

    Returns
    -------
    Result
        ``draws`` (leaves ``(num_chains, num_samples, ...)``), ``acceptance_rate``
        (``(num_chains,)``, post-warm-up), ``final_state``, ``moments`` and
        ``step_size`` (the kernel's parameters per chain, when it has them).

    Examples
    --------
    >>> import jax, jax.numpy as jnp, jaxmh
    >>> kernel = jaxmh.rwm(lambda p: -0.5 * jnp.sum(p["x"] ** 2), step_size=1.0)
    >>> result = jaxmh.sample(jax.random.key(0), kernel, {"x": jnp.zeros((4, 2))}, num_samples=1000)
    >>> result.draws["x"].shape
    (4, 1000, 2)
    """
    if args:
        if len(args) > 1 or num_samples is not None:
            raise TypeError("sample takes key, kernel and initial_positions positionally; "
                            "pass num_samples=... and the other settings by keyword")
        warnings.warn("jaxmh.sample: pass num_samples by keyword (sample(key, kernel, positions, "
                      "num_samples=N)), as fit, compare and study take it", DeprecationWarning, stacklevel=2)
        num_samples = args[0]
    num_samples = 1000 if num_samples is None else num_samples
    key = _checks.as_key(key)
    if not (hasattr(kernel, "init") and hasattr(kernel, "step")):
        raise TypeError(
            f"kernel must have init(position) and step(key, state) (e.g. jaxmh.rwm(...)), "
            f"got {type(kernel).__name__}"
        )
    num_samples = _checks.positive_int(num_samples, "num_samples")
    num_warmup = _checks.nonnegative_int(num_warmup, "num_warmup")
    thin = _checks.positive_int(thin, "thin")
    checkpoint, checkpoint_every = check_run_options(store, checkpoint, checkpoint_every, progress)

    open_form = getattr(kernel, "kernel", None) is not None
    continuing = _is_state(initial_positions)
    positions = initial_positions.position if continuing else _as_float_positions(initial_positions)
    num_chains = _num_chains(positions)
    if open_form:
        p = _open_program(kernel, positions, num_chains)
        if not continuing:
            check_initial(positions, p.states.logdensity)
    elif continuing:
        jax.eval_shape(jax.vmap(kernel.init), positions)  # the kernel's own checks (structure)
        p = _loop.Program(initial_positions, Closed(kernel.step), _loop.PlainWarmup(Closed(kernel.step)), None,
                          None, _loop.keep_params, same_key=True)
    else:
        states = _init(positions, init_fn=kernel.init)
        check_initial(positions, states.logdensity)
        p = _loop.Program(states, Closed(kernel.step), _loop.PlainWarmup(Closed(kernel.step)), None, None,
                          _loop.keep_params, same_key=True)
    total = num_warmup + num_samples * thin
    show = progress_mod.wanted(progress)
    chunk = chunk_steps(total, checkpoint, checkpoint_every, show)
    fingerprint = {
        "kind": "sample", "key": key_data_list(key), "num_chains": num_chains,
        "num_samples": num_samples, "num_warmup": num_warmup, "thin": thin, "store": store,
        "chunk": chunk, "start": checkpoints.digest(p.states),
        "kernel": kernel.kernel.name if open_form else type(kernel.step).__name__,
        "params": checkpoints.digest(p.warm_params),
    }
    config = _loop.RunConfig(num_warmup, num_samples, thin, store, chunk, checkpoint, fingerprint,
                             progress_mod.Progress(total, show))
    out = _loop.run(p, config, warm_key=key, run_key=key, chain_ids=jnp.arange(num_chains, dtype=jnp.uint32))
    params = None
    if p.emit is not _loop.identity:  # the kernel's layout back to the position users see
        unravel = jax.vmap(p.emit)
        out = out._replace(states=out.states._replace(position=unravel(out.states.position)))
        params = unravel(devices.unpad(out.params, num_chains))
    elif open_form:
        params = devices.unpad(out.params, num_chains)
    return assemble(out, num_chains, num_samples, store, step_size=params)


def _open_program(kernel: SamplingAlgorithm, positions: PyTree, num_chains: int) -> "_loop.Program":
    """The run of a kernel's open form: its parameters per chain, in its own layout if it has one."""
    spec, target = kernel.kernel, kernel.target
    one = jax.tree.map(lambda v: v[0], positions)
    spec.check(target, kernel.params, one, num_chains)
    emit, run_target, ravel = _loop.identity, target, None
    rep = spec.representation(target, one) if spec.representation is not None else None
    if rep is not None:
        run_target, emit, ravel = rep.target, rep.unravel, rep.ravel
    states, params = start(spec, target, positions, kernel.params, ravel)
    step = Bound(spec, run_target)
    return _loop.Program(states, step, _loop.PlainWarmup(step), None, params, _loop.keep_params, emit,
                         same_key=True)


def start(kernel: Any, target: Any, positions: PyTree, params: PyTree, ravel: Callable | None = None, *,
          compiled: bool = True) -> tuple:
    """``(states, params)``: the kernel's states at ``positions`` and its per-chain parameters, in the
    layout ``ravel`` gives (if any).

    The states are made in the model's layout and their ``position`` ravelled after (the kernel's
    representation runs the same chain on the ravelled position).  ``compiled``: as one compiled call,
    cached per kernel and target (what :func:`sample` does: an op-by-op start costs more than a short
    run), else op by op (what :func:`jaxmh.fit` has always done, so its draws stay the same).
    """
    fn = _start
    if compiled:
        try:
            hash((kernel, target, ravel))
            fn = _start_jit
        except TypeError:  # an unhashable target: op by op
            pass
    return fn(positions, params, kernel=kernel, target=target, ravel=ravel)


def _start(positions, params, *, kernel, target, ravel):
    if params is not None:
        num_chains = jax.tree_util.tree_leaves(positions)[0].shape[0]
        params = kernel.per_chain(params, jax.tree.map(lambda v: v[0], positions), num_chains)
    states = jax.vmap(kernel.init, in_axes=(0, None))(positions, target)
    if ravel is not None:
        states = states._replace(position=jax.vmap(ravel)(states.position))
        params = None if params is None else jax.vmap(ravel)(params)
    return states, params


_start_jit = jax.jit(_start, static_argnames=("kernel", "target", "ravel"))


@dataclass(frozen=True)
class Bound:
    """``step(key, state, params)`` of a kernel on a fixed target."""

    kernel: Any
    target: Any

    def __call__(self, key, state, params):
        return self.kernel.step(key, state, self.target, params)


def key_data_list(key: jax.Array) -> list:
    """A key's raw data as a JSON-able list (for checkpoint fingerprints)."""
    return np.asarray(jax.random.key_data(key)).ravel().tolist()


def _is_state(value: Any) -> bool:
    return isinstance(value, tuple) and hasattr(value, "_fields") and "position" in value._fields \
        and "logdensity" in value._fields
