"""Argument checks shared by the model builders: priors, number of groups, starting values."""

from __future__ import annotations

from typing import Any

from jaxmh import priors
from jaxmh.data import GroupedData


def check_priors(locations: dict[str, Any], scales: dict[str, Any]) -> None:
    """Check location priors and scale priors, naming the offending argument."""
    for name, prior in locations.items():
        priors.check(prior, name)
    for name, prior in scales.items():
        priors.check(prior, name, scale=True)


def check_groups(data: Any, model: str, minimum: int = 2) -> GroupedData:
    """``data`` must be ``GroupedData`` with at least ``minimum`` groups."""
    if not isinstance(data, GroupedData):
        raise TypeError(
            f"data must be a jaxmh.data.GroupedData, got {type(data).__name__}; "
            "build one with GroupedData(x, y, group) or jaxmh.data.from_csv"
        )
    if data.num_groups < minimum:
        raise ValueError(
            f"the {model} model needs at least {minimum} groups to estimate how groups vary, "
            f"but the data have {data.num_groups}; use the pooled model for a single group"
        )
    return data


def draw_start(prior: Any, key, shape: tuple, scale: bool = False):
    """Starting values inside ``prior``'s support.

    The usual draws (standard normal for locations, ``U(0.5, 5)`` for scales),
    unless the prior is a ``Uniform`` that does not contain their range: then
    uniform over the middle 80% of its interval.
    """
    import jax

    from jaxmh.models import _common

    low, high = (0.5, 5.0) if scale else (-3.0, 3.0)
    if isinstance(prior, priors.Uniform) and not (prior.low <= low and high <= prior.high):
        width = prior.high - prior.low
        return jax.random.uniform(key, shape, minval=prior.low + 0.1 * width, maxval=prior.high - 0.1 * width)
    return (_common.draw_scales if scale else _common.draw_locations)(key, shape)
