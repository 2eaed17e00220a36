"""Checkpoint files: a run's state saved between chunks, so a killed run can resume.

A checkpoint is one ``.npz`` file (NumPy arrays only, no pickle) holding

* ``__meta__``: JSON with the run's fingerprint (its arguments: key, shapes,
  settings, a hash of the starting state) and how far it got;
* ``s0, s1, ...``: the leaves of the carried state (kernel states, warm-up
  tuning state or sampling parameters, acceptance counts, running moments);
* ``d0, d1, ...``: the draws kept so far.

It is written to ``PATH.tmp`` and renamed over ``PATH`` (an atomic replace),
so a run killed at any moment leaves either the previous checkpoint or the new
one, never a torn file.  Calling the same ``sample``/``fit`` again with the same
arguments and the same ``checkpoint`` resumes from it; the keys of every step
are fixed by the step's index, so the resumed run is bit-for-bit the run that
was never interrupted.
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["save", "load", "Saved", "digest"]

VERSION = 1


def digest(tree: Any) -> str:
    """SHA-256 of a pytree's leaves (values, shapes and dtypes) and structure."""
    h = hashlib.sha256(str(jax.tree_util.tree_structure(tree)).encode())
    for leaf in jax.tree_util.tree_leaves(tree):
        if jnp.issubdtype(jnp.asarray(leaf).dtype, jax.dtypes.prng_key):
            leaf = jax.random.key_data(leaf)
        arr = np.ascontiguousarray(np.asarray(leaf))
        h.update(f"{arr.dtype}{arr.shape}".encode())
        h.update(arr.tobytes())
    return h.hexdigest()


class Saved(NamedTuple):
    """A loaded checkpoint."""

    path: str
    warmup_done: int
    draws_done: int
    phase: str
    leaves: list
    draws: Any

    def restore(self, phase: str, template: Any) -> Any:
        """The saved state, with the structure of ``template`` (arrays or shape structs)."""
        leaves, treedef = jax.tree_util.tree_flatten(template)
        if phase != self.phase or len(leaves) != len(self.leaves):
            raise ValueError(f"checkpoint {self.path} does not match this run's state; "
                             "delete it or use another checkpoint path")
        out = []
        for want, got in zip(leaves, self.leaves):
            if tuple(want.shape) != got.shape or np.dtype(want.dtype) != got.dtype:
                raise ValueError(
                    f"checkpoint {self.path} does not match this run's state (an array of shape "
                    f"{got.shape} {got.dtype} where {tuple(want.shape)} {np.dtype(want.dtype)} was "
                    "expected); delete it or use another checkpoint path")
            out.append(jnp.asarray(got))
        return jax.tree_util.tree_unflatten(treedef, out)


def save(path: str, fingerprint: dict, warmup_done: int, draws_done: int, trees: dict,
         draws: Any) -> None:
    """Write a checkpoint atomically (see the module docstring)."""
    (phase, tree), = trees.items()
    arrays = {f"s{i}": np.asarray(v) for i, v in enumerate(jax.tree_util.tree_leaves(tree))}
    draw_leaves = jax.tree_util.tree_leaves(draws)
    arrays.update({f"d{i}": np.asarray(v) for i, v in enumerate(draw_leaves)})
    meta = {
        "version": VERSION, "fingerprint": fingerprint, "warmup_done": int(warmup_done),
        "draws_done": int(draws_done), "phase": phase, "num_state": len(arrays) - len(draw_leaves),
        "num_draws": len(draw_leaves),
    }
    arrays["__meta__"] = np.array(json.dumps(meta, sort_keys=True))
    tmp = f"{path}.tmp"
    with open(tmp, "wb") as f:
        np.savez(f, **arrays)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def load(path: str, fingerprint: dict) -> Saved | None:
    """The checkpoint at ``path`` if it exists; ``ValueError`` if it belongs to another run."""
    if not os.path.exists(path):
        return None
    try:
        with np.load(path, allow_pickle=False) as f:
            meta = json.loads(str(f["__meta__"]))
            leaves = [f[f"s{i}"] for i in range(meta["num_state"])]
            draws = [f[f"d{i}"] for i in range(meta["num_draws"])]
    except Exception as err:  # noqa: BLE001 - any unreadable file gets the same clear message
        raise ValueError(f"checkpoint {path} exists but cannot be read as a jaxmh checkpoint "
                         f"({type(err).__name__}: {err}); delete it or use another path") from None
    if meta.get("version") != VERSION or meta.get("fingerprint") != json.loads(
            json.dumps(fingerprint, sort_keys=True)):
        raise ValueError(
            f"checkpoint {path} was written by a different run (other key, model, starting "
            "values or settings); delete it or pass another checkpoint path")
    return Saved(path, meta["warmup_done"], meta["draws_done"], meta["phase"], leaves, draws or None)
