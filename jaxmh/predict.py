"""Predictions of a fitted formula model, for the rows it was fitted to or for new rows.

:func:`predict` evaluates the model's expected response (``kind="mean"`` or
``"draws"``) or draws new observations (``"predictive"``) at every posterior
draw.  New rows are coded as the fitted rows were: categorical columns keep
their reference level and coding, grouping factors their levels.  A level the
model has not seen gets, as asked by ``new_groups``:

``"sample"`` (default)
    its own draw of the group-level effects from their fitted distribution,
    one per posterior draw *and per new level* (independent across levels:
    brms and rstanarm have drawn one value shared by every new level, which
    makes new groups look perfectly correlated);
``"population"``
    effects of zero: the population-average prediction;
``"error"``
    a ``ValueError`` naming the new levels.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxmh import families
from jaxmh.columns import is_missing, read_columns
from jaxmh.design import design, level_label
from jaxmh.models import _formula_terms as terms

KINDS = ("mean", "draws", "predictive")
NEW_GROUPS = ("sample", "population", "error")
SCALES = ("response", "link")


def _layout_of(result: Any) -> Any:
    model = getattr(result, "model", None)
    layout = getattr(model, "layout", None)
    if layout is None or getattr(layout, "source", None) is None:
        raise ValueError("result: predictions need a formula model's fit (jaxmh.fit of jaxmh.model(...)); this "
                         "result does not record one")
    if not jax.tree_util.tree_leaves(result.draws):
        raise ValueError("result: it holds no draws (run with store='draws' or 'both' to predict)")
    return model, layout


def _combined(layout: Any, newdata: Any) -> tuple[dict, int]:
    """The fitted rows followed by the new ones, column by column, coded alike (a new row's missing
    response is a placeholder)."""
    source = layout.source
    new = read_columns(newdata)
    out = {}
    for name, old in source.items():
        if name not in new.values:
            if name == layout.response:
                out[name] = np.concatenate([old, np.repeat(old[:1], new.num_rows)])
                continue
            raise ValueError(f"newdata: it has no column {name!r}, which the model uses; columns: "
                             f"{', '.join(new.names) or '(none)'}")
        v = new.values[name]
        if old.dtype.kind in "US" and v.dtype.kind == "f":
            v = np.array([level_label(x) for x in v])
        elif old.dtype.kind == "f" and v.dtype.kind in "US":
            raise ValueError(f"newdata: column {name!r} has text values, but the model was fitted to numbers "
                             "in it")
        bad = is_missing(v) | (~np.isfinite(v) if v.dtype.kind == "f" else False)
        if name != layout.response and np.any(bad):
            more = f", and {int(bad.sum()) - 1} more" if bad.sum() > 1 else ""
            raise ValueError(f"newdata: column {name!r} has missing or infinite values (row "
                             f"{int(np.flatnonzero(bad)[0]) + 1} of the new rows{more})")
        out[name] = np.concatenate([old, v])
    return out, new.num_rows


def _new_rows(layout: Any, newdata: Any, extra: dict) -> dict:
    """``X``, per-term ``(index, Z, new labels)`` and extra columns of ``newdata``, coded as the fitted rows."""
    cols, m = _combined(layout, newdata)
    n_fit = len(next(iter(layout.source.values())))
    d = design(layout.formula, cols, extra_columns=extra, text_response=layout.family == "bernoulli")
    if d.fixed_names != tuple(layout.fixed):
        unseen = [k for k in d.fixed_names if k not in layout.fixed]
        raise ValueError(f"newdata: it has levels of a categorical predictor the model was not fitted to "
                         f"({', '.join(unseen)}); a fixed effect cannot be predicted for a level it never saw")
    out = {"X": d.X[n_fit:], "factors": [], "extra": {k: v[n_fit:] for k, v in d.extra.items()}}
    for term, f in zip(layout.terms, d.factors):
        known = {lab: i for i, lab in enumerate(term.labels)}
        labels = [f.labels[i] for i in f.index[n_fit:]]
        new_labels = list(dict.fromkeys(lab for lab in labels if lab not in known))
        where = {lab: len(term.labels) + j for j, lab in enumerate(new_labels)}
        index = np.array([known.get(lab, where.get(lab)) for lab in labels], np.int64).reshape(m)
        out["factors"].append({"index": index, "Z": f.Z[n_fit:], "new": tuple(new_labels)})
    return out


def _fitted_rows(model: Any, layout: Any) -> dict:
    data = model.data
    extra = {}
    if layout.family != "gaussian":
        extra = {"trials": np.asarray(data["trials"]), "offset": np.asarray(data["offset"])}
    return {"X": np.asarray(data["X"]), "extra": extra,
            "factors": [{"index": np.asarray(f["index"]), "Z": np.asarray(f["Z"]), "new": ()}
                        for f in data["factors"]]}


def predict(result: Any, newdata: Any = None, *, kind: str = "mean", new_groups: str = "sample",
            scale: str = "response", key: jax.Array | None = None) -> np.ndarray:
    """Predictions of a fitted formula model at every posterior draw.

    Parameters
    ----------
    result
        A :class:`jaxmh.Result` of :func:`jaxmh.fit` on a :func:`jaxmh.model`.
    newdata
        Rows to predict (CSV path, dict of columns, DataFrame) with the
        predictors and grouping columns the formula uses (the response is not
        needed; a binomial model's trials and a Poisson model's offset are, when
        the model has them); default: the rows the model was fitted to.
    kind
        ``"mean"``: the posterior mean of the expected response, ``(rows,)``;
        ``"draws"``: the expected response at every draw, ``(chain, draw, rows)``;
        ``"predictive"``: new observations drawn at every draw (the posterior
        predictive distribution), ``(chain, draw, rows)``.
    new_groups
        A grouping level the model has not seen: ``"sample"`` its effects, one
        draw per posterior draw and per level; ``"population"``: zero effects;
        ``"error"``: raise.
    scale
        ``"response"`` (default): the expected response -- ``mu`` (Gaussian),
        the probability (Bernoulli), expected successes ``trials x p``
        (binomial), the expected count ``exp(eta + offset)`` (Poisson);
        ``"link"``: the linear predictor ``eta`` (with the offset).
    key
        PRNG key for new levels' effects and predictive draws (default ``jax.random.key(0)``).

    Returns
    -------
    numpy.ndarray

    Examples
    --------
    >>> import jax, jaxmh
    >>> rows = {"y": [1.0, 2.1, 2.9, 4.2, 3.8, 5.1], "x": [0, 1, 2, 3, 2, 4], "g": ["a", "a", "a", "b", "b", "b"]}
    >>> fit = jaxmh.fit(jax.random.key(0), jaxmh.model("y ~ x + (1 | g)", rows), num_samples=100, progress=False)
    >>> jaxmh.predict(fit, {"x": [1.0, 1.0], "g": ["a", "a new one"]}).shape
    (2,)
    >>> jaxmh.predict(fit, {"x": [1.0], "g": ["b"]}, kind="draws").shape        # (chain, draw, row)
    (4, 100, 1)
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    if new_groups not in NEW_GROUPS:
        raise ValueError(f"new_groups must be one of {', '.join(NEW_GROUPS)}, got {new_groups!r}")
    if scale not in SCALES:
        raise ValueError(f"scale must be one of {', '.join(SCALES)}, got {scale!r}")
    if kind == "predictive" and scale != "response":
        raise ValueError("scale: predictive draws are observations, on the response scale only")
    model, layout = _layout_of(result)
    family = families.get(layout.family)
    key = jax.random.key(0) if key is None else key
    if newdata is None:
        rows = _fitted_rows(model, layout)
    else:
        rows = _new_rows(layout, newdata, {r: c for r, c in layout.roles.items() if isinstance(c, str)})
        for term, f in zip(layout.terms, rows["factors"]):
            if f["new"] and new_groups == "error":
                shown = ", ".join(repr(v) for v in f["new"][:10])
                raise ValueError(f"newdata: level(s) of {term.factor!r} the model was not fitted to: {shown}"
                                 f"{' ...' if len(f['new']) > 10 else ''} (new_groups='sample' draws their "
                                 "effects, 'population' predicts the population average)")
    trials = jnp.asarray(rows["extra"].get("trials", layout.roles.get("trials", 1.0)), jnp.result_type(float))
    offset = jnp.asarray(rows["extra"].get("offset", 0.0), jnp.result_type(float))
    draws = {k: jnp.asarray(v) for k, v in result.draws.items()}
    dtype = jnp.result_type(float)
    k_new, k_obs = jax.random.split(key)
    eta = _linear_draws(layout, rows, draws, new_groups, k_new, dtype) + offset   # (chain, draw, rows)
    if scale == "link" or layout.family == "gaussian":
        out = eta
    else:
        out = family.inverse_link(eta) * (trials if layout.family == "binomial" else 1.0)
    if kind == "predictive":
        out = _observe(layout.family, k_obs, out, draws, trials)
    out = np.asarray(out)
    return out.mean(axis=(0, 1)) if kind == "mean" else out


def _linear_draws(layout: Any, rows: dict, draws: dict, new_groups: str, key: jax.Array, dtype) -> jax.Array:
    X = jnp.asarray(rows["X"], dtype)
    num_chains, num_draws = next(iter(draws.values())).shape[:2]
    eta = jnp.zeros((num_chains, num_draws, X.shape[0]), dtype)
    if layout.fixed:
        b = jnp.stack([draws[k] for k in layout.fixed], axis=-1).astype(dtype)       # (c, s, p)
        eta = eta + jnp.einsum("csp,np->csn", b, X)
    for t, (term, f) in enumerate(zip(layout.terms, rows["factors"])):
        u = jnp.stack([draws[e] for e in term.effects], axis=-1).astype(dtype)      # (c, s, L, k)
        if f["new"]:
            k_ = len(term.columns)
            if new_groups == "sample":
                z = jax.random.normal(jax.random.fold_in(key, t), (num_chains, num_draws, len(f["new"]), k_), dtype)
                one = {n: draws[n] for n in term.sds + term.cors}
                low = jax.vmap(jax.vmap(lambda p: terms.scale_factor(p, term, dtype)[0]))(one)   # (c, s, k, k)
                extra = jnp.einsum("csij,csmj->csmi", low, z)
            else:
                extra = jnp.zeros((num_chains, num_draws, len(f["new"]), k_), dtype)
            u = jnp.concatenate([u, extra], axis=2)
        Z = jnp.asarray(f["Z"], dtype)
        eta = eta + jnp.sum(Z[None, None] * u[:, :, jnp.asarray(f["index"])], axis=-1)
    return eta


def _observe(family: str, key: jax.Array, mean: jax.Array, draws: dict, trials: jax.Array) -> jax.Array:
    if family == "gaussian":
        sigma = jnp.asarray(draws["sigma"])[..., None]
        return mean + sigma * jax.random.normal(key, mean.shape, mean.dtype)
    if family == "poisson":
        return jax.random.poisson(key, mean, mean.shape).astype(mean.dtype)
    n = jnp.broadcast_to(trials, mean.shape)
    p = jnp.clip(mean / n, 0.0, 1.0)
    return jax.random.binomial(key, n, p, mean.shape).astype(mean.dtype)
