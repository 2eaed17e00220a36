"""Matplotlib figures.  Every function returns the ``Figure``; none calls ``show()``."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from jaxmh.ppc import ppc

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["shrinkage", "trace", "rank", "select", "caterpillar", "partial_pooling", "study_rmse", "ppc",
           "loo_compare"]


def _new_figure(**kwargs: Any) -> "Figure":
    """A matplotlib ``Figure`` (matplotlib is imported here, on first use: ``import jaxmh`` does not pay
    for it)."""
    from matplotlib.figure import Figure

    return Figure(**kwargs)


_COLOURS = {"pooled": "#7f7f7f", "unpooled": "#d62728", "hierarchical": "#1f77b4"}
_WARNING_COLOUR = "#b2182b"
#: Height in points of a frameless one-row legend in 7-point type (room made for it above an axes).
_LEGEND_ROW_HEIGHT = 16.0


def shrinkage(comparison, *, figsize: tuple | None = None) -> Figure:
    """The tutorial's figure: per-individual posterior means against the truth.

    One panel per model in the plane (alpha, beta): true values as open
    circles, posterior means as dots, and one light segment from each
    individual's estimate to its *own* true value.  RMSEs in the corner.
    A model whose fit did not converge (:meth:`jaxmh.Comparison.converged`)
    says so in red under its panel title, with its worst R-hat and bulk ESS:
    its estimates and RMSEs are not yet to be trusted.

    Parameters
    ----------
    comparison
        A :class:`jaxmh.Comparison` with ``truth``.
    figsize
        Figure size in inches; by default 4.2 wide per model and 4.4 high.

    Returns
    -------
    matplotlib.figure.Figure
    """
    truth = comparison.truth
    fits = comparison.fits
    if truth is None:
        raise ValueError("comparison.truth is None: the shrinkage plot needs the true alpha and beta")
    n = len(fits)
    fig = _new_figure(figsize=figsize or (4.2 * n, 4.4), layout="constrained")
    axes = fig.subplots(1, n, sharex=True, sharey=True, squeeze=False)[0]
    ta, tb = np.asarray(truth["alpha"]), np.asarray(truth["beta"])
    for ax, fit in zip(axes, fits):
        colour = _COLOURS.get(fit.model, "C2")
        segments_x = np.stack([fit.alpha_mean, ta, np.full_like(ta, np.nan)], axis=1).ravel()
        segments_y = np.stack([fit.beta_mean, tb, np.full_like(tb, np.nan)], axis=1).ravel()
        ax.plot(segments_x, segments_y, color=colour, alpha=0.3, lw=0.8)
        ax.scatter(ta, tb, facecolors="none", edgecolors="black", s=22, lw=0.8, label="truth")
        ax.scatter(fit.alpha_mean, fit.beta_mean, color=colour, s=14, label="posterior mean")
        if _converged(comparison, fit):
            ax.set_title(fit.model)
        else:
            ax.set_title(fit.model + "\n" + _not_converged_note(fit), color=_WARNING_COLOUR)
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


def _converged(comparison: Any, fit: Any) -> bool:
    """``comparison.converged(fit)``; true when that cannot be told (no check, or no draws kept)."""
    check = getattr(comparison, "converged", None)
    if check is None or getattr(fit, "result", None) is None:
        return True
    return bool(check(fit))


def _not_converged_note(fit: Any) -> str:
    """``"not converged: R-hat 1.78, bulk ESS 35"`` from a :class:`jaxmh.ModelFit`."""
    return f"not converged: R-hat {fit.max_rhat:.2f}, bulk ESS {fit.min_ess_bulk:.0f}"


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
    fig = _new_figure(figsize=(9, 1.9 * len(names) + 0.4), layout="constrained")
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
    fig = _new_figure(figsize=(4.5 * min(len(names), 3), 3.2 * int(np.ceil(len(names) / 3))),
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


def _group_draws(result_or_draws: Any, param: str) -> np.ndarray:
    draws = getattr(result_or_draws, "draws", result_or_draws)
    if param not in draws:
        raise ValueError(f"unknown parameter {param!r}; the draws have {sorted(draws)}")
    x = np.asarray(draws[param], dtype=np.float64)
    if x.ndim != 3:
        raise ValueError(f"{param!r} must be a per-group parameter shaped (chain, draw, group), got {x.shape}")
    return x.reshape(-1, x.shape[2])


def _check_labels(labels, num_groups: int) -> list[str]:
    if labels is None:
        return [str(g) for g in range(num_groups)]
    labels = [str(v) for v in labels]
    if len(labels) != num_groups:
        raise ValueError(f"labels has {len(labels)} names for {num_groups} groups")
    return labels


def caterpillar(result_or_draws: Any, params: str | Sequence[str], labels: Sequence[str] | None = None,
                *, prob: float = 0.9, sort: bool = True, scale: str = "link") -> Figure:
    """Caterpillar plot: each group's posterior mean and central interval, one panel per parameter.

    Parameters
    ----------
    result_or_draws
        A :class:`jaxmh.Result` or a dict of draws ``(chain, draw, group)``.
    params
        A per-group parameter (``"alpha"``) or several (one panel each).
    labels
        Group names (``data.labels``); default ``0..G-1``.
    prob
        Mass of the interval (default 0.9); a thicker bar shows the central 50%.
    sort
        Order each panel's groups by posterior mean (default) or keep data order.
    scale
        ``"link"`` (default) or ``"response"``: a logit or log formula model's
        levels as probabilities, rates or ratios (:mod:`jaxmh.response_scale`;
        needs the :class:`jaxmh.Result` of such a model).

    When the draws hold ``mu_<param>`` (a hierarchical mean), its posterior
    mean is drawn as a dashed line.
    """
    if not (isinstance(prob, (int, float)) and 0 < prob < 1):
        raise ValueError(f"prob must be a number in (0, 1), got {prob!r}")
    if scale not in ("link", "response"):
        raise ValueError(f"scale must be 'link' or 'response', got {scale!r}")
    if scale == "response":
        from jaxmh import response_scale
        draws = response_scale.transform(getattr(result_or_draws, "draws", None),
                                         getattr(result_or_draws, "layout", None))
        result_or_draws = result_or_draws._replace(draws=draws)
    names = [params] if isinstance(params, str) else list(params)
    if not names:
        raise ValueError("params is empty: name at least one per-group parameter")
    flats = [_group_draws(result_or_draws, n) for n in names]
    num_groups = flats[0].shape[1]
    labels = _check_labels(labels, num_groups)
    draws = getattr(result_or_draws, "draws", result_or_draws)
    height = max(3.0, 0.16 * num_groups + 1.0)
    fig = _new_figure(figsize=(3.6 * len(names) + 1.2, height), layout="constrained")
    axes = fig.subplots(1, len(names), squeeze=False)[0]
    fontsize = 8 if num_groups <= 40 else 6
    for ax, name, x in zip(axes, names, flats):
        mean = x.mean(axis=0)
        lo, hi = np.quantile(x, [(1 - prob) / 2, (1 + prob) / 2], axis=0)
        q25, q75 = np.quantile(x, [0.25, 0.75], axis=0)
        order = np.argsort(mean, kind="stable") if sort else np.arange(num_groups)[::-1]
        rows = np.arange(num_groups)
        ax.hlines(rows, lo[order], hi[order], color="#1f77b4", lw=0.8)
        ax.hlines(rows, q25[order], q75[order], color="#1f77b4", lw=2.2)
        ax.plot(mean[order], rows, "o", color="#1f77b4", ms=3)
        hyper = f"mu_{name}"
        title_pad = 6.0                        # points: matplotlib's default
        if hyper in draws and np.ndim(draws[hyper]) == 2:
            ax.axvline(float(np.mean(draws[hyper])), color="black", ls="--", lw=0.8,
                       label=f"{hyper} (posterior mean)")
            # above the axes, under the title: inside, it would hide the groups in its corner
            ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), borderaxespad=0.2, fontsize=7,
                      frameon=False)
            title_pad += _LEGEND_ROW_HEIGHT
        ax.set_yticks(rows, [labels[g] for g in order], fontsize=fontsize)
        ax.set_ylim(-1, num_groups)
        ax.set_xlabel(name)
        ax.set_title(f"{name}: mean, 50% and {100 * prob:g}% intervals", fontsize=9, pad=title_pad)
        ax.grid(axis="x", alpha=0.3)
    return fig


class _CountTicks:
    """Ticks at whole numbers on a log x axis of counts (group sizes), spaced so their labels fit.

    The candidates are 1-9, 1-2-3-5, 1-2-5, 1-3 and 1 per decade, and, for a range
    too narrow for those, the multiples of 1, 2, 5, 10, 20, 50, ...; the one with the
    most ticks wins whose neighbouring labels (estimated at 0.65 em per digit) keep
    at least an em apart on the axis as drawn.
    """

    _MANTISSAS = ((1, 2, 3, 4, 5, 6, 7, 8, 9), (1, 2, 3, 5), (1, 2, 5), (1, 3), (1,))

    @classmethod
    def count_ticks(cls, vmin: float, vmax: float, length: float, size: float) -> np.ndarray:
        """Ticks in ``[vmin, vmax]`` for an axis ``length`` points long with ``size``-point labels."""
        lo, hi = sorted((float(vmin), float(vmax)))
        lo = max(lo, 1.0)
        if not (np.isfinite(lo) and np.isfinite(hi) and hi > lo):
            return np.array([])
        decades = 10.0 ** np.arange(np.floor(np.log10(lo)), np.floor(np.log10(hi)) + 1)
        candidates = [np.outer(decades, m).ravel() for m in cls._MANTISSAS]
        for step in np.outer(10.0 ** np.arange(np.floor(np.log10(hi)) + 1), (1, 2, 5)).ravel():
            if (hi - lo) / step <= 50:
                candidates.append(step * np.arange(np.ceil(lo / step), np.floor(hi / step) + 1))
        scale = length / np.log10(hi / lo)

        def fits(ticks):
            position = np.log10(ticks) * scale
            width = 0.65 * size * np.array([len(f"{t:.0f}") for t in ticks])
            return np.all(np.diff(position) >= (width[1:] + width[:-1]) / 2 + size)

        best = np.array([])
        for ticks in candidates:
            ticks = np.sort(ticks[(ticks >= lo) & (ticks <= hi)])
            if len(ticks) > len(best) and fits(ticks):
                best = ticks
        return best


@lru_cache(maxsize=1)
def _count_locator_class() -> type:
    """:class:`_CountTicks` as a matplotlib ``Locator`` (made on first use, when matplotlib is imported)."""
    from matplotlib import rcParams
    from matplotlib.font_manager import FontProperties
    from matplotlib.ticker import Locator

    class _CountLocator(Locator, _CountTicks):
        def __call__(self) -> np.ndarray:
            axes = self.axis.axes
            length = axes.bbox.width * 72.0 / axes.figure.dpi
            size = FontProperties(size=rcParams["xtick.labelsize"]).get_size_in_points()
            return self.count_ticks(*self.axis.get_view_interval(), length, size)

        def tick_values(self, vmin: float, vmax: float) -> np.ndarray:
            return self.count_ticks(vmin, vmax, 288.0, 10.0)

    return _CountLocator


def partial_pooling(hierarchical: Any, unpooled: Any, params: str | Sequence[str], *,
                    group_sizes: Sequence[int], identified: dict | None = None) -> Figure:
    """Shrinkage on real data: unpooled against hierarchical estimates per group, by group size.

    Without a truth to compare with, this is how partial pooling shows: each
    group's unpooled posterior mean (open red circle) is joined to its
    hierarchical posterior mean (blue dot), plotted against the group's number
    of rows (log scale).  Small groups are pulled strongly towards the
    hierarchical mean (dashed line, when the draws hold ``mu_<param>``), large
    groups hardly at all.

    Parameters
    ----------
    hierarchical, unpooled
        :class:`jaxmh.Result` (or dicts of draws) of the two fits on the same data.
    params
        Per-group parameter(s) present in both (one panel each).
    group_sizes
        Rows per group (``data.group_sizes``).
    identified
        Optional ``{param: bool mask (G,)}``: groups whose own rows cannot
        identify the unpooled estimate (e.g. a slope from one row) are left
        out, and the panel says how many.
    """
    names = [params] if isinstance(params, str) else list(params)
    if not names:
        raise ValueError("params is empty: name at least one per-group parameter")
    sizes = np.asarray(group_sizes, dtype=np.float64)
    fig = _new_figure(figsize=(4.6 * len(names), 4.0), layout="constrained")
    axes = fig.subplots(1, len(names), squeeze=False)[0]
    draws_h = getattr(hierarchical, "draws", hierarchical)
    for ax, name in zip(axes, names):
        h = _group_draws(hierarchical, name).mean(axis=0)
        u = _group_draws(unpooled, name).mean(axis=0)
        if not (h.shape == u.shape == sizes.shape):
            raise ValueError(f"{name}: hierarchical {h.shape}, unpooled {u.shape} and group_sizes "
                             f"{sizes.shape} must all have one entry per group")
        keep = np.ones(h.shape, bool)
        if identified is not None and name in identified:
            keep = np.asarray(identified[name], bool)
            if keep.shape != h.shape:
                raise ValueError(f"identified[{name!r}] must have one entry per group, got {keep.shape}")
        # a small multiplicative jitter so groups of equal size do not hide one another
        jitter = np.exp(np.random.default_rng(0).uniform(-0.06, 0.06, sizes.shape))
        xs = sizes * jitter
        segments_x = np.stack([xs, xs, np.full_like(xs, np.nan)], axis=1)[keep].ravel()
        segments_y = np.stack([u, h, np.full_like(h, np.nan)], axis=1)[keep].ravel()
        ax.plot(segments_x, segments_y, color="#7f7f7f", lw=0.6, alpha=0.7)
        ax.scatter(xs[keep], u[keep], facecolors="none", edgecolors=_COLOURS["unpooled"], s=18, lw=0.8,
                   label="unpooled")
        ax.scatter(xs[keep], h[keep], color=_COLOURS["hierarchical"], s=12, label="hierarchical")
        hyper = f"mu_{name}"
        if hyper in draws_h and np.ndim(draws_h[hyper]) == 2:
            ax.axhline(float(np.mean(draws_h[hyper])), color="black", ls="--", lw=0.8, label=hyper)
        ax.set_xscale("log")
        # whole-number labels that do not collide: matplotlib's own print 6x10^0, 7x10^0, ...
        # on top of one another when all groups are of similar size
        ax.set_xlim(sizes.min() / 1.09, sizes.max() * 1.09)     # room for the jitter (< 6.2%)
        from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

        ax.xaxis.set_major_locator(_count_locator_class()())
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.0f}"))
        ax.xaxis.set_minor_locator(LogLocator(subs="auto"))
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel("rows in group")
        ax.set_ylabel(f"posterior mean of {name}")
        left_out = int(np.sum(~keep))
        note = f"{left_out} group(s) not identified by their own rows: not shown" if left_out else ""
        ax.set_title(name + (f"\n{note}" if note else ""), fontsize=9)
        ax.legend(fontsize=7, loc="best")
    return fig


def study_rmse(study: Any, *, figsize: tuple | None = None) -> Figure:
    """Distributions of the RMSE of alpha and beta across a study's datasets, per model.

    One panel per parameter; each model's RMSEs over datasets as a histogram
    with its median marked.  ``study`` is what :func:`jaxmh.study` returns.
    """
    fig = _new_figure(figsize=figsize or (10, 3.8), layout="constrained")
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


def loo_compare(ranking: Any, *, figsize: tuple | None = None) -> Figure:
    """Models ranked by PSIS-LOO (:func:`jaxmh.compare_models`): each model's elpd_loo difference to the
    best with its paired standard error (bars of 2 se), best at the top.

    A bar that reaches 0 (or a difference under 4) marks a model whose difference
    to the best is within noise.

    Returns
    -------
    matplotlib.figure.Figure
    """
    rows = list(getattr(ranking, "rows", ()))
    if not rows:
        raise ValueError("ranking: expected the result of jaxmh.compare_models")
    fig = _new_figure(figsize=figsize or (6.4, 0.55 * len(rows) + 1.3), layout="constrained")
    ax = fig.subplots()
    pos = np.arange(len(rows))[::-1]
    diffs = np.array([r.elpd_diff for r in rows])
    errs = np.array([2 * r.se_diff for r in rows])
    colours = ["black" if i == 0 else ("#7f7f7f" if r.within_noise else "#1f77b4") for i, r in enumerate(rows)]
    ax.axvline(0.0, color="#bdbdbd", lw=1)
    ax.errorbar(diffs, pos, xerr=errs, fmt="none", ecolor=colours, lw=1.4)
    ax.scatter(diffs, pos, c=colours, s=28, zorder=3)
    ax.set_yticks(pos, [f"{r.name}\nelpd {r.elpd_loo:.1f} (se {r.se:.1f})" for r in rows], fontsize=7)
    ax.set_xlabel("elpd_loo difference to the best model (bars: 2 paired se)")
    ax.set_title("leave-one-out comparison (grey: within noise of the best)", fontsize=9)
    return fig
