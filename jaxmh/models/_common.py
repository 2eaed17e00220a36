"""Helpers shared by the model builders."""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any, Callable

import jax
import jax.numpy as jnp

from jaxmh import _checks
from jaxmh.data import GroupedData
from jaxmh.models._regression import GroupStats, group_stats
from jaxmh.models.base import Model


_GROUP_STATS = jax.jit(group_stats, static_argnames="num_groups")
#: Whether :func:`stats_of` runs as one compiled call (set by :func:`jaxmh.study`, which builds a
#: model per dataset) or op by op (the default: what fitted models have always used, to the bit).
COMPILED_STATS: ContextVar[bool] = ContextVar("compiled_stats", default=False)


def stats_of(data: GroupedData, pooled: bool = False) -> GroupStats:
    """Sufficient statistics of ``data`` in the default float dtype."""
    if not isinstance(data, GroupedData):
        raise TypeError(
            f"data must be a jaxmh.data.GroupedData, got {type(data).__name__}; "
            "build one with GroupedData(x, y, group) or jaxmh.data.from_csv"
        )
    dtype = jnp.result_type(float)
    group = jnp.zeros(data.num_obs, jnp.int32) if pooled else jnp.asarray(data.group)
    num = 1 if pooled else data.num_groups
    stats = _GROUP_STATS if COMPILED_STATS.get() else group_stats
    return stats(jnp.asarray(data.x, dtype), jnp.asarray(data.y, dtype), group, num_groups=num)


def rebindable(model: Model, functions: Callable[[Any], tuple]) -> Model:
    """``model`` (built on ``model.data``) with a ``with_data`` that rebinds its closures.

    ``functions(data) -> (logdensity, init, split)`` builds the closures over a
    data pytree; ``model.with_data(other)`` returns the model with those of
    ``other`` (everything else, such as the names users see, unchanged).
    """
    def with_data(data: Any) -> Model:
        logdensity, init, split = functions(data)
        return rebound._replace(logdensity=logdensity, init=init, split=split, data=data)

    rebound = model._replace(with_data=with_data)
    return rebound


def check_init_args(key, num_chains):
    return _checks.as_key(key), _checks.positive_int(num_chains, "num_chains")


def draw_locations(key: jax.Array, shape: tuple) -> jax.Array:
    """Starting values for location parameters: standard normal."""
    return jax.random.normal(key, shape)



