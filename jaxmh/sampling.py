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

from dataclasses import dataclass
from functools import partial
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxmh import _checks
from jaxmh._threefry import fold_in
from jaxmh.kernels.random_walk import SamplingAlgorithm

__all__ = ["Result", "sample"]

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
        The proposal sds the sampling phase used, per chain (leading chain
        axis), when warm-up tuned them (:func:`jaxmh.fit`); otherwise ``None``.
    """

    draws: PyTree
    acceptance_rate: jax.Array
    final_state: Any
    step_size: Any = None

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
            raise ValueError("this result holds no draws")
        posterior = {}
        for name, (path, leaf) in zip(_checks.leaf_names(self.draws), leaves):
            posterior[name] = np.asarray(leaf)
        num_chains, num_draws = next(iter(posterior.values())).shape[:2]
        rate = np.broadcast_to(np.asarray(self.acceptance_rate)[:, None], (num_chains, num_draws))
        return arviz.from_dict(posterior=posterior, sample_stats={"acceptance_rate": np.array(rate)})


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


def _check_initial(position: PyTree, logdensity: jax.Array) -> None:
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


@partial(jax.jit, static_argnames=("step_fn", "num_samples", "num_warmup", "thin"))
def _run(key, states, params, *, step_fn, num_samples, num_warmup, thin):
    """Scan ``step_fn(key, state, params)`` over steps, vmapped over chains (and ``params``)."""
    num_chains = jax.tree_util.tree_leaves(states)[0].shape[0]
    chain_keys = jax.vmap(lambda c: fold_in(key, c))(jnp.arange(num_chains, dtype=jnp.uint32))

    def one_chain(chain_key, state, params):
        def transition(state, t):
            return step_fn(fold_in(chain_key, t), state, params)

        def warmup_step(state, t):
            return transition(state, t)[0], None

        state, _ = jax.lax.scan(warmup_step, state, jnp.arange(num_warmup, dtype=jnp.uint32))

        def draw(carry, i):
            state, accepted = carry
            first = num_warmup + i * thin

            def thin_step(j, carry):
                state, accepted = carry
                state, info = transition(state, first + j)
                return state, accepted + jnp.sum(info.is_accepted, dtype=jnp.int32)

            if thin == 1:
                state, accepted = thin_step(0, (state, accepted))
            else:
                state, accepted = jax.lax.fori_loop(0, thin, thin_step, (state, accepted))
            return (state, accepted), state.position

        (state, accepted), draws = jax.lax.scan(
            draw, (state, jnp.zeros((), jnp.int32)), jnp.arange(num_samples, dtype=jnp.uint32)
        )
        blocks = jax.eval_shape(lambda s: step_fn(chain_key, s, params)[1].is_accepted, state).size
        return draws, accepted / (num_samples * thin * blocks), state

    draws, rate, state = jax.vmap(one_chain)(chain_keys, states, params)
    return Result(draws, rate, state)


@dataclass(frozen=True)
class _KernelStep:
    """``step(key, state, params)`` for a closed kernel that takes no per-chain parameters."""

    step: Callable

    def __call__(self, key, state, params):
        return self.step(key, state)


def sample(
    key: jax.Array,
    kernel: SamplingAlgorithm,
    initial_positions: PyTree,
    num_samples: int,
    *,
    num_warmup: int = 0,
    thin: int = 1,
) -> Result:
    """Run independent chains of ``kernel`` and collect their draws.

    Parameters
    ----------
    key
        A JAX PRNG key (``jax.random.key(seed)``).
    kernel
        A sampling algorithm with ``init(position)`` and ``step(key, state)``,
        e.g. :func:`jaxmh.rwm`.
    initial_positions
        Pytree whose leaves have a leading chain axis ``(num_chains, ...)``;
        the number of chains is read from it.  A ``final_state`` from an
        earlier :class:`Result` continues those chains.
    num_samples
        Draws kept per chain (after warm-up and thinning).
    num_warmup
        Steps run and discarded first.
    thin
        Keep every ``thin``-th step: ``num_warmup + num_samples * thin`` steps run.

    Returns
    -------
    Result
        ``draws`` (leaves ``(num_chains, num_samples, ...)``), ``acceptance_rate``
        (``(num_chains,)``, post-warm-up) and ``final_state``.

    Examples
    --------
    >>> import jax, jax.numpy as jnp, jaxmh
    >>> kernel = jaxmh.rwm(lambda p: -0.5 * jnp.sum(p["x"] ** 2), step_size=1.0)
    >>> result = jaxmh.sample(jax.random.key(0), kernel, {"x": jnp.zeros((4, 2))}, 1000)
    >>> result.draws["x"].shape
    (4, 1000, 2)
    """
    key = _checks.as_key(key)
    if not (hasattr(kernel, "init") and hasattr(kernel, "step")):
        raise TypeError(
            f"kernel must have init(position) and step(key, state) (e.g. jaxmh.rwm(...)), "
            f"got {type(kernel).__name__}"
        )
    num_samples = _checks.positive_int(num_samples, "num_samples")
    num_warmup = _checks.nonnegative_int(num_warmup, "num_warmup")
    thin = _checks.positive_int(thin, "thin")

    if _is_state(initial_positions):
        states = initial_positions
        _num_chains(states.position)
        jax.eval_shape(jax.vmap(kernel.init), states.position)  # the kernel's own checks (structure)
    else:
        positions = _as_float_positions(initial_positions)
        _num_chains(positions)
        states = _init(positions, init_fn=kernel.init)
        _check_initial(positions, states.logdensity)
    return _run(
        key, states, None, step_fn=_KernelStep(kernel.step), num_samples=num_samples,
        num_warmup=num_warmup, thin=thin,
    )


def _is_state(value: Any) -> bool:
    return isinstance(value, tuple) and hasattr(value, "_fields") and "position" in value._fields \
        and "logdensity" in value._fields
