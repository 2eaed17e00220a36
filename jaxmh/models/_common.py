"""Helpers shared by the model builders."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxmh import _checks
from jaxmh.data import GroupedData
from jaxmh.models._regression import GroupStats, group_stats


def stats_of(data: GroupedData | GroupStats, pooled: bool = False) -> GroupStats:
    """Sufficient statistics of ``data`` in the default float dtype.

    ``data`` may also be a :class:`GroupStats` already (possibly traced): that
    is how :func:`jaxmh.study` builds models inside ``vmap`` over datasets.
    """
    if isinstance(data, GroupStats):
        return data
    if not isinstance(data, GroupedData):
        raise TypeError(
            f"data must be a jaxmh.data.GroupedData, got {type(data).__name__}; "
            "build one with GroupedData(x, y, group) or jaxmh.data.from_csv"
        )
    dtype = jnp.result_type(float)
    group = jnp.zeros(data.num_obs, jnp.int32) if pooled else jnp.asarray(data.group)
    num = 1 if pooled else data.num_groups
    return group_stats(
        jnp.asarray(data.x, dtype), jnp.asarray(data.y, dtype), group, num
    )


def check_init_args(key, num_chains):
    return _checks.as_key(key), _checks.positive_int(num_chains, "num_chains")


def draw_locations(key: jax.Array, shape: tuple) -> jax.Array:
    """Starting values for location parameters: standard normal."""
    return jax.random.normal(key, shape)



def num_groups_of(data: GroupedData | GroupStats) -> int:
    """Number of groups of data or of its sufficient statistics."""
    return int(data.n.shape[0]) if isinstance(data, GroupStats) else data.num_groups
