"""Pieces of a formula model's parameters shared by its updates: effects, covariance factors, the linear predictor.

Each function takes a parameter dict ``p`` and a :class:`jaxmh.models.formula.FormulaLayout`
(or one of its terms); none knows the likelihood family.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxmh import _smalllinalg as la
from jaxmh.priors import Normal

__all__ = ["corr_matrix", "scale_factor", "effects", "linear", "normal_parts"]


def corr_matrix(p: dict, term, dtype) -> jax.Array:
    k = len(term.columns)
    rows = [[None] * k for _ in range(k)]
    one, zero = jnp.ones((), dtype), jnp.zeros((), dtype)
    it = iter(term.cors)
    for i in range(k):
        rows[i][i] = one
        for j in range(i):
            v = jnp.asarray(p[next(it)], dtype) if term.correlated else zero
            rows[i][j] = rows[j][i] = v
    return jnp.stack([jnp.stack(r) for r in rows])


def scale_factor(p: dict, term, dtype) -> tuple[jax.Array, jax.Array]:
    """``(L_Sigma, L_Omega)``: Cholesky factors of the term's covariance and correlation matrices."""
    sd = jnp.stack([jnp.asarray(p[s], dtype) for s in term.sds])
    low_omega = la.cholesky(corr_matrix(p, term, dtype)) if term.correlated else jnp.eye(len(term.columns),
                                                                                          dtype=dtype)
    return sd[:, None] * low_omega, low_omega


def effects(p: dict, term) -> jax.Array:
    return jnp.stack([p[e] for e in term.effects], axis=-1)  # (L, k)


def linear(p: dict, data: dict, layout, skip: int | None = None, fixed: bool = True,
           terms_too: bool = True) -> jax.Array:
    """The linear predictor, without bar term ``skip`` (without the fixed effects if not ``fixed``, without
    any bar term if not ``terms_too``)."""
    X = data["X"]
    eta = jnp.zeros(X.shape[0], X.dtype)
    if fixed and layout.fixed:
        b = jnp.stack([p[k] for k in layout.fixed]).astype(X.dtype)
        eta = jnp.sum(X * b, axis=-1)
    for i, (term, f) in enumerate(zip(layout.terms, data["factors"])):
        if i == skip or not terms_too:
            continue
        eta = eta + jnp.sum(f["Z"] * effects(p, term)[f["index"]], axis=-1)
    return eta


def normal_parts(layout, chosen: dict, dtype) -> tuple[jax.Array, jax.Array, tuple]:
    """Prior precisions and precision-weighted means of the coefficients with normal priors (0 for the others),
    and the names of the others (corrected by Metropolis-Hastings)."""
    prec, pm, other = [], [], []
    for k in layout.fixed:
        p = chosen[k]
        if isinstance(p, Normal):
            prec.append(1.0 / (p.scale * p.scale))
            pm.append(p.loc / (p.scale * p.scale))
        else:
            prec.append(jnp.zeros((), dtype))
            pm.append(jnp.zeros((), dtype))
            other.append(k)
    return jnp.stack([jnp.asarray(v, dtype) for v in prec]), jnp.stack([jnp.asarray(v, dtype) for v in pm]), \
        tuple(other)
