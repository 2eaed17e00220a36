"""Matplotlib figures.  Every function returns the ``Figure``; none calls ``show()``."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

__all__ = ["shrinkage"]

_COLOURS = {"pooled": "#7f7f7f", "unpooled": "#d62728", "hierarchical": "#1f77b4"}


def shrinkage(comparison, *, figsize: tuple | None = None) -> Figure:
    """The tutorial's figure: per-individual posterior means against the truth.

    One panel per model in the plane (alpha, beta): true values as open
    circles, posterior means as dots, and one light segment from each
    individual's estimate to its *own* true value.  RMSEs in the corner.

    Parameters
    ----------
    comparison
        A :class:`jaxmh.compare.Comparison` with ``truth``.
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
