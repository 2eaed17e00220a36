"""Models from lme4-style formulas: ``jaxmh.model("Reaction ~ Days + (Days | Subject)", data)``.

The Bernoulli, binomial and Poisson families (``family=``; :mod:`jaxmh.families`)
replace the Gaussian likelihood by theirs on the logit or log link, drop
``sigma``, take link-scale default priors (:func:`glm_default_priors`;
docs/formulas.md) and are sampled by the updates of
:mod:`jaxmh.models._glm_updates`.  The model, for the Gaussian family::

    y_i ~ N(X_i b + sum_f Z_fi u_f[g_f(i)], sigma^2)
    u_f[l] ~ N(0, diag(sd_f) Omega_f diag(sd_f))      for every level l of factor term f
    Omega_f ~ LKJ(eta)                                (correlated terms with k > 1)

``X`` is the fixed-effects design (:func:`jaxmh.design.design`), ``Z_f`` a
bar term's few columns and ``g_f`` its level index: no matrix is ever dense
over levels.  Parameters are named as brms and lme4 users read them:
``Intercept``, ``Days``, ``period[2]``, ``a:b`` (fixed effects), ``sigma``,
``sd(Days|Subject)``, ``cor(Intercept,Days|Subject)``, and the group-level
deviations ``Days|Subject`` (one entry per level; summary rows
``Days|Subject[308]`` by the level's label).

**Priors** by class, as in brms: ``Intercept`` (the intercept as written, at
all predictors 0), ``b`` (every other coefficient) or one coefficient by name,
``sd`` or ``sd(TERM|GROUP)``, ``cor`` or ``cor(GROUP)`` (LKJ), ``sigma``; the
most specific name wins.  Defaults are scaled to the data
(:mod:`jaxmh.default_priors`' scheme), with ``m_y, s_y`` the mean and sd of
the response and ``m_j, s_j`` those of design column ``j``:

==================  ==========================================================
class               default prior
==================  ==========================================================
``Intercept``       ``normal(m_y, 2.5 s_y sqrt(1 + sum_j m_j^2 / s_j^2))``
``b`` (column j)    ``normal(0, 2.5 s_y / s_j)``
``sd(TERM|GROUP)``  ``exponential(s_t / s_y)`` (mean ``s_y / s_t``; ``s_t`` the
                    term's column sd, 1 for the intercept)
``cor``             ``lkj(1)`` (uniform over correlation matrices)
``sigma``           ``exponential(1 / s_y)``
==================  ==========================================================

An ``s`` of 0 counts as 1.  The sampler (:mod:`jaxmh.kernels.gibbs`) draws
the fixed effects and each factor's effects of every level jointly and exactly
from their Gaussian full conditional (batched small Cholesky solves; a
Metropolis-Hastings correction for non-normal priors on coefficients), the
scales from their likelihood parts given the effects and given the
standardised effects (prior-ratio corrections), and the correlations by a
tuned random walk with interweaving (docs/formulas.md).
"""

from __future__ import annotations

import math
from typing import Any, Mapping, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxmh import _smalllinalg as la
from jaxmh import priors as priors_mod
from jaxmh import stablemath
from jaxmh._gamma import standard_gamma
from jaxmh._threefry import fold_in, normals_and_uniforms
from jaxmh.columns import read_columns
from jaxmh.design import Design, design, used_columns
from jaxmh.kernels.blocked_gibbs import Conditionals
from jaxmh import families
from jaxmh.families import Prepared
from jaxmh.models import _formula_terms as terms
from jaxmh.models import _glm_updates as glm
from jaxmh.models._common import rebindable
from jaxmh.models.base import Model
from jaxmh.priors import Exponential, LKJ, Normal

__all__ = ["model", "FormulaLayout", "CLASSES", "default_priors", "glm_default_priors"]

#: The prior classes (besides coefficient names and ``sd(TERM|GROUP)``, ``cor(GROUP)``).
CLASSES = ("Intercept", "b", "sd", "cor", "sigma")

_LOG_2PI = float(np.log(2 * np.pi))


class Term(NamedTuple):
    """One bar term's parameters: the factor's name, its columns and level labels, and the leaves' names."""

    factor: str
    columns: tuple            # term names ("Intercept", "Days")
    labels: tuple             # level labels
    effects: tuple            # leaf names of the group-level effects ("Intercept|Subject", ...)
    sds: tuple                # "sd(Intercept|Subject)", ...
    cors: tuple               # "cor(Intercept,Days|Subject)", ... (lower triangle, row-major)
    correlated: bool


class FormulaLayout(NamedTuple):
    """How a formula model's parameters are named and laid out (static: not part of the data)."""

    formula: str
    family: str
    fixed: tuple              # fixed-effect names, in design order
    terms: tuple              # Term per bar term
    response: str
    num_rows: int
    dropped: int = 0          # rows left out for a missing value (drop_missing=True)
    note: str = ""            # how the response was read (e.g. which text value counts as 1)
    shifts: tuple = ()        # (term, column, coefficient): shift moves (non-Gaussian families)
    nests: tuple = ()         # (inner term, column, outer term, column): nested shift moves
    source: Any = None        # {column: values of the rows used}: what :func:`jaxmh.predict` codes new rows with
    roles: Any = None         # {"trials": column or number, "offset": column}, as given to :func:`model`

    @property
    def names(self) -> tuple:
        """Every parameter, in the order summaries list them: fixed effects, sds, correlations, sigma,
        then the group-level effects."""
        return (self.fixed + tuple(s for t in self.terms for s in t.sds) + tuple(c for t in self.terms for c in t.cors)
                + (("sigma",) if self.family == "gaussian" else ()) + tuple(e for t in self.terms for e in t.effects))

    @property
    def coords(self) -> dict:
        """``{group-level leaf: level labels}``."""
        return {e: t.labels for t in self.terms for e in t.effects}


def _scale(s: float) -> float:
    return s if s > 0 and math.isfinite(s) else 1.0


def default_priors(d: Design) -> dict:
    """The data-scaled default prior of every parameter (see the module docstring)."""
    y = np.asarray(d.y, np.float64)
    m_y, s_y = float(np.mean(y)), _scale(float(np.std(y, ddof=1)) if y.size > 1 else 1.0)
    out = {}
    stats = {k: (float(m), _scale(float(s))) for k, (m, s) in d.column_stats.items()}
    others = [k for k in d.fixed_names if k != "Intercept"]
    for k in d.fixed_names:
        if k == "Intercept":
            spread = 2.5 * s_y * math.sqrt(1.0 + sum(stats[j][0] ** 2 / stats[j][1] ** 2 for j in others))
            out[k] = Normal(m_y, spread)
        else:
            out[k] = Normal(0.0, 2.5 * s_y / stats[k][1])
    for f in d.factors:
        for j, t in enumerate(f.term_names):
            col = np.asarray(f.Z[:, j], np.float64)
            s_t = 1.0 if t == "Intercept" else _scale(float(np.std(col, ddof=1)) if col.size > 1 else 1.0)
            out[f"sd({t}|{f.name})"] = Exponential(s_t / s_y)
        if f.correlated and len(f.term_names) > 1:
            out[f"cor({f.name})"] = LKJ(1.0)
    out["sigma"] = Exponential(1.0 / s_y)
    return out


def glm_default_priors(d: Design, family: str, y: np.ndarray, offset: np.ndarray) -> dict:
    """The default priors of a logit- or log-link model (rstanarm's weakly informative scheme on the link
    scale, see the module docstring): no ``sigma``."""
    out = {}
    stats = {k: (float(m), _scale(float(s))) for k, (m, s) in d.column_stats.items()}
    others = [k for k in d.fixed_names if k != "Intercept"]
    loc = 0.0
    if family == "poisson":   # brms: centred on the link of the response's central value
        loc = math.log(max(float(np.sum(y)), 0.5) / float(np.sum(np.exp(offset))))
    for k in d.fixed_names:
        if k == "Intercept":
            out[k] = Normal(loc, 2.5 * math.sqrt(1.0 + sum(stats[j][0] ** 2 / stats[j][1] ** 2 for j in others)))
        else:
            out[k] = Normal(0.0, 2.5 / stats[k][1])
    for f in d.factors:
        for j, t in enumerate(f.term_names):
            col = np.asarray(f.Z[:, j], np.float64)
            s_t = 1.0 if t == "Intercept" else _scale(float(np.std(col, ddof=1)) if col.size > 1 else 1.0)
            out[f"sd({t}|{f.name})"] = Exponential(s_t)
        if f.correlated and len(f.term_names) > 1:
            out[f"cor({f.name})"] = LKJ(1.0)
    return out


def _layout(d: Design, formula: str, family: str) -> FormulaLayout:
    terms, seen = [], {}
    for f in d.factors:
        cols = tuple(f.term_names)
        effects = tuple(f"{t}|{f.name}" for t in cols)
        for e in effects:
            if e in seen:
                raise ValueError(f"formula: the varying effect {e.split('|')[0]!r} by {f.name!r} appears in two "
                                 "bar terms; write it in one")
            seen[e] = True
        cors = tuple(f"cor({cols[j]},{cols[i]}|{f.name})" for i in range(len(cols)) for j in range(i)) \
            if f.correlated else ()
        terms.append(Term(f.name, cols, tuple(f.labels), effects, tuple(f"sd({t}|{f.name})" for t in cols),
                          cors, bool(f.correlated) and len(cols) > 1))
    layout = FormulaLayout(formula, family, tuple(d.fixed_names), tuple(terms), d.response, int(d.num_rows),
                           int(d.dropped))
    names = list(layout.fixed) + [n for t in terms for n in t.effects + t.sds + t.cors] \
        + (["sigma"] if family == "gaussian" else [])
    if len(set(names)) != len(names) or "interweave" in names:
        clash = sorted({n for n in names if names.count(n) > 1} | ({"interweave"} & set(names)))
        raise ValueError(f"formula: a column name clashes with a parameter's name: {clash}; rename the column")
    return layout


def _resolve_priors(layout: FormulaLayout, defaults: dict, given: Mapping[str, Any] | None) -> dict:
    """Each parameter's prior (``cor(GROUP)`` keys for LKJ), the most specific given name winning."""
    if given is not None and not isinstance(given, Mapping):
        raise TypeError(f"priors must be a dict {{class or parameter: prior}}, e.g. {{'sigma': "
                        f"jaxmh.priors.HalfNormal(5)}}, got {type(given).__name__}")
    given = dict(given or {})
    coef = [k for k in layout.fixed if k != "Intercept"]
    sds = [s for t in layout.terms for s in t.sds]
    cor_groups = [f"cor({t.factor})" for t in layout.terms if t.cors]
    gaussian = layout.family == "gaussian"
    known = set(layout.fixed) | set(sds) | set(cor_groups) | ({"sigma"} if gaussian else set())
    if "sigma" in given and not gaussian:
        raise ValueError(f"priors: family {layout.family!r} has no sigma (the spread follows from the mean); "
                         "only the gaussian family takes a prior for 'sigma'")
    for key in given:
        if key in known or key in CLASSES:
            continue
        raise ValueError(f"priors: the model has no parameter or class {key!r}; it has "
                         f"{_what_it_has(layout, coef, sds, cor_groups)}")
    if "Intercept" in given and "Intercept" not in layout.fixed:
        raise ValueError("priors: a prior for 'Intercept', but the formula has no intercept (0 + or - 1)")
    if "b" in given and not coef:
        raise ValueError("priors: a prior for class 'b', but the formula has no coefficients besides the intercept")
    if "sd" in given and not sds:
        raise ValueError("priors: a prior for class 'sd', but the formula has no varying effects ((... | group))")
    if "cor" in given and not cor_groups:
        raise ValueError("priors: a prior for class 'cor', but the model has no correlated varying effects "
                         "(a bar term (1 + x | g) with two or more columns)")
    out = dict(defaults)
    for k in layout.fixed:
        cls = "Intercept" if k == "Intercept" else "b"
        out[k] = given.get(k, given.get(cls, defaults[k]))
    for s in sds:
        out[s] = given.get(s, given.get("sd", defaults[s]))
    for c in cor_groups:
        out[c] = given.get(c, given.get("cor", defaults[c]))
    if gaussian:
        out["sigma"] = given.get("sigma", defaults["sigma"])
    for k, p in out.items():
        if k.startswith("cor("):
            if not isinstance(p, LKJ):
                raise ValueError(f"priors: {k} needs an LKJ prior (jaxmh.priors.LKJ(eta), 'lkj(2)'), got {p}")
        elif isinstance(p, LKJ):
            raise ValueError(f"priors: {k} takes a prior on numbers, not a correlation prior lkj(...)")
        else:
            priors_mod.check(p, f"priors[{k!r}]", scale=k.startswith("sd(") or k == "sigma")
    return out


def _what_it_has(layout, coef, sds, cor_groups) -> str:
    shown = [c for c in CLASSES if (c != "cor" or cor_groups) and (c != "sigma" or layout.family == "gaussian")]
    parts = [f"classes {', '.join(shown)}"]
    if coef:
        parts.append(f"coefficients {', '.join(coef)}")
    if sds:
        parts.append(f"sds {', '.join(sds)}")
    if cor_groups:
        parts.append(f"correlations {', '.join(cor_groups)}")
    return "; ".join(parts)


def _data(d: Design, chosen: dict, dtype, prepared: Prepared | None = None) -> dict:
    """The model's data pytree: the design and its per-level cross-products, and the priors (and a
    non-Gaussian family's ``trials``, ``offset`` and the log-likelihood's ``constant``)."""
    X = np.asarray(d.X, np.float64)
    y = np.asarray(d.y if prepared is None else prepared.y, np.float64)
    factors = []
    for f in d.factors:
        Z = np.asarray(f.Z, np.float64)
        idx = np.asarray(f.index, np.int64)
        L = len(f.labels)
        ztz = np.zeros((L,) + (Z.shape[1],) * 2)
        np.add.at(ztz, idx, Z[:, :, None] * Z[:, None, :])
        xtz = np.zeros((L, X.shape[1], Z.shape[1]))
        np.add.at(xtz, idx, X[:, :, None] * Z[:, None, :])
        factors.append({"index": jnp.asarray(idx, jnp.int32), "Z": jnp.asarray(Z, dtype),
                        "ZtZ": jnp.asarray(ztz, dtype), "XtZ": jnp.asarray(xtz, dtype)})
    out = {"y": jnp.asarray(y, dtype), "X": jnp.asarray(X, dtype), "XtX": jnp.asarray(X.T @ X, dtype),
           "factors": factors, "priors": chosen}
    if prepared is not None:
        out.update(trials=jnp.asarray(prepared.trials, dtype), offset=jnp.asarray(prepared.offset, dtype),
                   constant=jnp.asarray(float(np.sum(prepared.constants)), dtype),
                   row_constants=jnp.asarray(prepared.constants, dtype))
    return out


def _gaussian_updates(layout: FormulaLayout, data: dict) -> tuple[tuple, tuple]:
    """The Gaussian family's updates and random-walk names (see the module docstring)."""
    updates = tuple(_joint_update(layout, data, i) for i in range(len(layout.terms))) \
        or ((_fixed_update(layout, data),) if layout.fixed else ())
    updates += tuple(_scale_update(data, _effect_squares(layout, i, j), term.sds[j], len(term.labels))
                     for i, term in enumerate(layout.terms) if not term.correlated
                     for j in range(len(term.columns)))
    updates += tuple(_repeated(_covariance_update(layout, data, i), 2) for i, term in enumerate(layout.terms)
                     if term.correlated and len(term.labels) > 2 * len(term.columns))
    updates += tuple(_noncentred_scale_update(layout, data, i) for i in range(len(layout.terms)))
    updates += (_scale_update(data, _residual_squares(layout, data), "sigma", int(data["y"].shape[0])),)
    # sigma and every sd have exact-or-corrected updates of their own (above); the random walk and its
    # interweaving move the correlations (and the sds of correlated terms too small for the inverse
    # Wishart proposal)
    walk = tuple(s for t in layout.terms for s in
                 (t.sds if t.correlated and len(t.labels) <= 2 * len(t.columns) else ()) + t.cors)
    return updates, walk


def _glm_updates(layout: FormulaLayout, data: dict, family) -> tuple[tuple, tuple]:
    """A logit or log model's updates (:mod:`jaxmh.models._glm_updates`) and random-walk names: the fixed
    effects and each term's levels by IWLS Metropolis-Hastings, every coefficient with its varying
    effects by the shift move, the sds and covariances from their effects as in the Gaussian case; the
    random walk (and its interweaving, the non-centred move through the funnel) moves every sd and
    correlation."""
    # with group terms, and few enough numbers in all, the fixed effects move in the non-centred sds'
    # block (below): one IWLS loop per step less to run and compile (cbpp's 4 + 1 and the Bernoulli
    # model's 2 + 2: 18% less time per step); a larger block's unrolled Cholesky factorizations in the
    # Newton loop cost more than the loop they save (grouseticks' 4 + 2: 60% more), so they stay apart
    sds = sum(len(term.sds) for term in layout.terms)
    joint = bool(layout.fixed) and sds > 0 and len(layout.fixed) + sds <= JOINT_FIXED_MAX
    updates = (glm.fixed_update(layout, data, family),) if layout.fixed and not joint else ()
    updates += tuple(glm.level_update(layout, data, family, i) for i in range(len(layout.terms)))
    # the moves that read no data (shifts, and the scales given their effects) are cheap: a cycle of
    # them, repeated, nearly integrates the effects' split between the coefficients and the factors
    # out of the scales' updates (a partially collapsed Gibbs sampler)
    cheap = tuple(glm.shift_update(layout, data, g) for g in glm.shift_groups(layout.shifts))
    collapsed = [s for s, (a, _, b, _) in enumerate(layout.nests)
                 if not (layout.terms[a].correlated or layout.terms[b].correlated)]
    # a collapsed move ends with the split's exact draw, so the nest's own split move would repeat it
    cheap += tuple(glm.nest_update(layout, data, s) for s in range(len(layout.nests)) if s not in collapsed)
    cheap += tuple(glm.nest_scale_update(layout, data, s) for s in collapsed)
    # the collapsed moves draw their two sds too (given the totals: a wider move than given the effects)
    covered = {layout.terms[t].sds[j] for s in collapsed for t, j in (layout.nests[s][:2], layout.nests[s][2:])}
    scales = [(_effect_squares(layout, i, j), term.sds[j], len(term.labels))
              for i, term in enumerate(layout.terms) if not term.correlated for j in range(len(term.columns))
              if term.sds[j] not in covered]
    if scales:
        cheap += (_scales_update(data, scales),)
    cheap += tuple(_covariance_update(layout, data, i) for i, term in enumerate(layout.terms)
                   if term.correlated and len(term.labels) > 2 * len(term.columns))
    if cheap:
        updates += (_repeated(_cycle(cheap), CHEAP_REPEATS),)
    if layout.terms:
        updates += (glm.noncentred_scale_update(layout, data, family, with_fixed=joint),)
    walk = tuple(n for t in layout.terms for n in
                 (t.sds if t.correlated and len(t.labels) <= 2 * len(t.columns) else ()) + t.cors)
    return updates, walk


def _functions(layout: FormulaLayout):
    """``functions(data) -> {logdensity, init, conditionals}`` over the model's data pytree."""
    family = families.get(layout.family)

    def functions(data: dict) -> dict:
        chosen = data["priors"]

        def group_prior(p: dict) -> jax.Array:
            total = 0.0
            for term in layout.terms:
                dtype = jnp.result_type(p[term.sds[0]])
                low, low_omega = terms.scale_factor(p, term, dtype)
                u = terms.effects(p, term)
                w = la.solve_lower(low[None], u)  # (L, k)
                num = u.shape[0]
                logdet = la.log_diag_sum(low, stablemath.log)
                total = total - 0.5 * jnp.sum(w * w) - num * logdet - 0.5 * num * len(term.columns) * _LOG_2PI
                if term.correlated:
                    eta = chosen[f"cor({term.factor})"].eta
                    total = total + 2.0 * (eta - 1.0) * la.log_diag_sum(low_omega, stablemath.log)
                    total = jnp.where(jnp.all(jnp.isfinite(low_omega)), total, -jnp.inf)
            return total

        def global_prior(p: dict) -> jax.Array:
            total = 0.0
            for k, prior in chosen.items():
                if k.startswith("cor("):
                    continue
                total = total + jnp.sum(prior.logpdf(p[k]))
            for term in layout.terms:
                for c in term.cors:
                    total = total + jnp.where(jnp.abs(p[c]) < 1.0, 0.0, -jnp.inf)
            return total

        def gaussian_loglik(p: dict) -> jax.Array:
            eta = terms.linear(p, data, layout)
            sigma = p["sigma"]
            safe = jnp.where(sigma > 0, sigma, 1.0)
            r = (data["y"] - eta) / safe
            n = data["y"].shape[0]
            value = -0.5 * jnp.sum(r * r) - n * stablemath.log(safe) - 0.5 * n * _LOG_2PI
            return jnp.where(sigma > 0, value, -jnp.inf)

        loglik = gaussian_loglik if family.name == "gaussian" else glm.loglik(layout, data, family)

        def pointwise_loglik(p: dict) -> jax.Array:
            eta = terms.linear(p, data, layout)
            if family.name != "gaussian":
                return family.loglik(data["y"], eta + data["offset"], data["trials"]) + data["row_constants"]
            sigma = p["sigma"]
            safe = jnp.where(sigma > 0, sigma, 1.0)
            r = (data["y"] - eta) / safe
            return jnp.where(sigma > 0, -0.5 * r * r - stablemath.log(safe) - 0.5 * _LOG_2PI, -jnp.inf)

        def logdensity(p: dict) -> jax.Array:
            prior = global_prior(p)
            total = prior + group_prior(p) + loglik(p)
            return jnp.where(jnp.isfinite(total), total, -jnp.inf)

        def init(key: jax.Array, num_chains: int) -> dict:
            keys = jax.random.split(key, 4)
            out = {}
            for j, k in enumerate(layout.fixed):
                out[k] = priors_mod.draw_start(chosen[k], jax.random.fold_in(keys[0], j), (num_chains,))
            for t_i, term in enumerate(layout.terms):
                kt = jax.random.fold_in(keys[1], t_i)
                for j, s in enumerate(term.sds):
                    out[s] = priors_mod.draw_start(chosen[s], jax.random.fold_in(kt, j), (num_chains,), scale=True)
                for j, c in enumerate(term.cors):
                    out[c] = jax.random.uniform(jax.random.fold_in(jax.random.fold_in(kt, 1000), j), (num_chains,),
                                                minval=-0.1, maxval=0.1) / len(term.columns)
                for j, e in enumerate(term.effects):
                    noise = jax.random.normal(jax.random.fold_in(keys[2], 1000 * t_i + j),
                                              (num_chains, len(term.labels)))
                    out[e] = 0.1 * out[term.sds[j]][:, None] * noise
            if family.name == "gaussian":
                out["sigma"] = priors_mod.draw_start(chosen["sigma"], keys[3], (num_chains,), scale=True)
            return out

        if family.name != "gaussian":
            updates, walk = _glm_updates(layout, data, family)
        else:
            updates, walk = _gaussian_updates(layout, data)

        def standardize(p: dict) -> tuple[dict, jax.Array]:
            z, logdet = {}, 0.0
            for term in layout.terms:
                dtype = jnp.result_type(p[term.sds[0]])
                low, _ = terms.scale_factor(p, term, dtype)
                w = la.solve_lower(low[None], terms.effects(p, term))
                z.update({e: w[:, j] for j, e in enumerate(term.effects)})
                logdet = logdet + len(term.labels) * la.log_diag_sum(low, stablemath.log)
            return z, logdet

        def unstandardize(z: dict, p: dict) -> dict:
            out = {}
            for term in layout.terms:
                dtype = jnp.result_type(p[term.sds[0]])
                low, _ = terms.scale_factor(p, term, dtype)
                w = jnp.stack([z[e] for e in term.effects], axis=-1)
                u = jnp.sum(low[None, :, :] * w[:, None, :], axis=-1)
                out.update({e: u[:, j] for j, e in enumerate(term.effects)})
            return out

        conditionals = Conditionals(logdensity, updates, walk,
                                    standardize if walk else None, unstandardize if walk else None)
        # the starting values are drawn once: XLA's cheapest compilation (half the time) is enough
        init_jit = jax.jit(init, static_argnums=1, compiler_options={"xla_backend_optimization_level": 0})
        return {"logdensity": logdensity, "init": init_jit, "split": None,
                "conditionals": conditionals, "pointwise_loglik": pointwise_loglik}

    return functions


def _effect_squares(layout: FormulaLayout, i: int, j: int):
    name = layout.terms[i].effects[j]
    return lambda p: jnp.sum(p[name] * p[name])


def _residual_squares(layout: FormulaLayout, data: dict):
    def squares(p: dict) -> jax.Array:
        r = data["y"] - terms.linear(p, data, layout)
        return jnp.sum(r * r)
    return squares


def _scale_update(data: dict, squares, name: str, count: int):
    """A scale ``s`` whose other terms read ``s^-count exp(-squares / (2 s^2))`` (a normal sd given the
    values it scales): proposed from that likelihood part (``1/s^2 ~ Gamma((count - 1)/2, squares/2)``),
    independently of the current value, and accepted with the ratio of its prior densities.  With many
    values the likelihood dominates the prior and nearly every proposal is accepted."""
    shape = 0.5 * (count - 1)

    def update(key, p: dict):
        prior = data["priors"][name]
        dtype = jnp.result_type(p[name])
        k_gamma, k_accept = jax.random.split(key)
        ss = jnp.asarray(squares(p), dtype)
        g = standard_gamma(k_gamma, jnp.asarray([shape], dtype), dtype)[0]
        new = jnp.sqrt(jnp.maximum(ss, jnp.finfo(dtype).tiny) / (2.0 * jnp.maximum(g, jnp.finfo(dtype).tiny)))
        gain = jnp.asarray(prior.logpdf(new) - prior.logpdf(p[name]), dtype)
        gain = jnp.where(jnp.isfinite(gain) & jnp.isfinite(new) & (new > 0), gain, -jnp.inf)
        _, u = normals_and_uniforms(k_accept, 1, 1, dtype)
        accept = stablemath.log(u[0]) < gain
        out = dict(p)
        out[name] = jnp.where(accept, new, p[name])
        return out, stablemath.exp(jnp.minimum(gain, 0.0)), accept

    return update


def _scales_update(data: dict, scales: list):
    """:func:`_scale_update` for several scales at once (``scales``: ``(squares, name, count)`` each):
    given the values they scale, the scales are independent, so one draw of their gammas and one
    accept or reject each is the same move as the updates in turn, in one program's worth of code
    (its mean acceptance probability; whether any moved)."""
    shapes = np.asarray([0.5 * (count - 1) for _, _, count in scales])
    names = [name for _, name, _ in scales]

    def update(key, p: dict):
        priors = data["priors"]
        dtype = jnp.promote_types(jnp.result_type(*(p[n] for n in names)), jnp.float32)
        k_gamma, k_accept = fold_in(key, 0), fold_in(key, 1)
        ss = jnp.stack([jnp.asarray(squares(p), dtype) for squares, _, _ in scales])
        old = jnp.stack([jnp.asarray(p[n], dtype) for n in names])
        g = standard_gamma(k_gamma, jnp.asarray(shapes, dtype), dtype)
        new = jnp.sqrt(jnp.maximum(ss, jnp.finfo(dtype).tiny) / (2.0 * jnp.maximum(g, jnp.finfo(dtype).tiny)))
        gain = jnp.stack([jnp.asarray(priors[n].logpdf(new[m]) - priors[n].logpdf(old[m]), dtype)
                          for m, n in enumerate(names)])
        gain = jnp.where(jnp.isfinite(gain) & jnp.isfinite(new) & (new > 0), gain, -jnp.inf)
        _, u = normals_and_uniforms(k_accept, 0, len(names), dtype)
        accept = stablemath.log(u) < gain
        out = dict(p)
        for m, n in enumerate(names):
            out[n] = jnp.where(accept[m], new[m], old[m]).astype(jnp.result_type(p[n]))
        return out, jnp.mean(stablemath.exp(jnp.minimum(gain, 0.0))), jnp.any(accept)

    return update


#: the largest block of fixed effects and sds that a non-Gaussian model updates as one (see _glm_updates)
JOINT_FIXED_MAX = 5


#: how many times a non-Gaussian model's step repeats its cycle of moves that read no data (4: cbpp's
#: min ESS per second is 15-25% higher than with 8, the same min ESS on the Bernoulli model; grouseticks'
#: nested sds, which gained from more, take more random-walk steps in their own move instead)
CHEAP_REPEATS = 4


def _cycle(updates: tuple):
    """The updates applied in turn as one (its mean acceptance probability; whether any moved)."""

    def cycle(key, p: dict):
        total, moved = 0.0, jnp.zeros((), bool)
        for j, update in enumerate(updates):
            p, prob, accept = update(fold_in(key, j), p)
            total, moved = total + prob, moved | accept
        return p, total / len(updates), moved

    return cycle


def _repeated(update, times: int):
    """``update`` applied ``times`` times in a loop (compiled once; its mean acceptance probability)."""

    def repeated(key, p: dict):
        def body(i, carry):
            q, total, moved = carry
            q, prob, accept = update(fold_in(key, i), q)
            return q, total + prob, moved | accept
        dtype = jnp.promote_types(jnp.result_type(*jax.tree_util.tree_leaves(p)), jnp.float32)
        q, total, moved = jax.lax.fori_loop(0, times, body, (p, jnp.zeros((), dtype), jnp.zeros((), bool)))
        return q, total / times, moved

    return repeated


def _noncentred_scale_update(layout: FormulaLayout, data: dict, i: int):
    """A term's sds with its standardised effects ``v = u / sd`` held fixed (the non-centred half of an
    interweaving, Yu & Meng 2011).  Given ``v`` the linear predictor is linear in the sds, ``sum_j sd_j
    Z_ij v[g(i), j]``, so their likelihood part is Gaussian: a draw from it, independent of the current
    value, is accepted with the ratio of the sds' prior densities (and rejected if an sd is negative).
    With little data per level, where the centred updates crawl (the funnel), this one moves freely."""
    term, f = layout.terms[i], data["factors"][i]
    k = len(term.columns)

    def update(key, p: dict):
        dtype = data["y"].dtype
        priors = data["priors"]
        sd = jnp.stack([jnp.asarray(p[s], dtype) for s in term.sds])
        v = terms.effects(p, term).astype(dtype) / sd                         # (L, k)
        w = f["Z"] * v[f["index"]]                                        # (n, k): the sds' covariates
        r = data["y"] - terms.linear(p, data, layout, skip=i)
        s2 = jnp.asarray(p["sigma"], dtype) ** 2
        q = jnp.sum(w[:, :, None] * w[:, None, :], axis=0) / s2          # (k, k)
        h = jnp.sum(w * r[:, None], axis=0) / s2
        low = la.cholesky(q)
        eps, u = normals_and_uniforms(key, k, 1, dtype)
        new_sd = la.cho_solve(low, h) + la.solve_upper(low, eps)
        gain = sum(jnp.asarray(priors[s].logpdf(new_sd[j]), dtype) - jnp.asarray(priors[s].logpdf(sd[j]), dtype)
                   for j, s in enumerate(term.sds))
        ok = jnp.all(new_sd > 0) & jnp.all(jnp.isfinite(new_sd)) & jnp.isfinite(gain)
        gain = jnp.where(ok, gain, -jnp.inf)
        accept = stablemath.log(u[0]) < gain
        out = dict(p)
        for j, (s, e) in enumerate(zip(term.sds, term.effects)):
            out[s] = jnp.where(accept, new_sd[j], p[s]).astype(jnp.result_type(p[s]))
            out[e] = jnp.where(accept, v[:, j] * new_sd[j], p[e]).astype(jnp.result_type(p[e]))
        return out, stablemath.exp(jnp.minimum(gain, 0.0)), accept

    return update


def _log_prior_covariance(p: dict, term: Term, priors: dict, dtype) -> jax.Array:
    """Log prior density of ``Sigma = diag(sd) Omega diag(sd)`` in ``Sigma``'s coordinates: the sds' and
    LKJ densities over the Jacobian ``2^k prod(sd)^k`` of ``(sd, Omega) -> Sigma`` (constants dropped)."""
    k = len(term.columns)
    total = sum(jnp.asarray(priors[s].logpdf(p[s]), dtype) for s in term.sds)
    total = total - k * sum(stablemath.log(jnp.asarray(p[s], dtype)) for s in term.sds)
    low_omega = la.cholesky(terms.corr_matrix(p, term, dtype))
    eta = priors[f"cor({term.factor})"].eta
    total = total + 2.0 * (eta - 1.0) * la.log_diag_sum(low_omega, stablemath.log)
    return jnp.where(jnp.all(jnp.isfinite(low_omega)), total, -jnp.inf)


def _covariance_update(layout: FormulaLayout, data: dict, i: int):
    """A correlated term's sds and correlations given its effects: ``Sigma`` proposed from the effects'
    likelihood part, an inverse Wishart with ``L - k - 1`` degrees of freedom and scale ``sum_l u_l u_l'``
    (Bartlett's construction), independently of the current value, and accepted with the ratio of the
    prior densities of ``Sigma``.  Needs more than ``2k`` levels."""
    term = layout.terms[i]
    k, num = len(term.columns), len(term.labels)
    dof = num - k - 1

    def update(key, p: dict):
        priors = data["priors"]
        dtype = jnp.result_type(p[term.sds[0]])
        k_gamma, k_normal = jax.random.split(key)
        u = terms.effects(p, term).astype(dtype)
        root = la.cholesky(jnp.sum(u[:, :, None] * u[:, None, :], axis=0))  # S = R R'
        shapes = jnp.asarray([0.5 * (dof - j) for j in range(k)], dtype)
        chi2 = 2.0 * standard_gamma(k_gamma, shapes, dtype)
        z, uniform = normals_and_uniforms(k_normal, max(k * (k - 1) // 2, 1), 1, dtype)
        rows, it = [], iter(range(k * (k - 1) // 2))
        for a in range(k):
            rows.append([z[next(it)] if b < a else (jnp.sqrt(chi2[a]) if b == a else jnp.zeros((), dtype))
                         for b in range(k)])
        bartlett = jnp.stack([jnp.stack(r) for r in rows])                 # lower triangular A
        inv_a = la.solve_lower(bartlett, jnp.eye(k, dtype=dtype))
        g = jnp.sum(root[:, :, None] * inv_a.T[None, :, :], axis=1)        # R A^-T
        sigma = jnp.sum(g[:, None, :] * g[None, :, :], axis=-1)          # ~ inverse Wishart(dof, S)
        sd = jnp.sqrt(jnp.diagonal(sigma))
        new = dict(p)
        new.update({s: sd[j] for j, s in enumerate(term.sds)})
        it = iter(term.cors)
        for a in range(k):
            for b in range(a):
                new[next(it)] = sigma[a, b] / (sd[a] * sd[b])
        gain = _log_prior_covariance(new, term, priors, dtype) - _log_prior_covariance(p, term, priors, dtype)
        finite = jnp.isfinite(gain) & jnp.all(jnp.isfinite(sigma)) & jnp.all(sd > 0)
        gain = jnp.where(finite, gain, -jnp.inf)
        accept = stablemath.log(uniform[0]) < gain
        out = {key_: jnp.where(accept, new[key_], v) if key_ in new and key_ in term.sds + term.cors else v
               for key_, v in p.items()}
        return out, stablemath.exp(jnp.minimum(gain, 0.0)), accept

    return update


def _draw_fixed(key, p: dict, layout: FormulaLayout, data: dict, q: jax.Array, h: jax.Array):
    """``b ~ N(Q^-1 h, Q^-1)`` and the Metropolis-Hastings acceptance for non-normal coefficient priors."""
    dtype = q.dtype
    chosen = data["priors"]
    low_q = la.cholesky(q)
    eps, u = normals_and_uniforms(key, q.shape[0], 1, dtype)
    b = la.cho_solve(low_q, h) + la.solve_upper(low_q, eps)
    new = {k: b[j] for j, k in enumerate(layout.fixed)}
    _, _, other = terms.normal_parts(layout, chosen, dtype)
    if not other:
        return new, jnp.ones((), dtype), jnp.ones((), bool)
    gain = sum(jnp.sum(chosen[k].logpdf(new[k])) - jnp.sum(chosen[k].logpdf(p[k])) for k in other)
    gain = jnp.where(jnp.isfinite(gain) & jnp.all(jnp.isfinite(b)), gain, -jnp.inf)
    return new, stablemath.exp(jnp.minimum(gain, 0.0)), stablemath.log(u[0]) < gain


def _fixed_update(layout: FormulaLayout, data: dict):
    """Exact draw of the fixed effects given ``sigma`` (no varying effects)."""

    def update(key, p: dict):
        dtype = data["X"].dtype
        prec, pm, _ = terms.normal_parts(layout, data["priors"], dtype)
        s2 = jnp.asarray(p["sigma"], dtype) ** 2
        q = data["XtX"] / s2 + jnp.diag(prec)
        h = jnp.sum(data["X"] * data["y"][:, None], axis=0) / s2 + pm
        new, prob, accept = _draw_fixed(key, p, layout, data, q, h)
        out = dict(p)
        out.update({k: jnp.where(accept, new[k], p[k]) for k in layout.fixed})
        return out, prob, accept

    return update


def _joint_update(layout: FormulaLayout, data: dict, i: int):
    """The fixed effects and term ``i``'s effects of every level, drawn jointly from their Gaussian
    conditional given everything else (the effects integrated out for the fixed effects' draw)."""
    term, f = layout.terms[i], data["factors"][i]
    num_levels = len(term.labels)

    def update(key, p: dict):
        dtype = data["X"].dtype
        k_fixed, k_levels = jax.random.split(key)
        s2 = jnp.asarray(p["sigma"], dtype) ** 2
        low, _ = terms.scale_factor(p, term, dtype)
        inv_low = la.solve_lower(low, jnp.eye(low.shape[0], dtype=dtype))
        prior_prec = jnp.sum(inv_low[:, :, None] * inv_low[:, None, :], axis=0)  # Sigma^-1 = M'M
        a = f["ZtZ"] / s2 + prior_prec                                    # (L, k, k)
        c = la.cholesky(a)
        others = terms.linear(p, data, layout, skip=i, fixed=False)
        r = data["y"] - others                                            # the data minus the other factors' effects
        ztr = jax.ops.segment_sum(f["Z"] * r[:, None], f["index"], num_segments=num_levels)  # (L, k)
        out = dict(p)
        accept = jnp.ones((), bool)
        prob = jnp.ones((), dtype)
        if layout.fixed:
            prec, pm, _ = terms.normal_parts(layout, data["priors"], dtype)
            w = la.solve_lower(c, jnp.swapaxes(f["XtZ"], -1, -2) / s2)     # (L, k, p)
            v = la.solve_lower(c, ztr / s2)                               # (L, k)
            q = data["XtX"] / s2 - jnp.sum(w[..., :, None] * w[..., None, :], axis=(0, 1)) + jnp.diag(prec)
            h = jnp.sum(data["X"] * r[:, None], axis=0) / s2 - jnp.sum(w * v[..., None], axis=(0, 1)) + pm
            new, prob, accept = _draw_fixed(k_fixed, p, layout, data, q, h)
            b = jnp.stack([jnp.where(accept, new[k], p[k]) for k in layout.fixed]).astype(dtype)
            out.update({k: b[j] for j, k in enumerate(layout.fixed)})
            ztr = ztr - jnp.sum(f["XtZ"] * b[None, :, None], axis=1)
        eps, _ = normals_and_uniforms(k_levels, num_levels * len(term.columns), 1, dtype)
        eps = eps.reshape(num_levels, len(term.columns))
        u = la.cho_solve(c, ztr / s2) + la.solve_upper(c, eps)
        out.update({e: u[:, j] for j, e in enumerate(term.effects)})
        return out, prob, accept

    return update


def _as_columns(data: Any) -> Any:
    """Tutorial-style :class:`jaxmh.data.GroupedData` as columns ``x``, ``y``, ``i`` (else ``data`` unchanged)."""
    from jaxmh.data import GroupedData
    if isinstance(data, GroupedData):
        labels = np.asarray(data.labels if data.labels is not None else np.arange(data.num_groups)).astype(str)
        return {"x": np.asarray(data.x, np.float64), "y": np.asarray(data.y, np.float64),
                "i": labels[np.asarray(data.group)]}
    return data


def model(formula: str, data: Any, *, family: str = "gaussian", priors: Mapping[str, Any] | None = None,
          drop_missing: bool = False, trials: str | int | None = None, offset: str | None = None) -> Model:
    """A hierarchical model from an lme4-style formula.

    Parameters
    ----------
    formula
        E.g. ``"Reaction ~ Days + (Days | Subject)"``: fixed effects (numeric
        and categorical predictors, ``a:b``, ``a*b``, ``C(x)``, ``0 +``) and
        varying effects ``(1 | g)``, ``(1 + x | g)`` (correlated),
        ``(x || g)`` (uncorrelated), crossed ``(1 | g1) + (1 | g2)`` and nested
        ``(1 | g1/g2)`` (see :mod:`jaxmh.formula`).
    data
        A CSV path, a dict of columns (arrays or lists; text for factors), a
        pandas DataFrame, or :class:`jaxmh.data.GroupedData` (columns ``x``,
        ``y``, ``i``).
    family
        ``"gaussian"`` (identity link, ``sigma``), ``"bernoulli"`` (logit; a
        0/1 response or text with two values, the second in sorted order
        counted as 1), ``"binomial"`` (logit; successes out of ``trials``, or
        proportions of them), ``"poisson"`` (log link); see
        :mod:`jaxmh.families`.  Summaries are on the link scale;
        ``jaxmh.summary(result, scale="response")`` reports probabilities and
        rates.
    priors
        ``{class or parameter: prior}``: ``"Intercept"``, ``"b"``, a
        coefficient's name, ``"sd"``, ``"sd(TERM|GROUP)"``, ``"cor"``,
        ``"cor(GROUP)"``, ``"sigma"`` (see the module docstring for the
        data-scaled defaults).
    drop_missing
        Drop rows with a missing value in a column the formula uses (default:
        a ``ValueError`` naming the column).
    trials
        Binomial family: the column of trials (e.g. ``"size"``), or one whole
        number for every row.
    offset
        Poisson family: a column added to the linear predictor, on the log
        scale (``log(exposure)``, so that the model is of the rate per unit
        of exposure).

    Returns
    -------
    Model
        For :func:`jaxmh.fit` (which samples it with the Gibbs kernel),
        :func:`jaxmh.summary`, plots, :func:`jaxmh.compare`.

    Examples
    --------
    >>> import jaxmh
    >>> m = jaxmh.model("Reaction ~ Days + (Days | Subject)", jaxmh.datasets.columns("sleepstudy"))
    >>> sorted(m.priors)[:3]
    ['Days', 'Intercept', 'sd(Days|Subject)']
    """
    if not isinstance(formula, str):
        raise TypeError(f"formula must be a string like 'y ~ x + (x | g)', got {type(formula).__name__}")
    family = families.get(family).name
    if trials is not None and not isinstance(trials, (str, int, np.integer)):
        raise TypeError(f"trials must be a column name or a whole number, got {type(trials).__name__}")
    if offset is not None and not isinstance(offset, str):
        raise TypeError(f"offset must be a column name (log exposure), got {type(offset).__name__}")
    extra = {role: col for role, col in (("trials", trials), ("offset", offset)) if isinstance(col, str)}
    cols = read_columns(_as_columns(data))
    d = design(formula, cols, drop_missing=drop_missing, extra_columns=extra, text_response=family == "bernoulli")
    text = str(d.formula)
    used = [name for name, _ in used_columns(d.formula)] + [c for c in extra.values()]
    layout = _layout(d, text, family)._replace(
        source={name: cols.values[name][d.row_numbers - 1] for name in dict.fromkeys(used)},
        roles={r: v for r, v in (("trials", trials), ("offset", offset)) if v is not None})
    prepared = None
    if family == "gaussian":
        if trials is not None or offset is not None:
            raise ValueError(f"{'trials' if trials is not None else 'offset'}: the gaussian family takes neither "
                             "trials nor an offset (family='binomial' has trials, 'poisson' an offset)")
        defaults = default_priors(d)
    else:
        prepared = families.prepare(family, d.y, d.response, d.row_numbers, levels=d.response_levels,
                                    trials=d.extra.get("trials", trials), trials_column=extra.get("trials"),
                                    offset=d.extra.get("offset"), offset_column=offset)
        defaults = glm_default_priors(d, family, prepared.y, prepared.offset)
        shifts, weights = glm.find_shifts(layout, d.X, d.factors)
        nests, parents = glm.find_nests(layout, d.factors)
        layout = layout._replace(note=prepared.note, shifts=shifts, nests=nests)
    chosen = _resolve_priors(layout, defaults, priors)
    dtype = jnp.result_type(float)
    model_data = _data(d, chosen, dtype, prepared)
    if prepared is not None:
        model_data.update(shift_weights=[jnp.asarray(v, dtype) for v in weights],
                          nest_parents=[jnp.asarray(q, jnp.int32) for q in parents])
    functions = _functions(layout)
    made = functions(model_data)
    group_params = tuple(e for t in layout.terms for e in t.effects)
    scale_params = tuple(s for t in layout.terms for s in t.sds) + (("sigma",) if family == "gaussian" else ())
    start = {k: priors_mod.start_scale(p, k in scale_params) for k, p in chosen.items() if not k.startswith("cor(")}
    start.update({c: 0.3 for t in layout.terms for c in t.cors})
    num_groups = len(layout.terms[0].labels) if layout.terms else 1
    plain = {k: v for k, v in chosen.items() if not k.startswith("cor(")}
    built = Model(text, made["logdensity"], made["init"], group_params, num_groups, None, plain, scale_params,
                  start, model_data, None, 0.1, made["conditionals"], layout.coords, layout,
                  made["pointwise_loglik"])
    return rebindable(built, functions)
