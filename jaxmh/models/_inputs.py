"""Argument checks shared by the model builders: priors, number of groups, starting values."""

from __future__ import annotations

import warnings
from typing import Any, Mapping

from jaxmh import default_priors, prior_checks, priors
from jaxmh.data import GroupedData
from jaxmh.models._common import require_grouped


def check_priors(locations: dict[str, Any], scales: dict[str, Any]) -> None:
    """Check location priors and scale priors, naming the offending argument."""
    for name, prior in locations.items():
        priors.check(prior, name)
    for name, prior in scales.items():
        priors.check(prior, name, scale=True)


is_scale = default_priors.is_scale


def model_priors(model: str, data: Any, scheme: str | Mapping | None, given: Mapping[str, Any]) -> dict:
    """The builder's priors (:func:`jaxmh.default_priors.resolve`), checked, with a warning on conflict.

    ``given`` maps parameter names to the builder's ``prior_*`` arguments.
    The warning (a :class:`jaxmh.prior_checks.PriorWarning`) says when the
    data's rough estimates are far outside what the priors allow.
    """
    require_grouped(data)
    chosen = default_priors.resolve(model, data, scheme, given)
    check_priors({f"prior_{k}": v for k, v in chosen.items() if not is_scale(model, k)},
                 {f"prior_{k}": v for k, v in chosen.items() if is_scale(model, k)})
    found = prior_checks.conflicts(chosen, default_priors.ROLES[model], default_priors.rough_estimates(data))
    if found:
        warnings.warn("prior-data conflict: " + "; ".join(found) + ". The priors do not fit the scale "
                      "of the data: use the data-scaled defaults (priors='auto'; --priors auto on the command line) "
                      "or priors that allow these values.", prior_checks.PriorWarning, stacklevel=3)
    return chosen


def scale_params(model: str) -> tuple:
    return tuple(k for k in default_priors.ROLES[model] if is_scale(model, k))


def start_scales(model: str, chosen: Mapping[str, Any], extra: Mapping[str, str] = {}) -> dict:
    """``{parameter: spread of its starting values}``; ``extra`` maps group parameters to the
    parameter whose prior sets their starting values."""
    out = {k: priors.start_scale(p, is_scale(model, k)) for k, p in chosen.items()}
    out.update({k: out[v] for k, v in extra.items()})
    return out


def check_groups(data: Any, model: str, minimum: int = 2) -> GroupedData:
    """``data`` must be ``GroupedData`` with at least ``minimum`` groups."""
    require_grouped(data)
    if data.num_groups < minimum:
        raise ValueError(
            f"the {model} model needs at least {minimum} groups to estimate how groups vary, "
            f"but the data have {data.num_groups}; use the pooled model for a single group"
        )
    return data


def draw_start(prior: Any, key, shape: tuple, scale: bool = False):
    """Starting values inside ``prior``'s support (:func:`jaxmh.priors.draw_start`)."""
    return priors.draw_start(prior, key, shape, scale)
