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


def require_grouped(data: Any) -> GroupedData:
    """``data`` itself if it is :class:`GroupedData`, else a ``TypeError`` that says how to make one."""
    if isinstance(data, GroupedData):
        return data
    hint = ("build one with GroupedData(x, y, group) or jaxmh.data.from_csv")
    if isinstance(data, tuple) and data and isinstance(data[0], GroupedData):
        hint = "jaxmh.data.simulate returns (data, truth): pass its first element"
    raise TypeError(f"data must be a jaxmh.data.GroupedData, got {type(data).__name__}; {hint}")


def stats_of(data: GroupedData, pooled: bool = False) -> GroupStats:
    """Sufficient statistics of ``data`` in the default float dtype."""
    require_grouped(data)
    dtype = jnp.result_type(float)
    group = jnp.zeros(data.num_obs, jnp.int32) if pooled else jnp.asarray(data.group)
    num = 1 if pooled else data.num_groups
    stats = _GROUP_STATS if COMPILED_STATS.get() else group_stats
    return stats(jnp.asarray(data.x, dtype), jnp.asarray(data.y, dtype), group, num_groups=num)


def rows_of(data: GroupedData) -> dict:
    """The rows themselves (``x``, ``y`` and the group index), for the pointwise log-likelihood."""
    dtype = jnp.result_type(float)
    return {"x": jnp.asarray(data.x, dtype), "y": jnp.asarray(data.y, dtype),
            "group": jnp.asarray(data.group, jnp.int32)}


class RegressionFunctions:
    """``functions(data) -> {logdensity, init, split, pointwise_loglik}`` for a tutorial regression model
    whose ``functions`` gives the first three over ``{"stats", "priors", "rows"}``; equal when the
    wrapped ``functions`` are (so :class:`WithData` keys stay stable)."""

    __slots__ = ("functions",)

    def __init__(self, functions: Callable[[Any], tuple]):
        self.functions = functions

    def __call__(self, data: Any) -> dict:
        from jaxmh.models import _regression
        logdensity, init, split = self.functions(data)
        rows = data["rows"]
        return {"logdensity": logdensity, "init": init, "split": split,
                "pointwise_loglik": lambda p: _regression.pointwise(p, rows)}

    def __eq__(self, other):
        return isinstance(other, RegressionFunctions) and other.functions is self.functions

    def __hash__(self):
        return hash(self.functions)


def rebindable(model: Model, functions: Callable[[Any], tuple]) -> Model:
    """``model`` (built on ``model.data``) with a ``with_data`` that rebinds its closures.

    ``functions(data) -> (logdensity, init, split)`` (or a dict of the
    :class:`Model` fields it rebuilds) builds the closures over a data pytree; ``model.with_data(other)`` returns the model with those of
    ``other`` (everything else, such as the names users see, unchanged).
    """
    return model._replace(with_data=WithData(functions, model))


class WithData:
    """``with_data(data) -> Model``: ``template`` with the closures ``functions(data)``.

    Two of them are equal when they rebuild the same closures for a model of the
    same name and layout, so compiled programs that take the data as an argument
    (:func:`jaxmh.study`) are reused from one call to the next instead of being
    traced and compiled again for every freshly built model.
    """

    __slots__ = ("functions", "template", "_key")

    def __init__(self, functions: Callable[[Any], tuple], template: Model):
        self.functions = functions
        self.template = template
        self._key = (functions, template.name, tuple(template.group_params), int(template.num_groups),
                     tuple(template.scale_params), jax.tree_util.tree_structure(template.data))

    def __call__(self, data: Any) -> Model:
        made = self.functions(data)
        if not isinstance(made, dict):
            made = dict(zip(("logdensity", "init", "split"), made))
        return self.template._replace(**made, data=data, with_data=self)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, WithData) and self._key == other._key

    def __hash__(self) -> int:
        return hash(self._key)


def check_init_args(key, num_chains):
    return _checks.as_key(key), _checks.positive_int(num_chains, "num_chains")


def draw_locations(key: jax.Array, shape: tuple) -> jax.Array:
    """Starting values for location parameters: standard normal."""
    return jax.random.normal(key, shape)



