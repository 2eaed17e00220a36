"""lme4-style model formulas (a subset), parsed into plain named tuples.

The grammar, loosest binding first::

    formula  := response "~" rhs
    rhs      := ["-" "1" | "0" | "1"] { ("+" summand) | ("-" "1") }
    summand  := "0" | "1" | product | "(" rhs ("|" | "||") grouping ")"
    product  := inter { "*" inter }          a*b   = a + b + a:b
    inter    := atom { ":" atom }            a:b   = the interaction
    atom     := name | "C(" name ")"         C(x)  = x treated as categorical
    grouping := ginter { "/" ginter }        g1/g2 = (... | g1) + (... | g1:g2)
    ginter   := name { ":" name }            g1:g2 = one factor, the observed combinations

Names are made of letters, digits, ``_`` and ``.`` (not starting with a digit),
or are written in backquotes (`` `my col` ``).  ``0 +``, ``+ 0`` and ``- 1``
remove the intercept, ``1`` keeps it (the default).

Differences from R/lme4 worth knowing: a term written twice literally is an
error (duplicates that come out of ``*`` are merged, as in R); ``(x || g)``
stays one :class:`GroupTerm` with ``correlated=False`` (the design step gives
every one of its columns its own uncorrelated varying effect, which is lme4's
``(1 | g) + (0 + x | g)``, but codes categorical columns with the bar term's
own intercept in mind).  Fixed terms are ordered by degree (main effects first,
then two-way interactions, ...), otherwise as written, as R's ``terms()`` does.
"""

from __future__ import annotations

import itertools
from typing import NamedTuple

__all__ = ["Formula", "FormulaError", "GroupTerm", "Term", "parse", "quote"]


class FormulaError(ValueError):
    """A syntax error in a model formula.

    The message says what was expected and shows the formula with a caret
    under the offending character.

    Attributes
    ----------
    position
        0-based index of the offending character in ``text`` (``len(text)`` for
        the end of the formula).
    text
        The formula as given.
    """

    def __init__(self, what: str, text: str, position: int) -> None:
        shown = text.replace("\t", " ").replace("\n", " ").replace("\r", " ")
        super().__init__(f"formula: {what} at position {position}:\n  {shown}\n  {' ' * position}^")
        self.position = position
        self.text = text


class Term(NamedTuple):
    """One fixed (or varying) term: a main effect or an interaction.

    Attributes
    ----------
    variables
        The column names, one for a main effect, several for an interaction.
    categorical
        ``categorical[i]`` is True when ``variables[i]`` was written ``C(name)``
        (a text column is categorical anyway).
    """

    variables: tuple[str, ...]
    categorical: tuple[bool, ...]

    def __str__(self) -> str:
        return ":".join(f"C({quote(v)})" if c else quote(v) for v, c in zip(self.variables, self.categorical))


class GroupTerm(NamedTuple):
    """One bar term ``(expr | factor)`` or ``(expr || factor)``.

    Attributes
    ----------
    intercept
        Whether ``expr`` has an intercept (implied unless removed by ``0``/``-1``).
    terms
        The other terms of ``expr``.
    factor
        The grouping columns: ``("g",)``, or ``("g1", "g2")`` for ``g1:g2``.
    correlated
        False for ``||``: every column gets its own, independent varying effect.
    """

    intercept: bool
    terms: tuple[Term, ...]
    factor: tuple[str, ...]
    correlated: bool

    def __str__(self) -> str:
        expr = " + ".join(["1" if self.intercept else "0"] + [str(t) for t in self.terms])
        bar = "|" if self.correlated else "||"
        return f"({expr} {bar} {':'.join(quote(f) for f in self.factor)})"


class Formula(NamedTuple):
    """A parsed formula; ``str(formula)`` gives it back normalised.

    Attributes
    ----------
    response
        The response column.
    intercept
        Whether the fixed effects have an intercept.
    terms
        The fixed terms other than the intercept, main effects first.
    groups
        The bar terms, after expanding nested factors ``g1/g2``.
    text
        The formula as given.
    """

    response: str
    intercept: bool
    terms: tuple[Term, ...]
    groups: tuple[GroupTerm, ...]
    text: str

    def __str__(self) -> str:
        parts = ["1" if self.intercept else "0"] + [str(t) for t in self.terms] + [str(g) for g in self.groups]
        return f"{quote(self.response)} ~ {' + '.join(parts)}"


def quote(name: str) -> str:
    """Return ``name`` as written in a formula: backquoted unless it is a plain identifier.

    Parameters
    ----------
    name
        A column name.

    Returns
    -------
    str
        ``name`` itself, or `` `name` ``.
    """
    plain = bool(name) and (name[0].isalpha() or name[0] in "._") and all(
        ch.isalnum() or ch in "._" for ch in name) and not (name[0] == "." and name[1:2].isdigit())
    return name if plain and name != "C" else f"`{name}`"


# ----------------------------------------------------------------------------------------------- tokens

_OPERATORS = "~+-*:/()|"


class _Token(NamedTuple):
    kind: str      # "name", "number", "op", "end"
    value: str
    pos: int


def _tokenize(text: str) -> list[_Token]:
    tokens = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch.isspace():
            i += 1
        elif ch == "`":
            end = text.find("`", i + 1)
            if end < 0:
                raise FormulaError("expected a closing backquote for the name that starts here", text, i)
            if end == i + 1:
                raise FormulaError("expected a variable name between the backquotes", text, i)
            tokens.append(_Token("name", text[i + 1:end], i))
            i = end + 1
        elif ch.isalpha() or ch in "._":
            j = i + 1
            while j < n and (text[j].isalnum() or text[j] in "._"):
                j += 1
            tokens.append(_Token("name", text[i:j], i))
            i = j
        elif ch.isdigit():
            j = i + 1
            while j < n and (text[j].isdigit() or text[j] == "."):
                j += 1
            tokens.append(_Token("number", text[i:j], i))
            i = j
        elif ch == "|" and text[i + 1:i + 2] == "|":
            tokens.append(_Token("op", "||", i))
            i += 2
        elif ch in _OPERATORS:
            tokens.append(_Token("op", ch, i))
            i += 1
        else:
            raise FormulaError(f"unknown character {ch!r}: expected a variable name, a number or one of "
                               "~ + - * : / ( ) |", text, i)
    tokens.append(_Token("end", "", n))
    return tokens


# ----------------------------------------------------------------------------------------------- parser

class _Rhs(NamedTuple):
    intercept: bool
    terms: list            # [(Term, literal: bool, pos)]
    groups: list           # [(GroupTerm, pos)]


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokenize(text)
        self.i = 0

    # helpers
    @property
    def tok(self) -> _Token:
        return self.tokens[self.i]

    def at(self, value: str) -> bool:
        return self.tok.kind == "op" and self.tok.value == value

    def fail(self, what: str, pos: int | None = None) -> FormulaError:
        return FormulaError(what, self.text, self.tok.pos if pos is None else pos)

    def found(self) -> str:
        t = self.tok
        if t.kind == "end":
            return "the end of the formula"
        before = self.tokens[self.i - 1] if self.i > 0 else None
        if t.kind == "name" and before is not None and before.kind == "name":
            # two names in a row: most likely a column name with a space
            return f"{t.value!r} (a column name with spaces goes in backquotes: `{before.value} {t.value}`)"
        return repr(t.value)

    def advance(self) -> _Token:
        t = self.tokens[self.i]
        self.i += 1
        return t

    def name(self, what: str = "expected a variable name") -> str:
        if self.tok.kind != "name":
            raise self.fail(what)
        return self.advance().value

    # grammar
    def formula(self) -> Formula:
        if self.at("~"):
            raise self.fail("expected the response (a variable name) before '~'")
        if self.tok.kind == "end":
            raise self.fail("expected a formula such as 'y ~ x + (1 | g)', found an empty string")
        if self.tok.kind != "name":
            raise self.fail("expected the response (a single variable name)")
        response = self.advance().value
        if self.at("("):
            raise self.fail(f"expected '~' after the response: the response must be a single variable name "
                            f"(functions such as {response}(...) are not supported)")
        if not self.at("~"):
            if self.tok.kind == "end":
                raise self.fail("expected '~' between the response and the predictors")
            if self.tok.kind == "op" and self.tok.value in "+-*:/":
                raise self.fail(f"expected '~' after the response: the response must be a single variable name, "
                                f"found {self.found()}")
            raise self.fail(f"expected '~' after the response, found {self.found()}")
        self.advance()
        if self.tok.kind == "end":
            raise self.fail("expected a term after '~' (the right-hand side is empty)")
        rhs = self.rhs(in_bar=False)
        if self.tok.kind != "end":
            if self.at(")"):
                raise self.fail("expected '+' or the end of the formula, found ')' without a matching '('")
            if self.at("|") or self.at("||"):
                raise self.fail(f"expected '+' or the end of the formula, found {self.found()}: a bar term must "
                                "be in parentheses, as in (1 | g)")
            if self.at("~"):
                raise self.fail("expected '+' or the end of the formula, found a second '~'")
            raise self.fail(f"expected '+' or the end of the formula, found {self.found()}")
        terms = sorted(rhs.terms, key=lambda e: len(e[0].variables))
        if not rhs.intercept and not terms and not rhs.groups:
            raise FormulaError("expected a term: the right-hand side removes the intercept and has nothing else",
                               self.text, len(self.text))
        groups: list = []
        seen: dict = {}
        for g, pos in rhs.groups:
            key = (g.intercept, frozenset(frozenset(t.variables) for t in g.terms), g.factor, g.correlated)
            if key in seen:
                raise FormulaError(f"duplicate bar term {g}", self.text, pos)
            seen[key] = pos
            groups.append(g)
        return Formula(response, rhs.intercept, tuple(t for t, _, _ in terms), tuple(groups), self.text)

    def rhs(self, in_bar: bool) -> _Rhs:
        intercept = True
        terms: list = []
        groups: list = []
        index: dict = {}
        first = True
        while True:
            if first:
                sign = "+"
                if self.at("-"):
                    sign = self.advance().value
            else:
                if not (self.at("+") or self.at("-")):
                    break
                sign = self.advance().value
            first = False
            start = self.tok
            if sign == "-":
                if start.kind == "number" and start.value == "1":
                    self.advance()
                    intercept = False
                    continue
                raise self.fail("expected '1' after '-' (only the intercept can be removed, as in '- 1')")
            if start.kind == "number":
                if start.value not in ("0", "1"):
                    raise self.fail(f"expected a variable name, 0 or 1, found the number {start.value}")
                self.advance()
                intercept = start.value == "1"
                if self.tok.kind == "op" and self.tok.value in "*:/":
                    raise self.fail(f"expected '+' after {start.value}: the intercept cannot be in an interaction")
                continue
            if self.at("("):
                if in_bar:
                    raise self.fail("expected a variable name: bar terms cannot be nested")
                groups.extend((g, start.pos) for g in self.bar())
                continue
            if self.tok.kind != "name":
                if self.tok.kind == "end":
                    raise self.fail("expected a term after '+'" if self.i and self.tokens[self.i - 1].value == "+"
                                    else "expected a term")
                if self.at("|") or self.at("||"):
                    raise self.fail(f"expected a term, found {self.found()}: a bar term must be in parentheses, "
                                    "as in (1 | g)")
                raise self.fail(f"expected a variable name, found {self.found()}")
            product = self.product()
            literal = len(product) == 1
            for term in product:
                key = frozenset(term.variables)
                if key in index:
                    if literal and index[key][1]:
                        raise FormulaError(f"duplicate term '{term}'", self.text, start.pos)
                    continue
                index[key] = (term, literal)
                terms.append((term, literal, start.pos))
        return _Rhs(intercept, terms, groups)

    def product(self) -> list[Term]:
        factors = [self.inter()]
        while self.at("*"):
            self.advance()
            if self.tok.kind != "name":
                raise self.fail("expected a variable name after '*'")
            factors.append(self.inter())
        out = []
        for size in range(1, len(factors) + 1):
            for combo in itertools.combinations(factors, size):
                variables: list = []
                categorical: list = []
                for f in combo:
                    for v, c in zip(f.variables, f.categorical):
                        if v in variables:
                            categorical[variables.index(v)] |= c
                        else:
                            variables.append(v)
                            categorical.append(c)
                out.append(Term(tuple(variables), tuple(categorical)))
        return out

    def inter(self) -> Term:
        variables: list = []
        categorical: list = []
        while True:
            pos = self.tok.pos
            name, cat = self.atom()
            if name in variables:
                raise FormulaError(f"duplicate variable '{name}' in an interaction", self.text, pos)
            variables.append(name)
            categorical.append(cat)
            if not self.at(":"):
                break
            self.advance()
        return Term(tuple(variables), tuple(categorical))

    def atom(self) -> tuple[str, bool]:
        if self.tok.kind != "name":
            if self.tok.kind == "number":
                raise self.fail(f"expected a variable name, found the number {self.tok.value} "
                                "(0 and 1 stand alone, as in '0 + x')")
            raise self.fail(f"expected a variable name, found {self.found()}")
        name = self.advance()
        if not self.at("("):
            return name.value, False
        if name.value != "C":
            raise FormulaError(f"unknown function '{name.value}': expected a variable name "
                               "(the only function is C(name), which makes a column categorical)",
                               self.text, name.pos)
        open_pos = self.advance().pos
        inner = self.name("expected a variable name inside C(...)")
        if not self.at(")"):
            if self.tok.kind == "end":
                raise self.fail(f"expected ')': the '(' at position {open_pos} is never closed")
            raise self.fail(f"expected ')' after C({inner}, found {self.found()}")
        self.advance()
        return inner, True

    def bar(self) -> list[GroupTerm]:
        open_pos = self.advance().pos
        if self.at("|") or self.at("||"):
            raise self.fail("expected a term before the bar, such as 1 in (1 | g)")
        expr = self.rhs(in_bar=True)
        if not (self.at("|") or self.at("||")):
            if self.tok.kind == "end":
                raise self.fail(f"expected '|' and a grouping factor, then ')': the '(' at position {open_pos} "
                                "is never closed")
            if self.at(")"):
                raise self.fail("expected '|' or '||' and a grouping factor: parentheses are only for bar "
                                "terms such as (1 | g)")
            raise self.fail(f"expected '+', '|' or '||', found {self.found()}")
        correlated = self.advance().value == "|"
        if not expr.intercept and not expr.terms:
            raise FormulaError("expected a term: this bar term removes the intercept and has nothing else",
                               self.text, open_pos)
        if expr.groups:  # cannot happen (nested parentheses rejected), kept for safety
            raise FormulaError("bar terms cannot be nested", self.text, open_pos)
        nests = [self.ginter()]
        while self.at("/"):
            self.advance()
            nests.append(self.ginter())
        if not self.at(")"):
            if self.tok.kind == "end":
                raise self.fail(f"expected ')': the '(' at position {open_pos} is never closed")
            if self.at("+"):
                raise self.fail("expected ')': a bar term has one grouping factor (use g1:g2 for an "
                                "interaction, g1/g2 for nesting)")
            raise self.fail(f"expected ')' after the grouping factor, found {self.found()}")
        self.advance()
        terms = tuple(t for t, _, _ in sorted(expr.terms, key=lambda e: len(e[0].variables)))
        out = []
        factor: tuple = ()
        for nest in nests:
            for f in nest:
                if f in factor:
                    raise FormulaError(f"duplicate variable '{f}' in the grouping factor", self.text, open_pos)
            factor = factor + nest
            out.append(GroupTerm(expr.intercept, terms, factor, correlated))
        return out

    def ginter(self) -> tuple[str, ...]:
        names = [self.name()]
        if self.at("("):
            raise self.fail("expected a column name as the grouping factor (functions are not allowed)")
        while self.at(":"):
            self.advance()
            pos = self.tok.pos
            name = self.name()
            if name in names:
                raise FormulaError(f"duplicate variable '{name}' in the grouping factor", self.text, pos)
            names.append(name)
        return tuple(names)


def parse(formula: str) -> Formula:
    """Parse an lme4-style formula.

    Parameters
    ----------
    formula
        For example ``"Reaction ~ Days + (Days | Subject)"``.

    Returns
    -------
    Formula
        The response, the fixed terms and the bar terms (nested factors expanded).

    Raises
    ------
    FormulaError
        On a syntax error; the message says what was expected and points at it::

            formula: expected a variable name at position 12:
              y ~ x + (1 |)
                          ^

    Examples
    --------
    >>> f = parse("y ~ a*b + (1 + x || g1/g2)")
    >>> str(f)
    'y ~ 1 + a + b + a:b + (1 + x || g1) + (1 + x || g1:g2)'
    """
    if not isinstance(formula, str):
        raise TypeError(f"formula: expected a string, got {type(formula).__name__}")
    return _Parser(formula).formula()
