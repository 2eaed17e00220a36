"""Eight schools: normal means with known standard errors (Rubin 1981), centred or non-centred."""

from __future__ import annotations

from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxmh import stablemath, logpdf
from jaxmh.models import _common, _inputs
from jaxmh.models.base import GroupSplit, Model
from jaxmh.priors import HalfCauchy, Normal

__all__ = ["eight_schools", "with_theta"]


def _vector(values: Any, name: str) -> np.ndarray:
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a 1-D array of numbers, got {values!r}") from None
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D (one value per school), got shape {arr.shape}")
    bad = np.flatnonzero(~np.isfinite(arr))
    if bad.size:
        raise ValueError(f"{name} has a non-finite value at index {bad[0]}: {arr[bad[0]]}")
    return arr


def eight_schools(
    y: Any,
    sigma: Any,
    *,
    centered: bool = False,
    prior_mu=Normal(0.0, 5.0),
    prior_tau=HalfCauchy(5.0),
) -> Model:
    """Normal means with known standard errors, as in the Stan posterior database.

    ``y_j ~ N(theta_j, sigma_j^2)``, ``theta_j ~ N(mu, tau^2)``, ``mu ~ N(0, 5^2)``,
    ``tau ~ half-Cauchy(0, 5)``.

    Parameters
    ----------
    y, sigma
        Estimates and their (known, positive) standard errors, one per school;
        at least two schools.  ``jaxmh.datasets.eight_schools()`` gives Rubin's.
    centered
        ``False`` (default, posteriordb's ``eight_schools_noncentered``): the
        parameters are ``theta_tilde`` (shape ``(J,)``), ``mu`` and ``tau`` with
        ``theta = mu + tau * theta_tilde`` and ``theta_tilde_j ~ N(0, 1)``;
        :func:`with_theta` adds ``theta`` to the draws.  ``True``
        (``eight_schools_centered``): the parameters are ``theta``, ``mu``, ``tau``.
        Both have a :class:`GroupSplit` whose interweaving move switches to the
        other parameterisation, so :func:`jaxmh.fit`'s blocked sampler mixes
        either way.
    prior_mu, prior_tau
        Priors of ``mu`` (location) and ``tau`` (scale, support ``[0, inf)``).

    Examples
    --------
    >>> import jax, jaxmh
    >>> y, sigma = jaxmh.datasets.eight_schools()
    >>> model = jaxmh.models.eight_schools(y, sigma)
    >>> result = jaxmh.fit(jax.random.key(0), model, num_samples=200)
    >>> jaxmh.models.with_theta(result).draws["theta"].shape
    (4, 200, 8)
    """
    y_np, sigma_np = _vector(y, "y"), _vector(sigma, "sigma")
    if y_np.shape != sigma_np.shape:
        raise ValueError(f"y and sigma must have equal lengths, got {y_np.size} and {sigma_np.size}")
    if y_np.size < 2:
        raise ValueError(f"the eight_schools model needs at least 2 schools, got {y_np.size}")
    if np.any(sigma_np <= 0):
        i = int(np.flatnonzero(sigma_np <= 0)[0])
        raise ValueError(f"sigma must be > 0 (standard errors), got {sigma_np[i]} at index {i}")
    if not isinstance(centered, bool):
        raise TypeError(f"centered must be True or False, got {centered!r}")
    _inputs.check_priors({"prior_mu": prior_mu}, {"prior_tau": prior_tau})
    dtype = jnp.result_type(float)
    num_schools = int(y_np.size)
    name = "theta" if centered else "theta_tilde"
    priors = {"mu": prior_mu, "tau": prior_tau}
    model_data = {"y": jnp.asarray(y_np, dtype), "sigma": jnp.asarray(sigma_np, dtype), "priors": priors}
    functions = partial(_functions, centered=centered)
    logdensity, init, split = functions(model_data)
    spread = {"mu": _inputs.priors.start_scale(prior_mu), "tau": _inputs.priors.start_scale(prior_tau, True)}
    spread[name] = spread["mu"] if centered else 1.0
    model = Model("eight_schools", logdensity, init, (name,), num_schools, split, priors, ("tau",), spread,
                  model_data)
    return _common.rebindable(model, functions)


def _functions(model_data: dict, centered: bool):
    """``(logdensity, init, split)`` over ``{"y", "sigma", "priors": {"mu", "tau"}}``."""
    y_j, sigma_j = model_data["y"], model_data["sigma"]
    prior_mu, prior_tau = model_data["priors"]["mu"], model_data["priors"]["tau"]
    num_schools = y_j.shape[0]
    name = "theta" if centered else "theta_tilde"

    def global_logdensity(params: dict) -> jax.Array:
        return prior_mu.logpdf(params["mu"]) + prior_tau.logpdf(params["tau"])

    if centered:
        def group_logdensity(params: dict) -> jax.Array:
            theta = params["theta"]
            return logpdf.normal(theta, params["mu"], params["tau"]) + logpdf.normal(y_j, theta, sigma_j)

        def standardize(params: dict):  # the non-centred coordinates
            tau = params["tau"]
            return {"theta": (params["theta"] - params["mu"]) / tau}, num_schools * stablemath.log(tau)

        def unstandardize(z: dict, params: dict) -> dict:
            return {"theta": params["mu"] + params["tau"] * z["theta"]}
    else:
        def group_logdensity(params: dict) -> jax.Array:
            tt, tau = params["theta_tilde"], params["tau"]
            theta = params["mu"] + tau * tt
            value = logpdf.normal(tt, 0.0, 1.0) + logpdf.normal(y_j, theta, sigma_j)
            return jnp.where(tau >= 0, value, -jnp.inf)

        def standardize(params: dict):  # the centred coordinates theta, held fixed by interweaving
            tau = params["tau"]
            theta = params["mu"] + tau * params["theta_tilde"]
            return {"theta_tilde": theta}, -num_schools * stablemath.log(tau)

        def unstandardize(z: dict, params: dict) -> dict:
            return {"theta_tilde": (z["theta_tilde"] - params["mu"]) / params["tau"]}

    def logdensity(params: dict) -> jax.Array:
        return global_logdensity(params) + jnp.sum(group_logdensity(params))

    def init(key: jax.Array, num_chains: int) -> dict:
        key, num_chains = _common.check_init_args(key, num_chains)
        k = jax.random.split(key, 3)
        return {
            name: _common.draw_locations(k[0], (num_chains, num_schools)),
            "mu": _inputs.draw_start(prior_mu, k[1], (num_chains,)),
            "tau": _inputs.draw_start(prior_tau, k[2], (num_chains,), scale=True),
        }

    split = GroupSplit((name,), group_logdensity, global_logdensity, standardize, unstandardize)
    return logdensity, init, split


def with_theta(result_or_draws: Any) -> Any:
    """Add the school effects ``theta = mu + tau * theta_tilde`` to non-centred draws.

    Parameters
    ----------
    result_or_draws
        A :class:`jaxmh.Result` or a dict of draws from :func:`eight_schools`.

    Returns
    -------
    The same kind of object with ``draws["theta"]`` shaped ``(chain, draw, J)``
    (unchanged if ``theta`` is already there, as in the centred model), ready
    for :func:`jaxmh.summary`.
    """
    draws = getattr(result_or_draws, "draws", result_or_draws)
    if not isinstance(draws, dict):
        raise TypeError(f"expected a jaxmh.Result or a dict of draws, got {type(result_or_draws).__name__}")
    if "theta" not in draws:
        missing = [k for k in ("theta_tilde", "mu", "tau") if k not in draws]
        if missing:
            raise ValueError(f"the draws lack {missing}; they do not come from jaxmh.models.eight_schools")
        mu, tau = np.asarray(draws["mu"])[..., None], np.asarray(draws["tau"])[..., None]
        draws = {**draws, "theta": mu + tau * np.asarray(draws["theta_tilde"])}
    if isinstance(result_or_draws, dict):
        return draws
    return result_or_draws._replace(draws=draws)
