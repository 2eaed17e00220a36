"""Matplotlib figures.  Every function returns the ``Figure``; none calls ``show()``."""

from __future__ import annotations

import re
from typing import Any, Sequence

import numpy as np
from matplotlib.figure import Figure

__all__ = ["shrinkage", "trace", "rank", "select", "study_rmse"]

_COLOURS = {"pooled": "#7f7f7f", "unpooled": "#d62728", "hierarchical": "#1f77b4"}


def shrinkage(comparison, *, figsize: tuple | None = None) -> Figure:
    """The tutorial's figure: per-individual posterior means against the truth.

    One panel per model in the plane (alpha, beta): true values as open
    circles, posterior means as dots, and one light segment from each
    individual's estimate to its *own* true value.  RMSEs in the corner.

    Parameters
    ----------
    comparison
        A :class:`jaxmh.Comparison` with ``truth``.
    """
    truth = comparison.truth
    fits = comparison.fits
    if truth is None:
        raise ValueError("comparison.truth is None: the shrinkage plot needs the true alpha and beta")
    n = len(fits)
    fig = Figure(figsize=figsize or (4.2 * n, 4.4), layout="constrained")
    axes = fig.subplots(1, n, sharex=True, sharey=True, squeeze=False)[0]
    ta, tb = np.asarray(truth["alpha"]), np.asarray(truth["beta"])
    for ax, fit in zip(axes, fits):
        colour = _COLOURS.get(fit.model, "C2")
        segments_x = np.stack([fit.alpha_mean, ta, np.full_like(ta, np.nan)], axis=1).ravel()
        segments_y = np.stack([fit.beta_mean, tb, np.full_like(tb, np.nan)], axis=1).ravel()
        ax.plot(segments_x, segments_y, color=colour, alpha=0.3, lw=0.8)
        ax.scatter(ta, tb, facecolors="none", edgecolors="black", s=22, lw=0.8, label="truth")
        ax.scatter(fit.alpha_mean, fit.beta_mean, color=colour, s=14, label="posterior mean")
        ax.set_title(fit.model)
        ax.set_xlabel(r"$\alpha$")
        ax.text(
            0.03, 0.03,
            f"RMSE $\\alpha$ = {fit.rmse_alpha:.3f}\nRMSE $\\beta$ = {fit.rmse_beta:.3f}",
            transform=ax.transAxes, va="bottom", ha="left", fontsize=9,
            bbox=dict(boxstyle="round", facecolor="white", alpha=0.8, lw=0.5),
        )
    axes[0].set_ylabel(r"$\beta$")
    axes[0].legend(loc="upper right", fontsize=8)
    return fig


def select(result_or_draws: Any, name: str) -> np.ndarray:
    """Draws ``(chain, draw)`` of one scalar parameter named like ``sigma`` or ``alpha[3]``."""
    draws = getattr(result_or_draws, "draws", result_or_draws)
    match = re.fullmatch(r"\s*([^\[\]]+?)\s*(?:\[([\d,\s]+)\])?\s*", name)
    if match is None or match.group(1) not in draws:
        raise ValueError(f"unknown parameter {name!r}; the draws have {sorted(draws)}")
    x = np.asarray(draws[match.group(1)])
    index = () if match.group(2) is None else tuple(int(i) for i in match.group(2).split(","))
    event = x.shape[2:]
    if len(index) != len(event) or any(not 0 <= i < n for i, n in zip(index, event)):
        raise ValueError(
            f"parameter {name!r}: {match.group(1)} has event shape {event}; "
            f"index it like {match.group(1)}{'[0]' if event else ''} (0-based)"
        )
    return x[(slice(None), slice(None)) + index]


def _names(result_or_draws: Any, params: Sequence[str] | None) -> list[str]:
    if params is not None:
        return [params] if isinstance(params, str) else list(params)
    draws = getattr(result_or_draws, "draws", result_or_draws)
    return [k for k, v in draws.items() if np.ndim(v) == 2][:6] or [f"{next(iter(draws))}[0]"]


def trace(result_or_draws: Any, params: Sequence[str] | None = None) -> Figure:
    """Trace plot: for each parameter, its draws per chain (left) and their histograms (right).

    Parameters
    ----------
    result_or_draws
        A :class:`jaxmh.Result` or a dict of arrays ``(chain, draw, ...)``.
    params
        Parameter names like ``["sigma", "alpha[3]"]`` (0-based indices); by
        default the scalar parameters.
    """
    names = _names(result_or_draws, params)
    fig = Figure(figsize=(9, 1.9 * len(names) + 0.4), layout="constrained")
    axes = fig.subplots(len(names), 2, squeeze=False, width_ratios=(3, 1))
    for (ax_t, ax_h), name in zip(axes, names):
        x = select(result_or_draws, name)
        for c in range(x.shape[0]):
            ax_t.plot(x[c], lw=0.5, alpha=0.8, color=f"C{c % 10}")
            ax_h.hist(x[c], bins=40, histtype="step", color=f"C{c % 10}", orientation="horizontal")
        ax_t.set_ylabel(name)
        ax_h.sharey(ax_t)
        ax_h.tick_params(labelleft=False)
    axes[-1, 0].set_xlabel("draw")
    axes[-1, 1].set_xlabel("count")
    return fig


def rank(result_or_draws: Any, params: Sequence[str] | None = None, *, bins: int = 20) -> Figure:
    """Rank plot (Vehtari et al. 2021): histograms of each chain's ranks among all draws.

    Well-mixed chains give flat, overlapping histograms; a chain that sits
    apart shows up as a slope.  The dashed line is the uniform expectation.
    """
    names = _names(result_or_draws, params)
    fig = Figure(figsize=(4.5 * min(len(names), 3), 3.2 * int(np.ceil(len(names) / 3))),
                 layout="constrained")
    axes = np.atleast_1d(fig.subplots(int(np.ceil(len(names) / 3)), min(len(names), 3), squeeze=False)).ravel()
    for ax, name in zip(axes, names):
        x = select(result_or_draws, name)
        flat = x.reshape(-1)
        ranks = np.empty(flat.size)
        ranks[np.argsort(flat, kind="stable")] = np.arange(flat.size)
        ranks = ranks.reshape(x.shape)
        edges = np.linspace(0, flat.size, bins + 1)
        for c in range(x.shape[0]):
            counts, _ = np.histogram(ranks[c], bins=edges)
            ax.stairs(counts, edges, color=f"C{c % 10}", label=f"chain {c}")
        ax.axhline(x.shape[1] / bins, color="black", ls="--", lw=0.8)
        ax.set_title(name)
        ax.set_xlabel("rank among all draws")
    for ax in axes[len(names):]:
        ax.set_visible(False)
    axes[0].legend(fontsize=7)
    return fig


def study_rmse(study: Any, *, figsize: tuple | None = None) -> Figure:
    """Distributions of the RMSE of alpha and beta across a study's datasets, per model.

    One panel per parameter; each model's RMSEs over datasets as a histogram
    with its median marked.  ``study`` is what :func:`jaxmh.study` returns.
    """
    fig = Figure(figsize=figsize or (10, 3.8), layout="constrained")
    axes = fig.subplots(1, 2)
    for ax, what in zip(axes, ("alpha", "beta")):
        values = [np.asarray(getattr(f, f"rmse_{what}")) for f in study.fits]
        lo, hi = min(v.min() for v in values), max(v.max() for v in values)
        edges = np.linspace(lo, hi, min(40, max(8, study.num_datasets // 5)) + 1) if hi > lo else 10
        for f, v in zip(study.fits, values):
            colour = _COLOURS.get(f.model)
            ax.hist(v, bins=edges, histtype="stepfilled", alpha=0.35, color=colour,
                    label=f"{f.model} (median {np.median(v):.3f})")
            ax.axvline(np.median(v), color=colour, lw=1.2)
        ax.set_xlabel(f"RMSE of posterior means of {what} vs truth")
        ax.set_ylabel("datasets")
        ax.legend(fontsize=8)
    fig.suptitle(f"{study.num_datasets} simulated datasets, {study.num_groups} x {study.group_size} each")
    return fig
