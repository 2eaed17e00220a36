"""The Gibbs kernel's updates for formula models of the non-Gaussian families (logit and log links).

Without a Gaussian likelihood no block has a closed-form conditional, so each
block moves by an independence Metropolis-Hastings step whose proposal is the
Laplace approximation of the block's conditional (Gamerman 1997's iteratively
reweighted least squares, run to convergence): starting from a weighted
least-squares fit of the data's working response (where a GLM's iterations
start), Newton steps on the block's log conditional until a step is under
``NEWTON_TOLERANCE`` sds give a mean ``m`` and negative Hessian ``H``; propose
``x' ~ t_10(m, H^-1)`` (a multivariate t: its tails cover the conditional's,
which a Gaussian's do not far from the mode) and accept with the ratio of
targets times the ratio of proposal densities.  The proposal never looks at the current value, so a chain
started far from the mode is not stuck there (a Newton step from the current
value would need the reverse step's density, which is then tiny).  Logit and
log likelihoods are log-concave and close to quadratic once a block has a few
observations, so most proposals are accepted.

- :func:`level_update`: one bar term's effects of every level, each level a
  block of its own (``k`` numbers), proposed in parallel and accepted on its
  own rows and prior: the levels are conditionally independent.
- :func:`fixed_update`: the fixed effects, one block.
- :func:`noncentred_scale_update`: every term's sds with the scaled effects
  held fixed (a small GLM in the sds, one block), and with them the fixed
  effects when the block stays small (``with_fixed``, replacing
  :func:`fixed_update`).
- :func:`shift_update`: coefficients and the effects of the same column moved
  together, ``b_c + d_c`` and ``u_lj - sum_c d_c v_cl`` for every level: the
  linear predictor does not change, so ``d``'s conditional is the Gaussian of
  the priors alone (exact draw; Metropolis-Hastings for non-normal ``b_c``
  priors).  Every coefficient a term's column allows moves in one block.
  This decorrelates an intercept (or a group-level predictor) from its group
  effects when each level's data are informative (hierarchical centring), and
  reads no data.
- :func:`nest_update`: the same for a factor nested in another (broods in
  locations): each outer level's effect and its inner levels' effects.
- :func:`nest_scale_update`: the two sds of a nested pair with the split between
  them integrated out (the totals the data see held fixed), then the split.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jaxmh import _smalllinalg as la
from jaxmh import stablemath
from jaxmh._threefry import fold_in, normals_and_uniforms
from jaxmh.families import Family
from jaxmh.models import _formula_terms as terms
from jaxmh.priors import Normal

__all__ = ["loglik", "level_update", "fixed_update", "shift_update", "shift_groups", "nest_update",
           "nest_scale_update", "nested_totals_logpdf", "find_shifts", "find_nests"]


def loglik(layout, data: dict, family: Family):
    """``p -> ()``: the log-likelihood of every row (with its constant)."""

    def value(p: dict) -> jax.Array:
        eta = terms.linear(p, data, layout) + data["offset"]
        return jnp.sum(family.loglik(data["y"], eta, data["trials"])) + data["constant"]

    return value


def _t_logq(x: jax.Array, mean: jax.Array, low: jax.Array) -> jax.Array:
    """``log t_df(x; mean, (low low')^-1)`` up to terms that do not depend on ``x``, over the last axis
    (batched)."""
    d = x - mean
    v = jnp.sum(low * d[..., :, None], axis=-2)           # low' d
    return -0.5 * (PROPOSAL_DF + x.shape[-1]) * stablemath.log(1.0 + jnp.sum(v * v, axis=-1) / PROPOSAL_DF)


def _outer(a: jax.Array) -> jax.Array:
    return a[..., :, None] * a[..., None, :]


#: Newton's iterations from the weighted-least-squares start stop when a step is shorter than
#: ``NEWTON_TOLERANCE`` standard deviations of the proposal (every block), or after ``NEWTON_MAX_STEPS``
#: (0.3: Newton's error after a step that short is about its square, and the min ESS of the three
#: benchmark models is the same as with 0.1 (5 seeds each) for 15% less time per step)
NEWTON_TOLERANCE = 0.3
NEWTON_MAX_STEPS = 20

#: degrees of freedom of the multivariate t proposals: tails heavier than any logit or log conditional's
#: (whose log-densities fall at least linearly), so that no chain is stuck in a tail the proposal
#: under-covers, as it would be with the Laplace approximation's Gaussian
PROPOSAL_DF = 10


def _irls_step(key, family: Family, data: dict, Z, reduce, base, prior_prec, prior_lin, extra_lp, x0, *, rows):
    """One independence Metropolis-Hastings step for a batch of blocks ``x`` (``(B, k)``; the rows of
    block ``b`` are those ``reduce`` sums into it, ``rows`` each row's block or ``None`` for one block),
    with linear predictor ``base + Z x[block]`` and
    Gaussian prior part ``-x'Px/2 + x'h`` (``prior_prec``, ``prior_lin``; ``extra_lp(x) -> (B,)`` adds
    the rest of the block's prior).

    The proposal ``t_df(m, H^-1)`` is built without looking at the current value: a weighted
    least-squares fit of the working response of ``y`` (as a GLM's iterations start), then Newton
    steps on the block's log conditional until a step is shorter than ``NEWTON_TOLERANCE`` sds;
    ``H`` is the negative Hessian at the last step's start.  Each block is accepted on its own terms (returns the new ``x``, the mean
    acceptance probability, whether any block moved)."""
    y, trials = data["y"], data["trials"]
    dtype = x0.dtype
    zz = _outer(Z)
    num, k = x0.shape[0], x0.shape[1]

    def spread(x):                                                     # rows' linear predictor
        return base + jnp.sum(Z * (x[0] if rows is None else x[rows]), axis=-1)

    eta0, w0 = family.start(y, trials)

    def iterate(carry):
        # x' = (Z'WZ + P)^-1 (Z'(W (eta - base) + d1) + h): at the start the data's working response
        # (eta0, weights w0, d1 = 0; a weighted least-squares fit), then Newton's step from x (eta = the
        # linear predictor at x, d1 and w its score and weights); one loop body for both, so the
        # program holds one Cholesky factorization and solve per block, not two
        it, x, _, _ = carry
        first = it == 0
        eta = spread(x)
        d1, w = family.score(y, eta, trials)
        eta, d1, w = jnp.where(first, eta0, eta), jnp.where(first, 0.0, d1), jnp.where(first, w0, w)
        c = la.cholesky(reduce(zz * w[:, None, None]) + prior_prec)
        new = la.cho_solve(c, reduce(Z * (w * (eta - base) + d1)[:, None]) + prior_lin)
        step = new - x
        size = jnp.max(jnp.sum(jnp.sum(c * step[..., :, None], axis=-2) ** 2, axis=-1))   # |c' step|^2
        return it + 1, new, c, jnp.where(first, jnp.inf, size)

    def going(carry):
        it, _, _, size = carry
        return (it < 2) | ((it <= NEWTON_MAX_STEPS) & (size > NEWTON_TOLERANCE ** 2))

    _, x, c, _ = jax.lax.while_loop(going, iterate, (0, jnp.zeros_like(x0), jnp.zeros((num, k, k), dtype),
                                                     jnp.asarray(jnp.inf, dtype)))
    mean = x

    def prior_lp(v):
        quad = -0.5 * jnp.sum(v * jnp.sum(prior_prec * v[:, None, :], axis=-1), axis=-1) + jnp.sum(v * prior_lin, -1)
        return quad + extra_lp(v)

    def lp_pair(v1, v0):
        # the likelihood of both in one pass over the rows (a column each): one copy of its code
        ll = family.loglik(y, jnp.stack([spread(v1), spread(v0)]), trials)            # (2, n)
        return reduce(ll[0]) + prior_lp(v1), reduce(ll[1]) + prior_lp(v0)

    eps, unif = normals_and_uniforms(key, num * (k + PROPOSAL_DF), num, dtype)
    chi2 = jnp.sum(eps[num * k:].reshape(PROPOSAL_DF, num) ** 2, axis=0)     # chi-square, PROPOSAL_DF dof
    eps = eps[:num * k]
    spread_t = jnp.sqrt(PROPOSAL_DF / jnp.maximum(chi2, jnp.finfo(dtype).tiny))
    x1 = mean + la.solve_upper(c, eps.reshape(num, k)) * spread_t[:, None]
    lp1, lp0 = lp_pair(x1, x0)
    logq = _t_logq(jnp.stack([x1, x0]), mean, c)                                    # (2, B)
    gain = lp1 - lp0 + logq[1] - logq[0]
    gain = jnp.where(jnp.isfinite(gain) & jnp.all(jnp.isfinite(x1), axis=-1), gain, -jnp.inf)
    accept = stablemath.log(unif) < gain
    return jnp.where(accept[:, None], x1, x0), jnp.mean(stablemath.exp(jnp.minimum(gain, 0.0))), jnp.any(accept)


def level_update(layout, data: dict, family: Family, i: int):
    """Term ``i``'s effects, one IWLS Metropolis-Hastings step per level, all levels in parallel."""
    term, f = layout.terms[i], data["factors"][i]
    num, k = len(term.labels), len(term.columns)

    def update(key, p: dict):
        dtype = data["X"].dtype
        prior_prec = _prior_precision(p, term, dtype)
        base = terms.linear(p, data, layout, skip=i) + data["offset"]
        u, prob, moved = _irls_step(
            key, family, data, f["Z"], lambda a: jax.ops.segment_sum(a, f["index"], num), base,
            prior_prec[None], jnp.zeros((num, k), dtype), lambda v: jnp.zeros(v.shape[0], dtype),
            terms.effects(p, term).astype(dtype), rows=f["index"])
        out = dict(p)
        out.update({e: u[:, j].astype(jnp.result_type(p[e])) for j, e in enumerate(term.effects)})
        return out, prob, moved

    return update


def _other_fixed_lp(v: jax.Array, names, chosen: dict, other: tuple, dtype) -> jax.Array:
    """``(B,)``: the log-densities of the fixed effects whose priors are not normal (``other``; the normal
    ones are in the proposal's precision), ``names[j]`` in column ``j`` of ``v``."""
    return sum((jnp.asarray(chosen[k].logpdf(v[:, j]), dtype) for j, k in enumerate(names) if k in other),
               jnp.zeros(v.shape[0], dtype))


def fixed_update(layout, data: dict, family: Family):
    """The fixed effects, one IWLS Metropolis-Hastings step (normal priors' precision in the proposal;
    the other priors in the acceptance)."""
    X = data["X"]
    names = layout.fixed

    def update(key, p: dict):
        dtype = X.dtype
        chosen = data["priors"]
        prec, pm, other = terms.normal_parts(layout, chosen, dtype)
        base = terms.linear(p, data, layout, fixed=False) + data["offset"]

        def extra_lp(v):
            return _other_fixed_lp(v, names, chosen, other, dtype)

        b0 = jnp.stack([jnp.asarray(p[k], dtype) for k in names])[None]
        b, prob, moved = _irls_step(key, family, data, X, lambda a: jnp.sum(a, axis=0)[None], base,
                                    jnp.diag(prec)[None], pm[None], extra_lp, b0, rows=None)
        out = dict(p)
        out.update({k: b[0, j].astype(jnp.result_type(p[k])) for j, k in enumerate(names)})
        return out, prob, moved

    return update


def find_shifts(layout, X: np.ndarray, factors) -> tuple[tuple, list]:
    """The shift moves a design allows: ``((term, column, coefficient), ...)`` and each one's per-level
    weights ``v`` (``(L,)``), for every fixed-effect column that reads ``X[r, c] = v[level(r)] Z[r, j]``
    in every row: the intercept or a slope against the same varying column (``v = 1``), or a group-level
    predictor against the varying intercept (``v`` its value per level)."""
    X = np.asarray(X, np.float64)
    pairs, weights = [], []
    for i, (term, f) in enumerate(zip(layout.terms, factors)):
        Z, index, num = np.asarray(f.Z, np.float64), np.asarray(f.index), len(f.labels)
        for j in range(len(term.columns)):
            z = Z[:, j]
            for c, name in enumerate(layout.fixed):
                x = X[:, c]
                if np.any((z == 0) & (x != 0)):
                    continue
                v = np.zeros(num)
                nz = z != 0
                np.put(v, index[nz], x[nz] / z[nz])                      # the last row of each level wins
                if np.allclose(v[index] * z, x, rtol=1e-12, atol=0.0) and np.any(v != 0):
                    pairs.append((i, j, name))
                    weights.append(v)
    return tuple(pairs), weights


def find_nests(layout, factors) -> tuple[tuple, list]:
    """Pairs of terms whose factors nest (every level of term ``a``'s factor inside one level of term
    ``b``'s) with an identical column ``(a, ja, b, jb)``, and ``a``'s parent level of each level."""
    pairs, parents = [], []
    for a, (ta, fa) in enumerate(zip(layout.terms, factors)):
        for b, (tb, fb) in enumerate(zip(layout.terms, factors)):
            if a == b or len(fb.labels) >= len(fa.labels):
                continue
            ia, ib = np.asarray(fa.index), np.asarray(fb.index)
            parent = np.full(len(fa.labels), -1)
            parent[ia] = ib
            if np.any(parent < 0) or not np.array_equal(parent[ia], ib):
                continue
            for ja in range(len(ta.columns)):
                for jb in range(len(tb.columns)):
                    if np.array_equal(np.asarray(fa.Z)[:, ja], np.asarray(fb.Z)[:, jb]):
                        pairs.append((a, ja, b, jb))
                        parents.append(parent)
    return tuple(pairs), parents


def _prior_precision(p: dict, term, dtype) -> jax.Array:
    k = len(term.columns)
    low, _ = terms.scale_factor(p, term, dtype)
    inv_low = la.solve_lower(low, jnp.eye(k, dtype=dtype))
    return jnp.sum(inv_low[:, :, None] * inv_low[:, None, :], axis=0)              # Sigma^-1


def shift_groups(shifts: tuple) -> tuple:
    """The shift moves of ``shifts`` (``layout.shifts``) grouped by the effects they move: ``((s, ...), ...)``
    with the same ``(term, column)`` in each group, in first-appearance order."""
    groups: dict = {}
    for s, (i, j, _) in enumerate(shifts):
        groups.setdefault((i, j), []).append(s)
    return tuple(tuple(g) for g in groups.values())


def shift_update(layout, data: dict, members: tuple):
    """The shift moves ``members`` of ``layout.shifts`` (one term's column ``j``; coefficients ``c``), jointly:
    ``b_c + d_c`` for each and the effects ``u_lj - sum_c d_c v_cl`` (the linear predictor unchanged), the
    vector ``d`` drawn from its conditional, a Gaussian from the effects' prior and the normal ``b``
    priors (Metropolis-Hastings with the prior ratio of the others).  Drawing the shifts of the
    intercept and of every group-level predictor together moves them as one block, as the
    coefficients are correlated among themselves (a level-constant predictor against the intercept)."""
    i, j, _ = layout.shifts[members[0]]
    names = [layout.shifts[s][2] for s in members]
    term = layout.terms[i]
    leaf = term.effects[j]
    num = len(members)

    def update(key, p: dict):
        dtype = data["X"].dtype
        v = jnp.stack([data["shift_weights"][s] for s in members], axis=-1).astype(dtype)   # (L, C)
        prior_prec = _prior_precision(p, term, dtype)
        u = terms.effects(p, term).astype(dtype)
        b = jnp.stack([jnp.asarray(p[n], dtype) for n in names])
        prec = prior_prec[j, j] * jnp.sum(v[:, :, None] * v[:, None, :], axis=0)          # (C, C)
        lin = jnp.sum(v * jnp.sum(u * prior_prec[j][None, :], axis=-1)[:, None], axis=0)  # V' (Sigma^-1 u)_j
        priors = [data["priors"][n] for n in names]
        normal = [isinstance(q, Normal) for q in priors]
        inv_var = jnp.asarray([1.0 / (q.scale * q.scale) if ok else 0.0 for q, ok in zip(priors, normal)], dtype)
        locs = jnp.asarray([q.loc if ok else 0.0 for q, ok in zip(priors, normal)], dtype)
        prec = prec + jnp.diag(inv_var)
        lin = lin + inv_var * (locs - b)
        c = la.cholesky(prec[None])
        eps, unif = normals_and_uniforms(key, num, 1, dtype)
        d = la.cho_solve(c, lin[None])[0] + la.solve_upper(c, eps[None])[0]
        gain = sum((jnp.asarray(q.logpdf(b[m] + d[m]) - q.logpdf(b[m]), dtype)
                    for m, (q, ok) in enumerate(zip(priors, normal)) if not ok), jnp.zeros((), dtype))
        gain = jnp.where(jnp.isfinite(gain) & jnp.all(jnp.isfinite(d)), gain, -jnp.inf)
        accept = stablemath.log(unif[0]) < gain
        d = jnp.where(accept, d, 0.0)
        out = dict(p)
        for m, n in enumerate(names):
            out[n] = (b[m] + d[m]).astype(jnp.result_type(p[n]))
        out[leaf] = (u[:, j] - jnp.sum(v * d[None, :], axis=-1)).astype(jnp.result_type(p[leaf]))
        return out, stablemath.exp(jnp.minimum(gain, 0.0)), accept

    return update


def nest_update(layout, data: dict, s: int):
    """Nested shift ``s`` of ``layout.nests``: for every level ``l`` of the outer factor, its effect
    ``+ d_l`` and the effects of the inner levels inside it ``- d_l`` (the linear predictor unchanged):
    each ``d_l`` an exact draw from the Gaussian the two priors make, all levels in parallel."""
    a, ja, b, jb = layout.nests[s]
    ta, tb = layout.terms[a], layout.terms[b]
    num_b = len(tb.labels)

    def update(key, p: dict):
        dtype = data["X"].dtype
        parent = data["nest_parents"][s]
        pa, pb = _prior_precision(p, ta, dtype), _prior_precision(p, tb, dtype)
        ua, ub = terms.effects(p, ta).astype(dtype), terms.effects(p, tb).astype(dtype)
        inner = jax.ops.segment_sum(jnp.sum(ua * pa[ja][None, :], axis=-1), parent, num_b)
        count = jax.ops.segment_sum(jnp.ones(ua.shape[0], dtype), parent, num_b)
        prec = pb[jb, jb] + count * pa[ja, ja]
        lin = inner - jnp.sum(ub * pb[jb][None, :], axis=-1)
        eps, _ = normals_and_uniforms(key, num_b, 1, dtype)
        d = lin / prec + eps / jnp.sqrt(prec)
        out = dict(p)
        out[tb.effects[jb]] = (ub[:, jb] + d).astype(jnp.result_type(p[tb.effects[jb]]))
        out[ta.effects[ja]] = (ua[:, ja] - d[parent]).astype(jnp.result_type(p[ta.effects[ja]]))
        return out, jnp.ones((), dtype), jnp.ones((), bool)

    return update


def nested_totals_logpdf(log_sd: jax.Array, count: jax.Array, within: jax.Array, between: jax.Array) -> jax.Array:
    """``log p(t)`` up to ``-n log(2 pi) / 2`` for inner-level totals ``t ~ N(0, s_in^2 I + s_out^2 11')``
    within each outer level, from ``log_sd = (log s_in, log s_out)`` and per outer level the count of
    inner levels ``n``, ``within = sum t^2 - n tbar^2`` and ``between = n tbar^2`` (the covariance's
    eigenvalues: ``s_in^2`` on the ``n - 1`` contrasts, ``s_in^2 + n s_out^2`` on the mean)."""
    va, vb = stablemath.exp(2.0 * log_sd[0]), stablemath.exp(2.0 * log_sd[1])
    outer = va + count * vb
    return -0.5 * jnp.sum((count - 1.0) * 2.0 * log_sd[0] + stablemath.log(outer) + within / va + between / outer)


#: random-walk steps (on the log sds) of :func:`nest_scale_update`, tried in turn at each call: no
#: tuning, and one of them is near the right size for a posterior of any width (twice over: these
#: moves read no data, and grouseticks' sd(LOCATION) mixes as well with 4 cycles of 6 steps as with
#: 8 cycles of 3)
NEST_STEPS = (0.1, 0.3, 1.0, 0.1, 0.3, 1.0)


def nest_scale_update(layout, data: dict, s: int):
    """Nested pair ``s`` of ``layout.nests`` (both terms uncorrelated): the two sds with the split of
    each inner level's total between it and its outer level integrated out, then the split drawn anew.

    The data see only each inner level's total ``t = u_inner + u_outer[parent]`` (the columns are
    the same), so given the totals the sds' conditional has the split integrated out: per outer level
    with ``n`` inner levels, ``t ~ N(0, s_in^2 I + s_out^2 11')``, whose density needs only ``n``, the
    sum and the sum of squares of its totals.  Random-walk Metropolis on ``(log s_in, log s_out)`` with
    that density and the sds' priors (steps :data:`NEST_STEPS`), then the split from its Gaussian
    conditional (:func:`nest_update`): together a draw of the sds and the split given the totals (a
    collapsed Gibbs step).  Where most outer levels hold one or two inner levels (grouseticks: 118
    broods in 63 locations) the data cannot tell the two sds' shares apart, and the updates given
    the effects crawl; this one moves along that ridge without reading the data."""
    a, ja, b, jb = layout.nests[s]
    ta, tb = layout.terms[a], layout.terms[b]
    num_b = len(tb.labels)
    name_a, name_b = ta.sds[ja], tb.sds[jb]
    split = nest_update(layout, data, s)

    def update(key, p: dict):
        dtype = jnp.promote_types(jnp.result_type(p[name_a]), jnp.float32)
        parent = data["nest_parents"][s]
        priors = data["priors"]
        t = (p[ta.effects[ja]] + p[tb.effects[jb]][parent]).astype(dtype)
        count = jax.ops.segment_sum(jnp.ones(t.shape[0], dtype), parent, num_b)
        total = jax.ops.segment_sum(t, parent, num_b)
        squares = jax.ops.segment_sum(t * t, parent, num_b)
        between = total * total / count
        within = squares - between

        def log_target(log_sd):                       # log_sd = (log s_in, log s_out)
            marginal = nested_totals_logpdf(log_sd, count, within, between)
            sd = stablemath.exp(log_sd)
            value = (marginal + jnp.asarray(priors[name_a].logpdf(sd[0]), dtype)
                     + jnp.asarray(priors[name_b].logpdf(sd[1]), dtype) + jnp.sum(log_sd))
            return jnp.where(jnp.isfinite(value), value, -jnp.inf)

        k_walk, k_split = fold_in(key, 0), fold_in(key, 1)
        z, u = normals_and_uniforms(k_walk, 2 * len(NEST_STEPS), len(NEST_STEPS), dtype)
        x = stablemath.log(jnp.stack([jnp.asarray(p[name_a], dtype), jnp.asarray(p[name_b], dtype)]))
        steps = jnp.asarray(NEST_STEPS, dtype)[:, None] * z.reshape(len(NEST_STEPS), 2)

        def walk(i, carry):                           # a loop, so that the program holds one step
            x, current, total_prob, moved = carry
            proposal = x + steps[i]
            new = log_target(proposal)
            gain = jnp.where(jnp.isfinite(new), new - current, -jnp.inf)
            accept = stablemath.log(u[i]) < gain
            return (jnp.where(accept, proposal, x), jnp.where(accept, new, current),
                    total_prob + stablemath.exp(jnp.minimum(gain, 0.0)), moved | accept)

        x, _, total_prob, moved = jax.lax.fori_loop(
            0, len(NEST_STEPS), walk, (x, log_target(x), jnp.zeros((), dtype), jnp.zeros((), bool)))
        sd = stablemath.exp(x)
        out = dict(p)
        out[name_a] = sd[0].astype(jnp.result_type(p[name_a]))
        out[name_b] = sd[1].astype(jnp.result_type(p[name_b]))
        out, _, _ = split(k_split, out)
        return out, total_prob / len(NEST_STEPS), moved

    return update


def noncentred_scale_update(layout, data: dict, family: Family, with_fixed: bool = False):
    """Every term's sds at once with the scaled effects ``v = u / sd`` held fixed (the non-centred half
    of an interweaving, as the Gaussian family's): given ``v`` the linear predictor is linear in the
    sds, ``sum_{i,j} sd_ij Z_rj v_i[g_i(r), j]``, so their conditional is a small GLM, updated by the
    same IWLS Metropolis-Hastings step as the effects (the sds' priors in the acceptance; a negative
    sd is rejected).  Where a level's data say little, the centred updates crawl along the funnel;
    this one moves the sds and every effect together.  One block for all the terms: the sds of
    crossed factors are correlated a posteriori (their effects share the rows), and one block is
    one program to compile instead of one per term.

    ``with_fixed``: the fixed effects join the block (the linear predictor is linear in them too; their
    normal priors' precision in the proposal, the others in the acceptance).  Given ``v`` their
    conditional is the one given the effects, so this one update replaces :func:`fixed_update`: one
    IWLS loop per step less to run and to compile."""
    names = [s for term in layout.terms for s in term.sds]
    fixed = list(layout.fixed) if with_fixed else []

    def update(key, p: dict):
        dtype = data["X"].dtype
        priors = data["priors"]
        sds, ws, vs = [], [], []
        for term, f in zip(layout.terms, data["factors"]):
            sd = jnp.stack([jnp.asarray(p[s], dtype) for s in term.sds])
            v = terms.effects(p, term).astype(dtype) / sd                    # (L, k)
            sds.append(sd)
            vs.append(v)
            ws.append(f["Z"] * v[f["index"]])                                # (n, k): the sds' covariates
        sd, w = jnp.concatenate(sds), jnp.concatenate(ws, axis=-1)
        k = sd.shape[0]
        if fixed:
            prec, pm, other = terms.normal_parts(layout, priors, dtype)
            f_ = len(fixed)
            covariates = jnp.concatenate([data["X"].astype(dtype), w], axis=-1)
            base = data["offset"]
            prior_prec = jnp.zeros((f_ + k, f_ + k), dtype).at[:f_, :f_].set(jnp.diag(prec))[None]
            prior_lin = jnp.concatenate([pm, jnp.zeros((k,), dtype)])[None]
            x0 = jnp.concatenate([jnp.stack([jnp.asarray(p[c], dtype) for c in fixed]), sd])[None]
        else:
            other, f_ = (), 0
            covariates = w
            base = terms.linear(p, data, layout, skip=None, terms_too=False) + data["offset"]
            prior_prec, prior_lin, x0 = jnp.zeros((1, k, k), dtype), jnp.zeros((1, k), dtype), sd[None]

        def extra_lp(x):
            total = sum(jnp.asarray(priors[s].logpdf(x[:, f_ + j]), dtype) for j, s in enumerate(names))
            total = total + _other_fixed_lp(x, fixed, priors, other, dtype)
            return jnp.where(jnp.all(x[:, f_:] > 0, axis=-1), total, -jnp.inf)

        new, prob, moved = _irls_step(key, family, data, covariates, lambda a: jnp.sum(a, axis=0)[None], base,
                                      prior_prec, prior_lin, extra_lp, x0, rows=None)
        out = dict(p)
        for j, c in enumerate(fixed):
            out[c] = new[0, j].astype(jnp.result_type(p[c]))
        j = f_
        for term, v in zip(layout.terms, vs):
            for m, (s, e) in enumerate(zip(term.sds, term.effects)):
                out[s] = jnp.where(moved, new[0, j], p[s]).astype(jnp.result_type(p[s]))
                out[e] = jnp.where(moved, v[:, m] * new[0, j], p[e]).astype(jnp.result_type(p[e]))
                j += 1
        return out, prob, moved

    return update
