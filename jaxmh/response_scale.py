"""A logit or log model's draws on the response scale: probabilities, rates and their ratios.

A formula model of the bernoulli, binomial or poisson family is sampled, and
summarised by default, on its link scale (log-odds, log-rates), as lme4, brms
and rstanarm report it.  :func:`transform` (``jaxmh.summary(result,
scale="response")``, ``jaxmh fit ... --scale response``) turns each draw into
what is read off the response scale:

=====================  ===================================  =======================
parameter              response scale                       logit / log link
=====================  ===================================  =======================
``Intercept``          the probability (rate) at every      ``1/(1+exp(-b0))`` /
                       predictor 0, reference levels        ``exp(b0)``
``x``, ``f[b]``        odds ratio (rate ratio) per unit     ``exp(b)``
                       of ``x`` / of level ``b`` against
                       the reference level
``Intercept|g``        each level's probability (rate) at   inverse link of
                       every predictor 0                    ``b0 + u_l``
``x|g``                each level's odds (rate) ratio of    ``exp(b_x + u_lx)``
                       ``x``
=====================  ===================================  =======================

The sds and correlations have no response-scale reading and are left out.
A Poisson rate with an offset is per unit of exposure.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["transform", "describe"]


def _inverse_link(link: str, x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-x)) if link == "logit" else np.exp(x)


def describe(layout: Any) -> str:
    """One line saying what the response-scale rows are, for a model's layout."""
    from jaxmh import families
    link = families.get(layout.family).link
    what, ratio = ("probability", "odds ratio") if link == "logit" else ("rate", "rate ratio")
    if layout.family == "poisson":
        what = "rate (per unit of exposure with an offset)"
    return (f"response scale: Intercept rows are the {what} at every predictor 0 (reference levels; per level "
            f"for TERM|GROUP rows), other coefficients the {ratio} (exp of the coefficient; per level for "
            f"TERM|GROUP rows); sds and correlations are on the link scale and left out")


def transform(draws: dict, layout: Any) -> dict:
    """``draws`` (a formula model's, by its parameter names) on the response scale (module docstring).

    Raises
    ------
    ValueError
        For a Gaussian model (whose link is the identity: the draws already are on the response scale)
        or draws without a formula model's layout.
    """
    from jaxmh import families
    if draws is None:
        raise ValueError("scale='response' needs the draws (this result was run with store='moments')")
    if layout is None or not hasattr(layout, "family"):
        raise ValueError("scale='response' needs a formula model's result (jaxmh.fit of jaxmh.model(...)); "
                         "these draws carry no model layout")
    link = families.get(layout.family).link
    if link == "identity":
        raise ValueError(f"scale='response': family {layout.family!r} has the identity link, so its summary "
                         "already is on the response scale; use scale='link' (the default)")
    out = {}
    for k in layout.fixed:
        x = np.asarray(draws[k], np.float64)
        out[k] = _inverse_link(link if k == "Intercept" else "log", x)
    for term in layout.terms:
        for col, e in zip(term.columns, term.effects):
            u = np.asarray(draws[e], np.float64)
            base = np.asarray(draws[col], np.float64)[..., None] if col in layout.fixed else 0.0
            out[e] = _inverse_link(link if col == "Intercept" else "log", base + u)
    return out
