"""Default priors of the regression models: weakly informative and scaled to the data, or the tutorial's.

The tutorial's priors (``mu ~ N(0, 3^2)``, scales ``U(0, 10)``, unpooled
coefficients ``U(-100, 100)``) were written for data of the tutorial's scale
(``y`` around 0 with sd about 3).  On data of another scale they truncate or
distort the posterior, so the model builders default to priors scaled to the
data, in the manner of rstanarm's autoscaling (Gabry & Goodrich, *Prior
distributions for rstanarm models*; Gelman, Hill & Vehtari 2020, *Regression
and Other Stories*, ch. 9).  With ``m_y, s_y`` the mean and sd of ``y`` and
``m_x, s_x`` those of ``x`` over all rows:

========================  =====================================================
role                      default prior
========================  =====================================================
intercept (at ``x = 0``)  ``normal(m_y, 2.5 s_y sqrt(1 + m_x^2 / s_x^2))``
slope                     ``normal(0, 2.5 s_y / s_x)``
sd of the intercepts      ``exponential(1 / s_y)`` (mean ``s_y``)
sd of the slopes          ``exponential(s_x / s_y)`` (mean ``s_y / s_x``)
residual sd ``sigma``     ``exponential(1 / s_y)`` (mean ``s_y``)
========================  =====================================================

rstanarm puts ``normal(m_y, 2.5 s_y)`` on the intercept *at the mean of x*
and ``normal(0, 2.5 s_y / s_x)`` on the slope; the intercept at ``x = 0``
(the one jaxmh's models use, as the tutorial does) is then
``a_c - b m_x``, whose prior sd is the one in the table.  The residual sd's
prior is rstanarm's ``exponential(1 / s_y)``; rstanarm's ``decov`` prior for
group-level sds reduces, for one varying coefficient, to an exponential with
mean ``s_y``; jaxmh divides the slopes' by ``s_x`` so that the posterior does
not depend on the units of ``x``.  An ``s_y`` or ``s_x`` of 0 counts as 1.
"""

from __future__ import annotations

import math
from typing import Any, Mapping, NamedTuple

import numpy as np

from jaxmh.priors import Exponential, Normal, Uniform

__all__ = ["SCHEMES", "ROLES", "DataScale", "data_scale", "default_priors", "is_scale", "rough_estimates"]

#: Names of the schemes: ``"auto"`` (scaled to the data, the default) and ``"tutorial"``.
SCHEMES = ("auto", "tutorial")

#: What each prior argument of each model is (see the table in the module docstring).
ROLES = {
    "hierarchical": {"mu_alpha": "intercept", "mu_beta": "slope", "sigma_alpha": "sd_intercept",
                     "sigma_beta": "sd_slope", "sigma": "sigma"},
    "intercepts": {"mu_alpha": "intercept", "beta": "slope", "sigma_alpha": "sd_intercept",
                   "sigma": "sigma"},
    "unpooled": {"alpha": "intercept", "beta": "slope", "sigma": "sigma"},
    "pooled": {"alpha": "intercept", "beta": "slope", "sigma": "sigma"},
}

#: The tutorial's priors (Bølstad 2019), per model and parameter.
TUTORIAL = {
    "hierarchical": {"mu_alpha": Normal(0.0, 3.0), "mu_beta": Normal(0.0, 3.0),
                     "sigma_alpha": Uniform(0.0, 10.0), "sigma_beta": Uniform(0.0, 10.0),
                     "sigma": Uniform(0.0, 10.0)},
    "intercepts": {"mu_alpha": Normal(0.0, 3.0), "beta": Normal(0.0, 3.0),
                   "sigma_alpha": Uniform(0.0, 10.0), "sigma": Uniform(0.0, 10.0)},
    "unpooled": {"alpha": Uniform(-100.0, 100.0), "beta": Uniform(-100.0, 100.0),
                 "sigma": Uniform(0.0, 10.0)},
    "pooled": {"alpha": Uniform(-100.0, 100.0), "beta": Uniform(-100.0, 100.0),
               "sigma": Uniform(0.0, 10.0)},
}


class DataScale(NamedTuple):
    """Means and standard deviations of ``y`` and ``x`` over all rows (sd 0 replaced by 1)."""

    mean_y: float
    sd_y: float
    mean_x: float
    sd_x: float


def _sd(values: np.ndarray) -> float:
    sd = float(np.std(values, ddof=1)) if values.size > 1 else 0.0
    return sd if sd > 0 and math.isfinite(sd) else 1.0


def data_scale(data: Any) -> DataScale:
    """The :class:`DataScale` of a :class:`jaxmh.data.GroupedData`."""
    x, y = np.asarray(data.x, np.float64), np.asarray(data.y, np.float64)
    return DataScale(float(y.mean()), _sd(y), float(x.mean()), _sd(x))


def _auto(role: str, s: DataScale) -> Any:
    if role == "intercept":
        return Normal(s.mean_y, 2.5 * s.sd_y * math.sqrt(1.0 + (s.mean_x / s.sd_x) ** 2))
    if role == "slope":
        return Normal(0.0, 2.5 * s.sd_y / s.sd_x)
    if role == "sd_slope":
        return Exponential(s.sd_x / s.sd_y)
    return Exponential(1.0 / s.sd_y)  # sd_intercept, sigma


def default_priors(model: str, data: Any, scheme: str = "auto") -> dict:
    """The default prior of every parameter of ``model`` (``"hierarchical"``, ...) for ``data``.

    Parameters
    ----------
    model
        A key of :data:`ROLES`.
    data
        The :class:`jaxmh.data.GroupedData` the model is built on (unused for
        ``scheme="tutorial"``).
    scheme
        ``"auto"``: scaled to the data (module docstring); ``"tutorial"``: the tutorial's.

    Returns
    -------
    dict
        ``{parameter name: prior}``.

    Examples
    --------
    >>> import numpy as np
    >>> from jaxmh.data import GroupedData
    >>> data = GroupedData(x=np.array([0., 1., 2., 3.]), y=np.array([300., 320., 290., 350.]),
    ...                    group=np.array([0, 0, 1, 1]))
    >>> {k: str(v) for k, v in default_priors("pooled", data).items()}
    {'alpha': 'normal(315, 101.4)', 'beta': 'normal(0, 51.23)', 'sigma': 'exponential(0.0378)'}
    """
    if model not in ROLES:
        raise ValueError(f"no default priors for a model named {model!r}; models: {sorted(ROLES)}")
    if scheme == "tutorial":
        return dict(TUTORIAL[model])
    if scheme != "auto":
        raise ValueError(f"priors must be one of {SCHEMES} or a dict of priors, got {scheme!r}")
    scale = data_scale(data)
    return {name: _auto(role, scale) for name, role in ROLES[model].items()}


def rough_estimates(data: Any) -> dict:
    """Quick estimates from the data, by role, to check the priors against before sampling.

    ``intercept`` and ``slope``: least squares of ``y`` on ``x`` ignoring the
    groups; ``sigma``: the residual sd around each group's own least-squares
    line (around its mean where it has too few distinct ``x``), which is what
    ``sigma`` measures in every model with groups.
    """
    x, y, g = np.asarray(data.x, np.float64), np.asarray(data.y, np.float64), np.asarray(data.group)
    out = {}
    dx = x - x.mean()
    sxx = float(dx @ dx)
    slope = float(dx @ (y - y.mean()) / sxx) if sxx > 0 else 0.0
    out["intercept"], out["slope"] = float(y.mean() - slope * x.mean()), slope
    n = np.bincount(g).astype(float)
    xbar, ybar = np.bincount(g, x) / n, np.bincount(g, y) / n
    ex, ey = x - xbar[g], y - ybar[g]
    gxx, gxy, gyy = np.bincount(g, ex * ex), np.bincount(g, ex * ey), np.bincount(g, ey * ey)
    has_slope = gxx > 1e-12 * np.maximum(1.0, gxx.max())
    rss = gyy - np.where(has_slope, gxy * gxy / np.where(has_slope, gxx, 1.0), 0.0)
    df = len(y) - len(n) - int(has_slope.sum())
    if df > 0:
        out["sigma"] = float(np.sqrt(max(rss.sum(), 0.0) / df))
    return out


def resolve(model: str, data: Any, priors: str | Mapping | None, given: Mapping[str, Any]) -> dict:
    """The priors a builder uses: the scheme's defaults, then a dict of priors, then ``prior_*`` arguments.

    ``given`` maps parameter names to the builder's ``prior_*`` arguments (``None`` where not given).
    """
    if priors is None:
        priors = "auto"
    if isinstance(priors, Mapping):
        unknown = [k for k in priors if k not in ROLES[model]]
        if unknown:
            raise ValueError(f"priors: the {model} model has no parameter(s) {unknown} with a prior; "
                             f"it has {list(ROLES[model])}")
        chosen, overrides = "auto", dict(priors)
    elif isinstance(priors, str):
        chosen, overrides = priors, {}
    else:
        raise TypeError(f"priors must be 'auto', 'tutorial' or a dict of priors, got {type(priors).__name__}")
    given = {k: v for k, v in given.items() if v is not None}
    missing = [k for k in ROLES[model] if k not in overrides and k not in given]
    if chosen == "auto" and missing and not hasattr(data, "x"):
        raise ValueError("priors='auto' scales the priors to the data, which needs GroupedData; "
                         "pass priors='tutorial' or every prior_* argument")
    out = default_priors(model, data, chosen) if missing else {}
    out.update(overrides)
    out.update(given)
    return {k: out[k] for k in ROLES[model]}


def is_scale(model: str, name: str) -> bool:
    """Whether parameter ``name`` of ``model`` is a scale (its own lower bound is 0)."""
    role = ROLES[model][name]
    return role == "sigma" or role.startswith("sd_")
