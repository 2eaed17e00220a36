"""Running chains (or datasets) over several devices.

When JAX sees more than one device, the chain axis of a run is sharded over
all of them with a one-dimensional ``jax.sharding.Mesh`` and
``NamedSharding(mesh, PartitionSpec("chain"))``, and each compiled chunk runs
under ``jax.shard_map``: every device runs the per-chain program on its share
of the chains, with no communication.  The number of chains is padded up to a
multiple of the device count with copies of chain 0 (their draws are dropped).

Chain ``c``'s keys depend only on the user's key and ``c``, so a fixed kernel
(``sample``, ``fit(method="rwm")``) gives bit-for-bit the draws one device
gives.  With warm-up adaptation (``fit``'s default methods) the chains agree
with the one-device run to the last bit at first but may then part: XLA
compiles the per-device (SPMD) program with different fusions, hence
different fused multiply-adds, and one bit of difference in an adapted
proposal scale leads to a different -- equally valid -- chain.

Several hosts: call ``jax.distributed.initialize()`` on every host before
using jaxmh; ``jax.devices()`` then lists every host's devices and the same
code shards the chains over all of them.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

__all__ = ["device_count", "padded_size", "pad", "unpad", "chain_mesh", "shard"]


def device_count() -> int:
    """Devices the chain axis is spread over."""
    return jax.device_count()


def padded_size(num: int) -> int:
    """``num`` rounded up to a multiple of the device count."""
    d = device_count()
    return -(-num // d) * d


def pad(tree: Any, size: int) -> Any:
    """Pad every leaf's leading axis to ``size`` with copies of entry 0."""
    def one(v):
        if v is None or v.shape[0] == size:
            return v
        extra = jnp.broadcast_to(v[:1], (size - v.shape[0],) + v.shape[1:])
        return jnp.concatenate([v, extra])

    return jax.tree.map(one, tree)


def unpad(tree: Any, num: int) -> Any:
    """Keep the first ``num`` entries of every leaf's leading axis."""
    return jax.tree.map(lambda v: v if v.shape[0] == num else v[:num], tree)


def chain_mesh(num: int) -> Mesh | None:
    """A one-axis mesh over all devices, or ``None`` with one device."""
    devs = jax.devices()
    if len(devs) == 1 or num % len(devs):
        return None
    return Mesh(np.asarray(devs), ("chain",))


def shard(tree: Any, mesh: Mesh | None) -> Any:
    """Place every leaf with its leading axis split over ``mesh`` (no-op without one)."""
    if mesh is None:
        return tree
    sharding = NamedSharding(mesh, PartitionSpec("chain"))
    return jax.tree.map(lambda v: jax.device_put(v, sharding), tree)
