"""Checks of the priors against the data (before sampling) and against the posterior (after).

* **Prior-data conflict**: before sampling, quick estimates from the data
  (:func:`jaxmh.default_priors.rough_estimates`) are compared with the priors
  of the intercept, the slope and ``sigma``; a value the prior gives
  probability below :data:`CONFLICT_TAIL` of being as extreme means the data
  sit far outside what the prior allows (the tutorial's ``normal(0, 3)``
  intercept on reaction times around 300 ms, say).
* **Prior bounds**: after sampling, a parameter whose posterior reaches a bound
  that its prior sets (``uniform(0, 10)`` on a scale, ``uniform(-100, 100)`` on
  a coefficient) is cut off by the prior.  The bound is *reached* when the share of
  draws within a tenth of a posterior sd of it exceeds :data:`EDGE_SHARE`: a
  normal posterior whose untruncated mean lies about 1.6 posterior sds inside
  the bound (so that the prior removes about 5% of it) gives 1%; one that
  piles up against the bound gives 5-10%; one whose bulk stays two sds away
  gives at most 0.6%.  A scale's own bound at 0 is not a prior's doing and
  is not checked.
"""

from __future__ import annotations

import math
from typing import Any, Mapping, NamedTuple, Sequence

import numpy as np

from jaxmh.priors import text

__all__ = ["PriorBound", "PriorWarning", "bounds", "model_bounds", "reached_bounds", "describe_reached", "conflicts", "CONFLICT_TAIL",
           "EDGE_SHARE"]

#: A data estimate this improbable under its prior (or less) is a prior-data conflict.
CONFLICT_TAIL = 1e-4
#: Share of draws within 0.1 posterior sd of a prior's bound above which the bound is reached.
EDGE_SHARE = 0.01


class PriorWarning(UserWarning):
    """The priors disagree with the data or cut off the posterior."""


class PriorBound(NamedTuple):
    """Finite bounds that a parameter's prior sets (``-inf``/``inf`` where it sets none)."""

    name: str
    prior: str
    low: float
    high: float


def bounds(priors: Mapping[str, Any], scale_params: Sequence[str] = ()) -> tuple:
    """The :class:`PriorBound` of every parameter whose prior has a finite bound.

    A scale's lower bound 0 is its own, not the prior's, and is left out.
    """
    out = []
    for name, prior in priors.items():
        low, high = getattr(prior, "support", (-math.inf, math.inf))
        if name in scale_params and low <= 0:
            low = -math.inf
        if math.isfinite(low) or math.isfinite(high):
            out.append(PriorBound(name, text(prior), float(low), float(high)))
    return tuple(out)


def model_bounds(model: Any) -> tuple:
    """:func:`bounds` of a :class:`jaxmh.models.Model`'s priors."""
    return bounds(getattr(model, "priors", None) or {}, getattr(model, "scale_params", ()))


def _rows(name: str, shape: tuple) -> list:
    if shape == ():
        return [name]
    return [f"{name}[{','.join(map(str, idx))}]" for idx in np.ndindex(*shape)]


def reached_bounds(draws: Mapping[str, Any], prior_bounds: Sequence[PriorBound]) -> dict:
    """Rows (``sigma``, ``alpha[3]``) whose draws reach a bound of their prior.

    Returns
    -------
    dict
        ``{row: (PriorBound, bound value, share of draws at the edge)}``.
    """
    out = {}
    for b in prior_bounds:
        if b.name not in draws or draws[b.name] is None:
            continue
        x = np.asarray(draws[b.name], np.float64)
        flat = x.reshape(x.shape[0] * x.shape[1], -1)
        sd = flat.std(axis=0)
        for j, row in enumerate(_rows(b.name, x.shape[2:])):
            if not sd[j] > 0:
                continue
            h = 0.1 * sd[j]
            for value, near in ((b.high, flat[:, j] >= b.high - h), (b.low, flat[:, j] <= b.low + h)):
                share = float(near.mean()) if math.isfinite(value) else 0.0
                if share > EDGE_SHARE:
                    out[row] = (b, value, share)
    return out


def describe_reached(reached: Mapping[str, tuple], limit: int = 6) -> str:
    """One sentence naming the rows whose posterior reaches a prior bound, and what to do."""
    items = list(reached.items())
    parts = [f"{row} reaches {value:g}, the {'upper' if value == b.high else 'lower'} bound of its prior "
             f"{b.prior} ({share:.0%} of draws within 0.1 sd of it)"
             for row, (b, value, share) in items[:limit]]
    more = f"; and {len(items) - limit} more" if len(items) > limit else ""
    return ("the prior cuts off the posterior: " + "; ".join(parts) + more
            + ". Use a wider prior (or the data-scaled defaults): running longer will not change this.")


def conflicts(priors: Mapping[str, Any], roles: Mapping[str, str], estimates: Mapping[str, float]) -> list:
    """Messages for the priors under which the data's rough estimates are improbable.

    Parameters
    ----------
    priors
        ``{parameter: prior}``.
    roles
        ``{parameter: role}`` (``"intercept"``, ``"slope"``, ``"sigma"``, ...).
    estimates
        ``{role: value}`` from :func:`jaxmh.default_priors.rough_estimates`.
    """
    out = []
    for name, role in roles.items():
        prior, value = priors.get(name), estimates.get(role)
        tail = getattr(prior, "tail", None)
        if value is None or not callable(tail):
            continue
        p = tail(value)
        if p < CONFLICT_TAIL:
            low, high = getattr(prior, "support", (-math.inf, math.inf))
            if not low <= value <= high:
                where = "outside its support"
            elif hasattr(prior, "loc") and hasattr(prior, "scale"):
                where = f"{abs(value - prior.loc) / prior.scale:.0f} prior sds from its centre"
            else:
                where = f"prior tail probability {p:.1g}"
            out.append(f"the data put {name} near {value:.4g} ({role} by least squares), far outside its "
                       f"prior {text(prior)} ({where})")
    return out
