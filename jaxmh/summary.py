"""The summary table users read after a fit (in the manner of NumPyro's ``print_summary``)."""

from __future__ import annotations

import os
import warnings
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Mapping, Sequence

import jax
import numpy as np

from jaxmh import diagnostics, prior_checks, response_scale

__all__ = ["Summary", "summary", "convergence_advice", "RHAT_THRESHOLD", "ESS_PER_CHAIN"]

#: R-hat above this flags a parameter (Vehtari et al. 2021).
RHAT_THRESHOLD = 1.01
#: Bulk or tail ESS below this many per chain flags a parameter (Vehtari et al. 2021).
ESS_PER_CHAIN = 100

_COLUMNS = ("mean", "sd", "lower", "upper", "mcse_mean", "ess_bulk", "ess_tail", "rhat")


class Summary:
    """Per-parameter posterior summaries and convergence diagnostics.

    Rows are scalar parameters named ``sigma`` or ``alpha[3]`` (0-based
    indices, row-major for arrays of several dimensions).  ``lower`` and
    ``upper`` are the ``(1 - prob) / 2`` and ``(1 + prob) / 2`` quantiles.

    Attributes
    ----------
    names : list of str
    columns : dict of str -> numpy.ndarray
    num_chains, num_draws : int
    prob : float
    reached : dict
        Rows whose posterior reaches a bound of their prior:
        ``{row: (PriorBound, bound, share of draws at the edge)}``
        (:func:`jaxmh.prior_checks.reached_bounds`).
    """

    def __init__(self, names, columns, num_chains, num_draws, prob, reached=None):
        self.names = list(names)
        self.columns = {k: np.asarray(v, dtype=float) for k, v in columns.items()}
        self.num_chains = num_chains
        self.num_draws = num_draws
        self.prob = prob
        self.reached = dict(reached or {})

    def __len__(self) -> int:
        return len(self.names)

    def __getitem__(self, name: str) -> dict:
        """The row of parameter ``name`` as a dict."""
        i = self.names.index(name)
        return {k: float(v[i]) for k, v in self.columns.items()}

    def to_dict(self) -> dict:
        """``{parameter: {column: value}}`` in table order."""
        return {n: {k: float(v[i]) for k, v in self.columns.items()} for i, n in enumerate(self.names)}

    @property
    def flagged(self) -> dict:
        """Parameters that fail a threshold, with the reasons."""
        limit = ESS_PER_CHAIN * self.num_chains
        out = {}
        for i, n in enumerate(self.names):
            why = []
            r, eb, et = self.columns["rhat"][i], self.columns["ess_bulk"][i], self.columns["ess_tail"][i]
            if r > RHAT_THRESHOLD:
                why.append(f"R-hat {r:.3f}")
            if eb < limit:
                why.append(f"bulk ESS {eb:.0f}")
            if et < limit:
                why.append(f"tail ESS {et:.0f}")
            if why:
                out[n] = why
        return out

    def table(self, max_rows: int | None = None) -> str:
        """Aligned text table; ``max_rows`` keeps the first rows and says how many are left out.

        Columns with no value at all (quantiles, MCSE and ESS of a ``store="moments"``
        run, which need the draws) are left out, and a line says why.
        """
        lo, hi = 100 * (1 - self.prob) / 2, 100 * (1 + self.prob) / 2
        spec = [("mean", "mean", ".3f"), ("sd", "sd", ".3f"), (f"{lo:g}%", "lower", ".3f"),
                (f"{hi:g}%", "upper", ".3f"), ("mcse", "mcse_mean", ".3f"), ("ess_bulk", "ess_bulk", ".0f"),
                ("ess_tail", "ess_tail", ".0f"), ("r_hat", "rhat", ".3f")]
        shown_cols = [c for c in spec if len(self) == 0 or not np.all(np.isnan(self.columns[c[1]]))]
        width = max([len(n) for n in self.names] + [4])
        rows = [f"{'':>{width}}" + "".join(f"{head:>10}" for head, _, _ in shown_cols)]
        shown = self.names if max_rows is None else self.names[:max_rows]
        for i, name in enumerate(shown):
            rows.append(f"{name:>{width}}" + "".join(f"{self.columns[key][i]:>10{fmt}}"
                                                     for _, key, fmt in shown_cols))
        if len(shown) < len(self.names):
            rows.append(f"{'':>{width}}  ... {len(self.names) - len(shown)} more rows")
        if len(shown_cols) < len(spec):
            rows.append("(only running moments were kept (store='moments'): quantiles, MCSE and ESS need "
                        "the draws; R-hat is Gelman-Rubin's from chain means and variances)")
        return "\n".join(rows)

    def __str__(self) -> str:
        return self.table()

    def __repr__(self) -> str:
        return (f"Summary({len(self)} parameters, {self.num_chains} chains x {self.num_draws} draws)\n"
                + self.table(max_rows=20))


def _scalar_rows(name: str, shape: tuple, labels: Sequence[str] | None = None) -> list[str]:
    if shape == ():
        return [name]
    if labels is not None and len(shape) == 1 and len(labels) == shape[0]:
        return [f"{name}[{label}]" for label in labels]
    return [f"{name}[{','.join(map(str, idx))}]" for idx in np.ndindex(*shape)]


def summary(result_or_draws: Any, *, prob: float = 0.9, warn: bool = True,
            prior_bounds: Any = None, coords: Mapping[str, Sequence[str]] | None = None,
            scale: str = "link") -> Summary:
    """Summarise draws: mean, sd, central interval, MCSE, bulk/tail ESS and R-hat.

    Parameters
    ----------
    result_or_draws
        A :class:`jaxmh.Result`, or a dict (pytree) of arrays shaped
        ``(chain, draw, *event)``.
    prob
        Probability mass of the central interval (default 0.9: 5% and 95%).
    warn
        Emit one ``UserWarning`` listing parameters with R-hat > 1.01 or bulk or
        tail ESS < 100 per chain, and a :class:`jaxmh.prior_checks.PriorWarning`
        naming the parameters whose posterior reaches a bound of its prior (then
        the convergence warning does not advise running longer: the prior is the
        problem).
    prior_bounds
        The priors' bounds to check (default: the result's ``prior_bounds``,
        which :func:`jaxmh.fit` fills in from the model).
    coords
        ``{parameter: labels of its leading axis}``: rows ``name[label]``, listed
        after the parameters without labels (default: the result's ``coords``,
        from the model, e.g. a formula model's group labels).
    scale
        ``"link"`` (default): the parameters as sampled.  ``"response"``: a
        logit or log formula model's probabilities, rates, odds and rate
        ratios, overall and per group level (:mod:`jaxmh.response_scale`).

    Returns
    -------
    Summary
        Prints as an aligned table; ``.to_dict()``; ``.flagged``; ``.reached``.

    Examples
    --------
    >>> import numpy as np, jaxmh
    >>> s = jaxmh.summary({"x": np.random.default_rng(0).normal(size=(4, 1000))})
    >>> sorted(s.to_dict()["x"])[:3]
    ['ess_bulk', 'ess_tail', 'lower']
    """
    draws = getattr(result_or_draws, "draws", result_or_draws)
    if not (isinstance(prob, (int, float)) and 0 < prob < 1):
        raise ValueError(f"prob must be a number in (0, 1), got {prob!r}")
    if scale not in ("link", "response"):
        raise ValueError(f"scale must be 'link' or 'response', got {scale!r}")
    if scale == "response":
        if draws is None:
            raise ValueError("scale='response' needs the draws (this result was run with store='moments')")
        draws = response_scale.transform(draws, getattr(result_or_draws, "layout", None))
        prior_bounds = ()     # the priors' bounds are on the link scale
    moments = getattr(result_or_draws, "moments", None) if scale == "link" else None
    if prior_bounds is None:
        prior_bounds = getattr(result_or_draws, "prior_bounds", ())
    if coords is None:
        coords = getattr(result_or_draws, "coords", None) or {}
    if draws is None and moments is not None:
        out = _from_moments(moments, prob)
        if warn:
            _warn(out)
        return out
    if isinstance(draws, Mapping):
        items = list(draws.items())
    else:
        leaves = jax.tree_util.tree_flatten_with_path(draws)[0]
        items = [(jax.tree_util.keystr(p) or "x", v) for p, v in leaves]
    if not items:
        raise ValueError("no draws to summarise (store='draws' is needed for a summary)")
    if coords:
        items = [i for i in items if i[0] not in coords] + [i for i in items if i[0] in coords]
    names, chunks = [], []
    shapes = set()
    for name, value in items:
        x = np.asarray(value, dtype=np.float64)
        if x.ndim < 2:
            raise ValueError(f"draws of {name!r} must be shaped (chain, draw, ...), got {x.shape}")
        shapes.add(x.shape[:2])
        rows3 = diagnostics.as_rows(x)[0]          # (E, chain, draw), contiguous
        names += _scalar_rows(str(name), x.shape[2:], coords.get(name))
        chunks += np.array_split(rows3, -(-rows3.shape[0] // _ROWS_PER_TASK))
    # rows are independent: spread them over the cores (NumPy's sorts and FFTs release the GIL)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        with ThreadPoolExecutor(max_workers=max(1, min(os.cpu_count() or 1, len(chunks)))) as pool:
            parts = list(pool.map(lambda rows3: _columns(rows3, prob), chunks))
    cols = {k: [p[k] for p in parts] for k in _COLUMNS}
    if len(shapes) != 1:
        raise ValueError(f"all parameters need the same (chain, draw) shape, got {sorted(shapes)}")
    num_chains, num_draws = shapes.pop()
    reached = prior_checks.reached_bounds(dict(items), prior_bounds) if prior_bounds else {}
    out = Summary(names, {k: np.concatenate(v) for k, v in cols.items()}, num_chains, num_draws, prob,
                  reached)
    if warn:
        _warn(out)
    return out


#: Rows of a parameter summarised by one task of the thread pool.
_ROWS_PER_TASK = 16


def _columns(rows3: np.ndarray, prob: float) -> dict:
    """Every column of the summary for the rows of ``rows3`` shaped ``(E, chain, draw)``."""
    rows = rows3.reshape(rows3.shape[0], -1)
    lower, upper = np.quantile(rows, [(1 - prob) / 2, (1 + prob) / 2], axis=1)
    rhat, ess_bulk = diagnostics.rows_rhat_and_ess_bulk(rows3)
    return {"mean": rows.mean(axis=1),
            "sd": rows.std(axis=1, ddof=1) if rows.shape[1] > 1 else np.full(rows.shape[0], np.nan),
            "lower": lower, "upper": upper, "mcse_mean": diagnostics.rows_mcse_mean(rows3),
            "ess_bulk": ess_bulk, "ess_tail": diagnostics.rows_ess_tail(rows3), "rhat": rhat}


def _from_moments(moments: Any, prob: float) -> Summary:
    """Mean, sd and the moments R-hat of a ``store="moments"`` run (other columns NaN)."""
    count = np.asarray(moments.count, dtype=np.float64)
    means = jax.tree_util.tree_flatten_with_path(moments.mean)[0]
    variances = jax.tree_util.tree_leaves(moments.variance)
    names, cols = [], {k: [] for k in _COLUMNS}
    for (path, m), v in zip(means, variances):
        name = jax.tree_util.keystr(path).strip("[]'\"") or "x"
        m, v = np.asarray(m, np.float64), np.asarray(v, np.float64)
        names += _scalar_rows(name, m.shape[1:])
        m2, v2 = m.reshape(m.shape[0], -1), v.reshape(v.shape[0], -1)
        w = count[:, None]
        total = w.sum()
        mean = (w * m2).sum(axis=0) / total
        # pooled variance over all draws: within-chain sums of squares plus between-chain spread
        ss = ((w - 1) * v2).sum(axis=0) + (w * (m2 - mean) ** 2).sum(axis=0)
        cols["mean"].append(mean)
        cols["sd"].append(np.sqrt(ss / max(total - 1, 1)))
        cols["rhat"].append(np.atleast_1d(diagnostics.rhat_from_moments(count, m2, v2)))
        for k in ("lower", "upper", "mcse_mean", "ess_bulk", "ess_tail"):
            cols[k].append(np.full(m2.shape[1], np.nan))
    return Summary(names, {k: np.concatenate(v) for k, v in cols.items()}, int(count.size),
                   int(count[0]) if count.size else 0, prob)


def convergence_advice(out: Summary) -> str:
    """What to do about failed convergence checks: widen the priors if the posterior reaches
    a prior bound (running longer cannot help then), otherwise run longer."""
    if out.reached:
        return ("The posterior reaches a bound of its prior (see the prior warning): widen those priors; "
                "running longer will not help.")
    return "Run longer chains or a better-tuned sampler before trusting these numbers."


def _warn(out: Summary) -> None:
    if out.reached:
        warnings.warn(prior_checks.describe_reached(out.reached), prior_checks.PriorWarning, stacklevel=3)
    if out.flagged:
        flagged = out.flagged
        num_chains = out.num_chains
        # worst first (smallest ESS, then largest R-hat), so the message names what matters
        index = {n: i for i, n in enumerate(out.names)}
        c = out.columns

        def severity(name):
            i = index[name]
            ess = np.nanmin([c["ess_bulk"][i], c["ess_tail"][i]])
            return (ess if np.isfinite(ess) else -np.inf, -np.nan_to_num(c["rhat"][i], nan=np.inf))

        order = sorted(flagged, key=severity)
        listed = "; ".join(f"{n} ({', '.join(flagged[n])})" for n in order[:12])
        more = f"; and {len(flagged) - 12} more" if len(flagged) > 12 else ""
        warnings.warn(
            f"{len(flagged)} of {len(out)} parameters fail the convergence checks "
            f"(R-hat > {RHAT_THRESHOLD} or bulk/tail ESS < {ESS_PER_CHAIN} x {num_chains} chains): "
            f"{listed}{more}. {convergence_advice(out)}",
            UserWarning,
            stacklevel=3,
        )
