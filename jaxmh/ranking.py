"""Rank fitted models by how well they predict left-out data (PSIS-LOO, :mod:`jaxmh.psis_loo`).

:func:`compare_models` orders models by elpd_loo and gives each its difference
to the best with the standard error of that paired difference,
``sqrt(n var(elpd_i - elpd_i_best))`` (Vehtari, Gelman & Gabry 2017, section
5.2; ArviZ's ``compare`` and the loo package's ``loo_compare`` do the same).
A difference is called within noise when it is smaller than 4 (Sivula,
Magnusson, Matamoros & Vehtari 2022: below 4 the normal approximation of its
uncertainty is poor and the models predict about equally well) or than two of
its standard errors.
"""

from __future__ import annotations

import warnings
from typing import Any, Mapping, NamedTuple

import numpy as np

from jaxmh import psis_loo as loo_mod

#: A difference in elpd smaller than this is "within noise" whatever its standard error (Sivula et al. 2022).
SMALL_DIFFERENCE = 4.0


class Ranked(NamedTuple):
    """One model's row of :class:`Ranking`."""

    name: str
    elpd_loo: float
    se: float
    p_loo: float
    elpd_diff: float      # this model's elpd_loo minus the best's (0 for the best, negative otherwise)
    se_diff: float        # standard error of that paired difference (0 for the best)
    within_noise: bool    # the difference is under 4 or under 2 se_diff
    high_k: int           # observations with Pareto k above the threshold


class Ranking(NamedTuple):
    """Models ordered by elpd_loo, best first (:func:`compare_models`); ``loos``: each model's :class:`Loo`."""

    rows: tuple
    loos: dict

    @property
    def best(self) -> str:
        return self.rows[0].name

    def to_dict(self) -> dict:
        return {r.name: r._asdict() for r in self.rows}

    def table(self, extra: Mapping[str, str] | None = None) -> str:
        """The ranking as aligned text; ``extra``: ``{"header": text, name: text}`` columns shown before the
        verdict (e.g. each fit's convergence)."""
        extra = extra or {}
        width = max(8, *(len(r.name) for r in self.rows))
        head = (f"{'model':<{width}}  {'elpd_loo':>9}  {'se':>6}  {'elpd_diff':>9}  {'se_diff':>7}  "
                f"{'p_loo':>6}  {'k>good':>6}  " + (extra["header"] + "  " if "header" in extra else "") + "verdict")
        lines = [head]
        for i, r in enumerate(self.rows):
            verdict = "best" if i == 0 else ("within noise of the best" if r.within_noise else "worse")
            lines.append(f"{r.name:<{width}}  {r.elpd_loo:9.1f}  {r.se:6.1f}  {r.elpd_diff:9.1f}  "
                         f"{r.se_diff:7.1f}  {r.p_loo:6.1f}  {r.high_k:6d}  "
                         + (extra[r.name] + "  " if r.name in extra else "") + verdict)
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()


def compare_models(models: Mapping[str, Any], *, warn: bool = True) -> Ranking:
    """Rank fitted models by PSIS-LOO.

    Parameters
    ----------
    models
        ``{name: result}``: :class:`jaxmh.Result` of :func:`jaxmh.fit` (or
        :class:`jaxmh.psis_loo.Loo` already computed), all fitted to the same
        observations in the same order.
    warn
        Pass on :func:`jaxmh.loo`'s warning about high Pareto k.

    Returns
    -------
    Ranking
        Rows best first: elpd_loo, se, elpd_diff (to the best; negative),
        se_diff (paired), p_loo, the count of high-k observations, and whether
        the difference is within noise.
    """
    if not isinstance(models, Mapping) or len(models) < 2:
        raise ValueError("models: expected a dict {name: fitted result} of at least two models")
    loos = {}
    for name, r in models.items():
        if isinstance(r, loo_mod.Loo):
            loos[name] = r
            continue
        loos[name] = loo_mod.loo(r, warn=False)
        if warn and len(loos[name].high_k):
            warnings.warn(f"{name}: {loo_mod.high_k_message(loos[name])}", loo_mod.LooWarning, stacklevel=2)
    sizes = {name: len(v.elpd_i) for name, v in loos.items()}
    if len(set(sizes.values())) > 1:
        raise ValueError(f"models: they were fitted to different numbers of observations ({sizes}); "
                         "LOO compares models of the same data only")
    order = sorted(loos, key=lambda k: -loos[k].elpd_loo)
    best = loos[order[0]]
    rows = []
    for name in order:
        v = loos[name]
        diff_i = v.elpd_i - best.elpd_i
        diff = float(np.sum(diff_i))
        se_diff = float(np.sqrt(len(diff_i) * np.var(diff_i)))
        rows.append(Ranked(name, v.elpd_loo, v.se, v.p_loo, diff, se_diff,
                           abs(diff) < max(SMALL_DIFFERENCE, 2.0 * se_diff), len(v.high_k)))
    return Ranking(tuple(rows), loos)
