"""Design matrices from a parsed formula and a table: ``y``, ``X`` and one small ``Z`` per bar term.

Coding follows R's ``model.matrix``:

* the intercept column is ``"Intercept"``; a numeric variable is its own column;
* a categorical variable (a text column, or any column written ``C(x)``) gets
  treatment coding: the baseline is the first level in order of appearance and
  every other level gets a 0/1 column named ``x[level]``;
* without an intercept, the first categorical main effect gets full dummy
  coding (every level a column), as R does; more generally a categorical
  variable in a term gets full coding when the term without it is not in the
  model (so ``x:f`` alone gives a slope per level of ``f``; ``x*f`` gives ``x``
  and one ``x:f[level]`` per non-baseline level);
* an interaction is the product of its variables' columns, named by joining
  with ``:`` (``a:b``, ``a:period[2]``), the first variable's levels varying
  fastest.

A bar term ``(expr | g)`` is coded by the same rules inside ``expr``; its
columns form ``Z`` (``n x k``, ``k`` the number of columns -- never one column
per level), and ``index`` says which level of ``g`` each row belongs to.  An
uncorrelated bar term ``(expr || g)`` gives one :class:`FactorDesign` per column.
"""

from __future__ import annotations

import itertools
import math
from typing import Any, Mapping, NamedTuple

import numpy as np

from jaxmh.columns import Columns, is_missing, read_columns
from jaxmh.formula import Formula, Term, parse

__all__ = ["Design", "FactorDesign", "design", "level_codes"]

_RANK_RTOL = 1e-8       # a column whose residual on the previous ones is below this fraction of its norm
_MAX_ROWS_SHOWN = 5


class FactorDesign(NamedTuple):
    """The varying effects of one (expanded) bar term.

    Attributes
    ----------
    name
        The grouping factor as written: ``"Subject"``, ``"g1:g2"``.
    index
        ``(n,)`` int32, the level of every row, in ``0..L-1``.
    labels
        The ``L`` level labels as in the data (numbers without a trailing ``.0``),
        in order of first appearance; ``"a:b"`` for an interaction ``g1:g2``.
    Z
        ``(n, k)`` float64, the varying-effect columns (``k`` small).
    term_names
        The ``k`` column names: ``"Intercept"``, ``"Days"``, ``"period[2]"``, ``"a:b"``.
    correlated
        False for a column of an uncorrelated bar term ``(... || g)``.
    """

    name: str
    index: np.ndarray
    labels: tuple[str, ...]
    Z: np.ndarray
    term_names: tuple[str, ...]
    correlated: bool


class Design(NamedTuple):
    """Everything a hierarchical regression needs from a formula and a table.

    Attributes
    ----------
    y
        ``(n,)`` float64, the response.
    X
        ``(n, p)`` float64, the fixed-effects design.
    fixed_names
        The ``p`` column names of ``X``.
    factors
        One :class:`FactorDesign` per bar term (per column of an uncorrelated one).
    formula
        The parsed formula.
    num_rows
        ``n``, the rows used.
    dropped
        Rows left out for a missing value (``drop_missing=True``), else 0.
    response
        The response column's name.
    column_stats
        ``column_stats[name] = (mean, sd)`` of every column of ``X`` (sd with
        ``ddof=1``; 0 for a constant column or a single row).
    extra
        ``{role: (n,) float64}``: the values of the ``extra_columns`` asked for
        (e.g. a binomial model's trials), on the rows used.
    response_levels
        For a text response (``text_response=True``): its distinct values,
        sorted; ``y`` then holds each row's position among them.  Else ``()``.
    row_numbers
        ``(n,)`` the 1-based row numbers in the data of the rows used.
    """

    y: np.ndarray
    X: np.ndarray
    fixed_names: tuple[str, ...]
    factors: tuple[FactorDesign, ...]
    formula: Formula
    num_rows: int
    dropped: int
    response: str
    column_stats: dict
    extra: dict = {}
    response_levels: tuple = ()
    row_numbers: np.ndarray | None = None


def level_label(v: Any) -> str:
    """A value as a level label: numbers without a trailing ``.0`` when integral, text as it is."""
    if isinstance(v, (float, np.floating)):
        f = float(v)
        if math.isfinite(f) and f == int(f) and abs(f) < 2 ** 63:
            return str(int(f))
        return repr(f)
    return str(v)


def level_codes(values: np.ndarray) -> tuple[np.ndarray, tuple[str, ...]]:
    """Code a column's distinct values as levels in order of first appearance.

    Parameters
    ----------
    values
        A 1-D numeric or text array without missing values.

    Returns
    -------
    codes : np.ndarray
        ``(n,)`` int32 level of every entry, in ``0..L-1``.
    labels : tuple of str
        The ``L`` labels (numbers without a trailing ``.0`` when integral).
    """
    if len(values) == 0:
        return np.zeros(0, dtype=np.int32), ()
    uniq, first, inverse = np.unique(values, return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    codes = rank[inverse.reshape(-1)].astype(np.int32)
    return codes, tuple(level_label(uniq[o]) for o in order)


def _rows(mask: np.ndarray) -> str:
    where = np.flatnonzero(mask) + 1
    shown = ", ".join(str(int(r)) for r in where[:_MAX_ROWS_SHOWN])
    more = ", ..." if len(where) > _MAX_ROWS_SHOWN else ""
    return f"{'row' if len(where) == 1 else 'rows'} {shown}{more}"


class _Coder:
    """Codes variables into named columns, with a cache per (variable, categorical, full)."""

    def __init__(self, cols: Columns, keep: np.ndarray | None) -> None:
        self.cols = cols
        self.keep = keep
        self.cache: dict = {}

    def raw(self, name: str) -> np.ndarray:
        v = self.cols.values[name]
        return v if self.keep is None else v[self.keep]

    def variable(self, name: str, categorical: bool, full: bool) -> list[tuple[str, np.ndarray]]:
        v = self.raw(name)
        is_cat = categorical or v.dtype.kind != "f"
        key = (name, is_cat, full and is_cat)
        if key not in self.cache:
            if not is_cat:
                self.cache[key] = [(name, v)]
            else:
                codes, labels = level_codes(v)
                start = 0 if full else 1
                self.cache[key] = [(f"{name}[{labels[j]}]", (codes == j).astype(np.float64))
                                   for j in range(start, len(labels))]
        return self.cache[key]

    def is_categorical(self, name: str, categorical: bool) -> bool:
        return categorical or self.cols.values[name].dtype.kind != "f"

    def terms(self, intercept: bool, terms: tuple[Term, ...]) -> list[tuple[str, np.ndarray]]:
        """The columns of ``[1 +] t1 + t2 + ...``, coded as R codes them."""
        n = len(self.raw(self.cols.names[0])) if self.cols.names else 0
        out: list = [("Intercept", np.ones(n))] if intercept else []
        present = {frozenset(t.variables) for t in terms}
        spanned_constant = intercept
        for t in terms:
            variables = frozenset(t.variables)
            lists = []
            for v, c in zip(t.variables, t.categorical):
                full = False
                if self.is_categorical(v, c):
                    rest = variables - {v}
                    full = (not spanned_constant) if not rest else (rest not in present)
                lists.append(self.variable(v, c, full))
            if len(t.variables) == 1 and self.is_categorical(t.variables[0], t.categorical[0]):
                spanned_constant = True
            # first variable varies fastest, as in R
            for combo in itertools.product(*reversed(lists)):
                combo = combo[::-1]
                name = ":".join(nm for nm, _ in combo)
                col = combo[0][1]
                for _, other in combo[1:]:
                    col = col * other
                out.append((name, col))
        return out


def _first_dependent(X: np.ndarray) -> int | None:
    """Index of the first column of ``X`` that is (numerically) a combination of the ones before it."""
    if X.shape[1] == 0:
        return None
    norms = np.linalg.norm(X, axis=0)
    r = np.linalg.qr(X, mode="r")
    diag = np.abs(np.diag(r))
    for j in range(X.shape[1]):
        if norms[j] == 0 or diag[j] <= _RANK_RTOL * norms[j]:
            return j
    return None


def _check_rank(X: np.ndarray, names: tuple[str, ...]) -> None:
    j = _first_dependent(X)
    if j is None:
        return
    col = X[:, j]
    if not np.any(col):
        raise ValueError(f"the fixed effects are rank deficient: column {names[j]!r} is all zeros "
                         "(a level or combination of levels that never occurs)")
    prev = X[:, :j]
    coef = np.linalg.lstsq(prev, col, rcond=None)[0]
    contrib = np.abs(coef) * np.linalg.norm(prev, axis=0)
    involved = [names[i] for i in range(j) if contrib[i] > 1e-6 * np.linalg.norm(col)] or list(names[:j])
    raise ValueError(f"the fixed effects are rank deficient: column {names[j]!r} is a linear combination of "
                     f"{', '.join(repr(n) for n in involved)}")


def _varies_within(col: np.ndarray, index: np.ndarray, num_levels: int) -> bool:
    lo = np.full(num_levels, np.inf)
    hi = np.full(num_levels, -np.inf)
    np.minimum.at(lo, index, col)
    np.maximum.at(hi, index, col)
    scale = max(float(np.max(np.abs(col))), 1e-300)
    return bool(np.any(hi - lo > 1e-10 * scale))


def _grouping(coder: _Coder, factor: tuple[str, ...]) -> tuple[np.ndarray, tuple[str, ...]]:
    if len(factor) == 1:
        return level_codes(coder.raw(factor[0]))
    parts = [level_codes(coder.raw(f)) for f in factor]
    stacked = np.stack([c for c, _ in parts], axis=1)
    uniq, first, inverse = np.unique(stacked, axis=0, return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    codes = rank[inverse.reshape(-1)].astype(np.int32)
    labels = tuple(":".join(parts[i][1][uniq[o, i]] for i in range(len(factor))) for o in order)
    return codes, labels


def used_columns(f: Formula) -> list[tuple[str, str]]:
    """(column, where it is used) for every column the formula uses, in formula order, no repeats."""
    used: dict = {f.response: "the response"}
    for t in f.terms:
        for v in t.variables:
            used.setdefault(v, f"term '{t}'")
    for g in f.groups:
        for t in g.terms:
            for v in t.variables:
                used.setdefault(v, f"bar term {g}")
        for v in g.factor:
            used.setdefault(v, f"the grouping factor of {g}")
    return list(used.items())


def design(formula: Formula | str, data: Any, *, drop_missing: bool = False,
           extra_columns: Mapping[str, str] | None = None, text_response: bool = False) -> Design:
    """Build ``y``, ``X`` and the varying-effect designs of a formula on a table.

    Parameters
    ----------
    formula
        A :class:`~jaxmh.formula.Formula` or a formula string (see :func:`jaxmh.formula.parse`).
    data
        A CSV path, a dict of columns, a pandas DataFrame or a :class:`~jaxmh.columns.Columns`.
    drop_missing
        Drop the rows with a missing value in any column the formula uses
        (otherwise such a value is an error).
    extra_columns
        ``{role: column}``: numeric columns the model needs besides the
        formula's (e.g. ``{"trials": "size"}``), checked like the formula's
        and returned in ``Design.extra``.
    text_response
        Accept a text response (coded by its sorted distinct values, see
        ``Design.response_levels``) instead of raising.

    Returns
    -------
    Design

    Raises
    ------
    ValueError
        With one line naming the column or term: an unknown column, a text
        response, missing or infinite values in a used column, a grouping
        factor with one level, a varying slope that does not vary within any
        level of its grouping factor, a rank-deficient fixed-effects design, a
        varying effect that appears in two bar terms of the same factor.

    Examples
    --------
    >>> d = design("y ~ x + (1 + x | g)", {"y": [1.0, 2, 3, 5], "x": [0, 1, 0, 1], "g": ["a", "a", "b", "b"]})
    >>> d.fixed_names, d.factors[0].term_names, d.factors[0].labels
    (('Intercept', 'x'), ('Intercept', 'x'), ('a', 'b'))
    """
    if isinstance(formula, str):
        formula = parse(formula)
    elif not isinstance(formula, Formula):
        raise TypeError(f"formula: expected a string or a Formula, got {type(formula).__name__}")
    cols = read_columns(data)
    used = used_columns(formula)
    extra_columns = dict(extra_columns or {})
    for role, name in extra_columns.items():
        if not isinstance(name, str):
            raise TypeError(f"{role}: expected a column name, got {type(name).__name__}")
        if name not in dict(used):
            used.append((name, f"the {role}"))
    for name, where in used:
        if name not in cols.values:
            available = ", ".join(cols.names) if cols.names else "(none)"
            place = where if where == "the response" or name in extra_columns.values() else f"in {where}"
            raise ValueError(f"unknown column {name!r} ({place}); available columns: {available}")
    if cols.num_rows == 0:
        raise ValueError("the data have no rows")

    # missing values
    missing_any = np.zeros(cols.num_rows, dtype=bool)
    for name, _ in used:
        mask = is_missing(cols.values[name])
        if mask.any():
            if not drop_missing:
                k = int(mask.sum())
                raise ValueError(f"column {name!r} has {k} missing {'value' if k == 1 else 'values'} "
                                 f"({_rows(mask)}); drop those rows with drop_missing=True "
                                 "(--drop-missing on the command line)")
            missing_any |= mask
    keep = None
    dropped = int(missing_any.sum())
    if dropped:
        keep = ~missing_any
        if not keep.any():
            raise ValueError("no rows left after dropping the rows with a missing value in the columns the "
                             "formula uses")
    n = cols.num_rows - dropped
    coder = _Coder(cols, keep)

    row_numbers = np.arange(1, cols.num_rows + 1) if keep is None else np.flatnonzero(keep) + 1

    # response and non-finite values
    y = coder.raw(formula.response)
    response_levels: tuple = ()
    if y.dtype.kind != "f":
        if not text_response:
            raise ValueError(f"the response {formula.response!r} is a factor (text values); it must be numeric")
        response_levels = tuple(sorted({str(v) for v in y}))
        y = np.searchsorted(np.asarray(response_levels), np.asarray([str(v) for v in y])).astype(np.float64)
    extra = {}
    for role, name in extra_columns.items():
        v = coder.raw(name)
        if v.dtype.kind != "f":
            raise ValueError(f"column {name!r} (the {role}) has text values; it must be numeric")
        extra[role] = v.astype(np.float64)
    for name, _ in used:
        v = coder.raw(name)
        if v.dtype.kind == "f":
            bad = ~np.isfinite(v)
            if bad.any():
                k = int(bad.sum())
                raise ValueError(f"column {name!r} has {k} infinite {'value' if k == 1 else 'values'} "
                                 f"({_rows(bad)} of the rows used); numbers must be finite")

    # fixed effects
    fixed = coder.terms(formula.intercept, formula.terms)
    fixed_names = tuple(nm for nm, _ in fixed)
    X = np.column_stack([c for _, c in fixed]).astype(np.float64) if fixed else np.zeros((n, 0))
    _check_rank(X, fixed_names)
    stats = {}
    for j, nm in enumerate(fixed_names):
        col = X[:, j]
        sd = float(np.std(col, ddof=1)) if n > 1 else 0.0
        stats[nm] = (float(np.mean(col)), sd)

    # varying effects
    factors: list = []
    seen: dict = {}
    for g in formula.groups:
        gname = ":".join(g.factor)
        index, labels = _grouping(coder, g.factor)
        if len(labels) < 2:
            raise ValueError(f"the grouping factor {gname!r} has only one level ({labels[0]!r}) in the rows "
                             f"used; a varying effect needs at least two groups")
        columns = coder.terms(g.intercept, g.terms)
        if len(columns) > 1:
            for nm, col in columns:
                if nm != "Intercept" and not _varies_within(col, index, len(labels)):
                    raise ValueError(f"the varying slope of {nm!r} by {gname!r} is not identified: {nm} does not "
                                     f"vary within any level of {gname}; drop it from the bar term")
        key = frozenset(g.factor)
        for nm, _ in columns:
            if (key, nm) in seen:
                raise ValueError(f"duplicate bar term: the varying {nm!r} by {gname!r} appears in both "
                                 f"{seen[(key, nm)]} and {g}")
            seen[(key, nm)] = str(g)
        blocks = [columns] if g.correlated else [[c] for c in columns]
        for block in blocks:
            Z = np.column_stack([c for _, c in block]).astype(np.float64)
            factors.append(FactorDesign(gname, index, labels, Z, tuple(nm for nm, _ in block), g.correlated))

    return Design(y.astype(np.float64), X, fixed_names, tuple(factors), formula, n, dropped,
                  formula.response, stats, extra, response_levels, row_numbers)
