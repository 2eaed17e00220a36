"""Posterior predictive checks: the observed data against data replicated from the fitted model.

:func:`ppc` (also ``jaxmh.plots.ppc``) draws replicated datasets with
:func:`jaxmh.predict` (``kind="predictive"``) and plots, left, the data's
distribution -- densities (histograms: the replications' median and 90% band) for a continuous response, bars
with the replications' 90% intervals for counts and 0/1 -- and, right, a
group-level statistic: each level's mean of the response, observed against
the replications' 90% interval, for the model's first grouping factor.  A model
that pools too much shows observed group means outside their intervals.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import jax
import numpy as np

from jaxmh.predict import predict

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def _replications(result: Any, num_draws: int, key: jax.Array) -> np.ndarray:
    rep = predict(result, kind="predictive", key=key)                  # (chain, draw, rows)
    rep = rep.reshape(-1, rep.shape[-1])
    if num_draws >= rep.shape[0]:
        return rep
    pick = np.random.default_rng(0).choice(rep.shape[0], size=num_draws, replace=False)
    return rep[np.sort(pick)]


def ppc(result: Any, *, num_draws: int = 100, key: jax.Array | None = None, figsize: tuple | None = None) -> Figure:
    """Observed data against ``num_draws`` replicated datasets of a fitted formula model.

    Parameters
    ----------
    result
        A :class:`jaxmh.Result` of :func:`jaxmh.fit` on a :func:`jaxmh.model`.
    num_draws
        Replicated datasets shown (chosen at random from the posterior draws).
    key
        PRNG key of the replications (default ``jax.random.key(0)``).
    figsize
        Figure size in inches.

    Returns
    -------
    matplotlib.figure.Figure
    """
    if not isinstance(num_draws, (int, np.integer)) or num_draws < 1:
        raise ValueError(f"num_draws must be a positive whole number, got {num_draws!r}")
    rep = _replications(result, int(num_draws), jax.random.key(0) if key is None else key)
    layout = result.model.layout
    y = np.asarray(result.model.data["y"], np.float64)
    terms = list(layout.terms)
    from matplotlib.figure import Figure                # here: import jaxmh does not load matplotlib

    fig = Figure(figsize=figsize or ((9.5, 3.8) if terms else (5.0, 3.8)), layout="constrained")
    axes = fig.subplots(1, 2 if terms else 1, squeeze=False)[0]
    _distribution(axes[0], y, rep, layout)
    if terms:
        _group_means(axes[1], y, rep, result.model.data["factors"][0]["index"], terms[0])
    fig.suptitle(f"posterior predictive check: {layout.formula} ({layout.family})", fontsize=9)
    return fig


def _distribution(ax, y: np.ndarray, rep: np.ndarray, layout: Any) -> None:
    discrete = layout.family != "gaussian"
    if discrete:
        values = np.arange(int(min(y.min(), rep.min())), int(max(y.max(), rep.max())) + 1)
        if len(values) > 60:   # many distinct counts: bins of equal width
            edges = np.linspace(values[0] - 0.5, values[-1] + 0.5, 41)
        else:
            edges = np.concatenate([values - 0.5, [values[-1] + 0.5]])
        observed = np.histogram(y, edges)[0]
        replicated = np.stack([np.histogram(r, edges)[0] for r in rep])
        mid = 0.5 * (edges[:-1] + edges[1:])
        ax.bar(mid, observed, width=np.diff(edges) * 0.8, color="#bdbdbd", label="observed")
        lo, med, hi = np.percentile(replicated, [5, 50, 95], axis=0)
        ax.errorbar(mid, med, yerr=[med - lo, hi - med], fmt="o", color="#1f77b4", ms=3, lw=1,
                    label="replicated: median, 90%")
        ax.set_ylabel("rows")
        ax.set_xlabel(layout.response + (" (successes)" if layout.family == "binomial" else ""))
    else:
        lo, hi = np.percentile(np.concatenate([y, rep.ravel()]), [0.5, 99.5])
        edges = np.linspace(lo, hi, int(np.clip(np.sqrt(len(y)), 8, 30)) + 1)
        replicated = np.stack([np.histogram(r, edges, density=True)[0] for r in rep])
        low, med, high = np.percentile(replicated, [5, 50, 95], axis=0)
        ax.stairs(high, edges, baseline=low, fill=True, color="#1f77b4", alpha=0.25, label="replicated 90%")
        ax.stairs(med, edges, color="#1f77b4", lw=1, label="replicated median")
        ax.stairs(np.histogram(y, edges, density=True)[0], edges, color="black", lw=1.6, label="observed")
        ax.set_ylabel("density")
        ax.set_xlabel(layout.response)
    ax.legend(frameon=False, fontsize=7)
    ax.set_title("distribution of the response", fontsize=9)


def _group_means(ax, y: np.ndarray, rep: np.ndarray, index: Any, term: Any) -> None:
    index = np.asarray(index)
    num = len(term.labels)
    count = np.bincount(index, minlength=num)
    observed = np.bincount(index, weights=y, minlength=num) / np.maximum(count, 1)
    replicated = np.stack([np.bincount(index, weights=r, minlength=num) for r in rep]) / np.maximum(count, 1)
    lo, hi = np.percentile(replicated, [5, 95], axis=0)
    order = np.argsort(replicated.mean(axis=0))
    pos = np.arange(num)
    outside = (observed < lo) | (observed > hi)
    ax.vlines(pos, lo[order], hi[order], color="#1f77b4", lw=1.2, label="replicated 90%")
    ax.scatter(pos, observed[order], s=10, color=np.where(outside[order], "#b2182b", "black"), zorder=3,
               label="observed")
    ax.set_xlabel(f"levels of {term.factor} (ordered by replicated mean)")
    ax.set_ylabel("mean of the response")
    ax.set_title(f"group means by {term.factor}: {int(outside.sum())} of {num} outside their 90% interval",
                 fontsize=9)
    if num <= 30:
        ax.set_xticks(pos, [term.labels[i] for i in order], rotation=90, fontsize=6)
    ax.legend(frameon=False, fontsize=7)
