"""The tutorial's comparison: several models fitted to one dataset, scored against the truth."""

from __future__ import annotations

import time
import warnings
from typing import Any, Callable, Mapping, NamedTuple, Sequence

import jax
import numpy as np

from jaxmh import _checks, diagnostics, methods
from jaxmh.fitting import fit
from jaxmh.models import hierarchical, pooled, registry, unpooled
from jaxmh.sampling import Result
from jaxmh.summary import ESS_PER_CHAIN, RHAT_THRESHOLD

__all__ = ["ModelFit", "Comparison", "compare", "TUTORIAL_MODELS", "TUTORIAL_STEP_SIZES", "rmse", "builders"]

#: The tutorial's three models, the default of :func:`compare` and :func:`jaxmh.study`.
TUTORIAL_MODELS = (pooled, unpooled, hierarchical)
#: The tutorial's proposal standard deviations (:attr:`jaxmh.models.Model.default_step_size`).
TUTORIAL_STEP_SIZES = {"pooled": 0.1, "unpooled": 0.125, "hierarchical": 0.1}


def _cell(value: float | None, width: int, truth: bool) -> str:
    """A table cell: the number, or (with a truth) ``-`` where the model has no such parameter."""
    if truth and (value is None or not np.isfinite(value)):
        return f"{'-':>{width}}"
    if value is None:
        value = float("nan")
    return f"{value:>{width}.3f}"


class ModelFit(NamedTuple):
    """One model's fit: summary numbers, posterior means and the full result.

    ``rmse`` maps every parameter the truth holds (and the model has) to the
    RMSE of its posterior means; ``means`` every parameter to its posterior
    mean (a truth parameter's broadcast to the truth's shape).  ``rmse_alpha``,
    ``rmse_beta``, ``alpha_mean``, ``beta_mean`` and ``sigma_mean`` are the
    tutorial's columns (NaN where the model or the truth lacks them).
    """

    model: str
    acceptance_rate: float
    rmse_alpha: float
    rmse_beta: float
    sigma_mean: float
    seconds: float
    min_ess_bulk: float
    max_rhat: float
    alpha_mean: np.ndarray
    beta_mean: np.ndarray
    result: Result
    priors: Mapping | None = None
    rmse: Mapping[str, float] | None = None
    means: Mapping[str, np.ndarray] | None = None
    method: str | None = None


class Comparison(NamedTuple):
    """Fits of several models to one dataset, with the truth when it is known."""

    data: Any
    truth: Mapping | None
    fits: tuple

    def scored(self) -> list:
        """The truth's parameters that some fit is scored on, in the truth's order."""
        names = []
        for f in self.fits:
            for k in (f.rmse or {"alpha": f.rmse_alpha, "beta": f.rmse_beta}):
                if k not in names:
                    names.append(k)
        return names

    def table(self) -> str:
        """The comparison as an aligned text table."""
        scored = self.scored() or ["alpha", "beta"]
        width = max([13] + [len(f.model) + 2 for f in self.fits])
        head = (f"{'model':<{width}}{'accept':>8}" + "".join(f"{'RMSE ' + k:>{max(11, len(k) + 7)}}" for k in scored)
                + f"{'mean sigma':>12}{'min ESS':>9}{'max R-hat':>11}{'seconds':>9}")
        lines = [head, "-" * len(head)]
        failed = False
        truth = any(f.rmse for f in self.fits)   # scored against a truth at all (else every cell is nan)
        for f in self.fits:
            bad = not self.converged(f)
            failed |= bad
            errors = f.rmse if f.rmse is not None else {"alpha": f.rmse_alpha, "beta": f.rmse_beta}
            lines.append(
                f"{f.model:<{width}}{f.acceptance_rate:>8.3f}"
                + "".join(_cell(errors.get(k), max(11, len(k) + 7), truth) for k in scored)
                + f"{f.sigma_mean:>12.3f}{f.min_ess_bulk:>9.0f}{f.max_rhat:>11.3f}{f.seconds:>9.2f}"
                + ("  !" if bad else "")
            )
        if failed:
            lines.append(
                f"! not converged: max R-hat > {RHAT_THRESHOLD} or min bulk ESS < {ESS_PER_CHAIN} per chain"
                " -- its estimates (and RMSEs) are not yet trustworthy"
            )
        if truth and any(_cell(e, 1, truth).strip() == "-" for f in self.fits for e in
                         [(f.rmse if f.rmse is not None else {}).get(k) for k in scored]):
            lines.append("- the model has no parameter of that name (its parameters are not the truth's)")
        return "\n".join(lines)

    @staticmethod
    def converged(fit: "ModelFit") -> bool:
        """Whether a fit passes R-hat <= 1.01 and bulk ESS >= 100 per chain for every parameter."""
        num_chains = np.shape(fit.result.acceptance_rate)[0]
        return bool(fit.max_rhat <= RHAT_THRESHOLD and fit.min_ess_bulk >= ESS_PER_CHAIN * num_chains)

    def __str__(self) -> str:
        return self.table()


def rmse(estimate: np.ndarray, truth: np.ndarray) -> float:
    """Root mean squared error of ``estimate`` against ``truth``."""
    estimate, truth = np.asarray(estimate, float), np.asarray(truth, float)
    return float(np.sqrt(np.mean((estimate - truth) ** 2)))


def builders(models: Any, argument: str = "models") -> tuple:
    """Model builders from ``models``: callables (data -> Model), or (deprecated) registered names."""
    if isinstance(models, str) or callable(models):
        models = (models,)
    out = []
    for m in models:
        if isinstance(m, str):
            warnings.warn(f"{argument}: pass model builders (e.g. jaxmh.models.{m}) rather than names",
                          DeprecationWarning, stacklevel=3)
            m = registry.builder(m)
        if not callable(m):
            raise TypeError(f"{argument} must be model builders (callables from data to a jaxmh.models.Model), "
                            f"got {m!r}")
        out.append(m)
    if not out:
        raise ValueError(f"{argument} is empty; expected model builders such as jaxmh.models.hierarchical")
    return tuple(out)


def labels(built: Sequence) -> list:
    """Each model's name, made unique (``name``, ``name#2``, ...) when several share one."""
    out, seen = [], {}
    for model in built:
        seen[model.name] = seen.get(model.name, 0) + 1
        out.append(model.name if seen[model.name] == 1 else f"{model.name}#{seen[model.name]}")
    return out


def check_truth(truth: Any) -> dict | None:
    """``truth`` as ``{name: float64 array}`` (or ``None``)."""
    if truth is None:
        return None
    if not isinstance(truth, Mapping):
        raise TypeError(f"truth must be a dict of true parameter values, got {type(truth).__name__}")
    return {str(k): np.asarray(v, dtype=np.float64) for k, v in truth.items()}


def truth_shaped(name: str, value: np.ndarray, true: np.ndarray, model: str, batch: int = 0) -> np.ndarray:
    """A posterior mean broadcast to the truth's shape (``ValueError`` naming both shapes if it does not fit).

    ``batch`` leading axes (datasets, in :func:`jaxmh.study`) are shared; a
    model's scalar against a per-group truth is broadcast over the groups.
    """
    value, true = np.asarray(value), np.asarray(true)
    est = value.reshape(value.shape + (1,) * max(true.ndim - value.ndim, 0))
    try:
        return np.broadcast_to(est, true.shape).copy()
    except ValueError:
        per = " per dataset" if batch else ""
        raise ValueError(f"the truth's {name} has shape {true.shape[batch:]}{per}, but the {model} model's "
                         f"{name} has shape {value.shape[batch:]}") from None


def _score(label: str, means: dict, truth: dict | None, num_groups: int) -> tuple[dict, dict]:
    """``(rmse per truth parameter, means with truth parameters broadcast to the truth's shape)``."""
    errors = {}
    if truth is not None:
        for name in truth:
            if name in means:
                means[name] = truth_shaped(name, means[name], truth[name], label)
                errors[name] = rmse(means[name], truth[name])
    for name in ("alpha", "beta"):  # the tutorial's per-group columns
        if name in means and name not in errors:
            means[name] = np.broadcast_to(means[name], (num_groups,)).copy() if np.ndim(means[name]) == 0 \
                else means[name]
    return errors, means


def compare(
    key: jax.Array,
    data: Any,
    truth: Mapping | None = None,
    *,
    models: Sequence[Callable] = TUTORIAL_MODELS,
    method: str | methods.Method | None = None,
    num_chains: int = 4,
    num_samples: int = 8000,
    num_warmup: int = 2000,
    step_size: Any = None,
    priors: str | Mapping | None = None,
    step_sizes: Mapping[str, float] | None = None,
) -> Comparison:
    """Fit several models to ``data`` and score them against the truth.

    The defaults are the tutorial's run lengths: 10,000 iterations of which
    the first 2,000 are dropped, here on ``num_chains`` chains per model.

    Parameters
    ----------
    key
        PRNG key; model ``m`` (in the order given) uses ``fold_in(key, m)``.
    data
        The data every builder takes (a :class:`jaxmh.data.GroupedData` for the bundled models).
    truth
        Optional ``{parameter: true values}`` (e.g. ``{"alpha": (G,), "beta": (G,)}``):
        every parameter it names that a model has is scored by the RMSE of its
        posterior means (a model's scalar broadcast to the truth's shape).
    models
        Model builders: callables from ``data`` to a :class:`jaxmh.models.Model`
        (default: the tutorial's pooled, unpooled and hierarchical models;
        your own work alike).
    method
        As :func:`jaxmh.fit`: ``None`` (default: each model's own, group-blocked
        where it has groups), ``"rwm"`` (the tutorial's untuned sampler, with
        each model's :attr:`~jaxmh.models.Model.default_step_size`),
        ``"adaptive"``, ``"blocked"`` (a model without groups falls back to its
        default), or a :class:`jaxmh.methods.Method`.
    step_size
        As :func:`jaxmh.fit`, for every model.
    priors
        ``None`` (default): each builder's own priors (the bundled ones: scaled
        to the data); ``"auto"``, ``"tutorial"`` or a dict is passed to every
        builder that takes a ``priors`` argument.
    step_sizes
        Deprecated: per model name, as ``step_size``.

    Returns
    -------
    Comparison
        ``.fits`` per model (acceptance rate, RMSE per truth parameter,
        posterior means, seconds for sampling including compilation, the
        worst R-hat and bulk ESS over all parameters, the result) and ``.table()``.

    Examples
    --------
    >>> import jax, jaxmh
    >>> data, truth = jaxmh.data.simulate(jax.random.key(0))
    >>> c = jaxmh.compare(jax.random.key(1), data, truth, num_samples=1000, num_warmup=1000,
    ...                   models=(jaxmh.models.pooled, jaxmh.models.intercepts, jaxmh.models.hierarchical))
    >>> [f.model for f in c.fits]
    ['pooled', 'intercepts', 'hierarchical']
    """
    key = _checks.as_key(key)
    chosen = builders(models)
    truth = check_truth(truth)
    if step_sizes is not None:
        warnings.warn("compare: step_sizes is deprecated; pass step_size (one for every model) or give "
                      "a model its default_step_size", DeprecationWarning, stacklevel=2)
    built = [_build(b, data, priors) for b in chosen]
    names = labels(built)
    fits = []
    for m, (model, name) in enumerate(zip(built, names)):
        how = methods.resolve(method, model, fallback=True)
        size = (step_sizes or {}).get(model.name, step_size)
        start = time.perf_counter()
        result = fit(jax.random.fold_in(key, m), model, method=how, num_chains=num_chains,
                     num_samples=num_samples, num_warmup=num_warmup, step_size=size)
        jax.block_until_ready(result)
        seconds = time.perf_counter() - start
        rhat, ess = diagnostics.worst(result.draws)
        means = {k: np.asarray(v, dtype=np.float64).mean(axis=(0, 1)) for k, v in result.draws.items()}
        errors, means = _score(name, means, truth, model.num_groups)
        nan = float("nan")
        fits.append(ModelFit(
            model=name,
            acceptance_rate=float(np.mean(result.acceptance_rate)),
            rmse_alpha=errors.get("alpha", nan),
            rmse_beta=errors.get("beta", nan),
            sigma_mean=float(np.mean(means["sigma"])) if "sigma" in means else nan,
            seconds=seconds,
            min_ess_bulk=ess,
            max_rhat=rhat,
            alpha_mean=means.get("alpha"),
            beta_mean=means.get("beta"),
            result=result,
            priors=model.priors,
            rmse=errors,
            means=means,
            method=how.name,
        ))
    return Comparison(data, truth, tuple(fits))


def _build(builder: Callable, data: Any, priors: str | None):
    """``builder(data, priors=priors)`` when the builder takes ``priors``, else ``builder(data)``."""
    from jaxmh.models.base import Model

    if priors is not None and _takes(builder, "priors"):
        model = builder(data, priors=priors)
    else:
        model = builder(data)
    if not isinstance(model, Model):
        raise TypeError(f"a model builder must return a jaxmh.models.Model, {builder!r} returned "
                        f"{type(model).__name__}")
    return model


def _takes(fn: Callable, name: str) -> bool:
    import inspect

    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    return name in params or any(p.kind is p.VAR_KEYWORD for p in params.values())
