"""lme4-style formula parsing: jaxmh.formula.parse."""

from __future__ import annotations

import pytest

from jaxmh.formula import Formula, FormulaError, GroupTerm, Term, parse


def T(*names, cat=None):
    return Term(tuple(names), tuple(cat or (False,) * len(names)))


def test_simple_fixed_and_bar():
    f = parse("Reaction ~ Days + (Days | Subject)")
    assert isinstance(f, Formula)
    assert f.response == "Reaction" and f.intercept
    assert f.terms == (T("Days"),)
    assert f.groups == (GroupTerm(True, (T("Days"),), ("Subject",), True),)
    assert str(f) == "Reaction ~ 1 + Days + (1 + Days | Subject)"
    assert f.text == "Reaction ~ Days + (Days | Subject)"


@pytest.mark.parametrize("text", ["y ~ 0 + x", "y ~ x + 0", "y ~ x - 1", "y ~ -1 + x", "y~x-1"])
def test_intercept_removed(text):
    f = parse(text)
    assert not f.intercept and f.terms == (T("x"),)
    assert str(f) == "y ~ 0 + x"


def test_explicit_intercept():
    assert parse("y ~ 1 + x").intercept
    assert parse("y ~ 1").terms == () and parse("y ~ 1").intercept


def test_correlated_vs_separate_bar_terms_differ():
    a = parse("y ~ x + (1 + x | g)")
    b = parse("y ~ x + (1 | g) + (0 + x | g)")
    assert a.groups == (GroupTerm(True, (T("x"),), ("g",), True),)
    assert b.groups == (GroupTerm(True, (), ("g",), True), GroupTerm(False, (T("x"),), ("g",), True))
    assert a.groups != b.groups


def test_uncorrelated_bar():
    f = parse("y ~ x + (x || g)")
    assert f.groups == (GroupTerm(True, (T("x"),), ("g",), False),)
    assert str(f) == "y ~ 1 + x + (1 + x || g)"


def test_nested_grouping_expands():
    f = parse("y ~ 1 + (1 | g1/g2)")
    assert f.groups == (GroupTerm(True, (), ("g1",), True), GroupTerm(True, (), ("g1", "g2"), True))
    f3 = parse("y ~ (1 | a/b/c)")
    assert [g.factor for g in f3.groups] == [("a",), ("a", "b"), ("a", "b", "c")]


def test_interaction_grouping_factor():
    f = parse("y ~ (1 | g1:g2)")
    assert f.groups == (GroupTerm(True, (), ("g1", "g2"), True),)
    assert str(f) == "y ~ 1 + (1 | g1:g2)"


def test_star_expansion():
    assert parse("y ~ a*b").terms == (T("a"), T("b"), T("a", "b"))
    f = parse("y ~ a*b*c")
    assert f.terms == (T("a"), T("b"), T("c"), T("a", "b"), T("a", "c"), T("b", "c"), T("a", "b", "c"))
    # duplicates that come out of * are merged, as in R
    assert parse("y ~ a*b + a").terms == (T("a"), T("b"), T("a", "b"))
    assert parse("y ~ a*b + a*c").terms == (T("a"), T("b"), T("c"), T("a", "b"), T("a", "c"))


def test_interaction_and_ordering_by_degree():
    f = parse("y ~ a:b:c + d")
    assert f.terms == (T("d"), T("a", "b", "c"))


def test_categorical_marker():
    f = parse("y ~ C(period) + x:C(herd) + (1 + C(period) | herd)")
    assert f.terms == (T("period", cat=(True,)), T("x", "herd", cat=(False, True)))
    assert f.groups[0].terms == (T("period", cat=(True,)),)
    assert str(f) == "y ~ 1 + C(period) + x:C(herd) + (1 + C(period) | herd)"


def test_names_with_dots_underscores_and_backquotes():
    f = parse("log.y_2 ~ x.1 + `my col` + (1 | `the group`)")
    assert f.response == "log.y_2"
    assert f.terms == (T("x.1"), T("my col"))
    assert f.groups[0].factor == ("the group",)
    assert str(f) == "log.y_2 ~ 1 + x.1 + `my col` + (1 | `the group`)"
    assert parse(str(f)) == f._replace(text=str(f))


def test_bar_without_intercept():
    g = parse("y ~ (0 + x | g)").groups[0]
    assert not g.intercept and g.terms == (T("x"),)
    assert not parse("y ~ (x - 1 | g)").groups[0].intercept


def test_str_roundtrip():
    for text in ["y ~ a*b + (1 + x || g1/g2)", "y ~ 0 + C(f) + (0 + x | g)", "y ~ x + (1 | a:b)"]:
        f = parse(text)
        assert parse(str(f))._replace(text="") == f._replace(text="")


def _error(text):
    with pytest.raises(FormulaError) as info:
        parse(text)
    assert isinstance(info.value, ValueError)
    return info.value


def test_error_message_format_and_caret():
    err = _error("y ~ x + (1 |)")
    assert str(err) == "formula: expected a variable name at position 12:\n  y ~ x + (1 |)\n              ^"
    assert err.position == 12


@pytest.mark.parametrize("text, position, words", [
    ("y x", 2, "expected '~'"),
    ("y", 1, "expected '~'"),
    ("~ x", 0, "expected the response"),
    ("y ~", 3, "right-hand side is empty"),
    ("y ~ (1 | g", 10, "expected ')'"),
    ("y ~ x)", 5, "without a matching '('"),
    ("y ~ x | g", 6, "must be in parentheses"),
    ("y ~ | g", 4, "must be in parentheses"),
    ("y ~ (x)", 6, "expected '|' or '||'"),
    ("y ~ x + $", 8, "unknown character '$'"),
    ("y ~ x + x", 8, "duplicate term 'x'"),
    ("y + z ~ x", 2, "single variable name"),
    ("log(y) ~ x", 3, "single variable name"),
    ("y ~ log(x)", 4, "unknown function 'log'"),
    ("y ~ (1 | g) + (1 | g)", 14, "duplicate bar term (1 | g)"),
    ("y ~ x +", 7, "expected a term"),
    ("y ~ (1 + (1 | g) | h)", 9, "cannot be nested"),
    ("y ~ 2 + x", 4, "number 2"),
    ("y ~ x - z", 8, "expected '1' after '-'"),
    ("y ~ a:a", 6, "duplicate variable 'a'"),
    ("y ~ 0", 5, "removes the intercept"),
    ("y ~ (1 | )", 9, "expected a variable name"),
    ("y ~ x + `unterminated", 8, "closing backquote"),
    ("y ~ C(x", 7, "expected ')'"),
])
def test_syntax_errors_point_at_the_problem(text, position, words):
    err = _error(text)
    assert err.position == position, str(err)
    assert words in str(err)
    lines = str(err).split("\n")
    assert lines[0].startswith("formula: ") and lines[0].endswith(f"at position {position}:")
    assert lines[1] == "  " + text
    assert lines[2] == " " * (2 + position) + "^"


def test_not_a_string():
    with pytest.raises(TypeError):
        parse(3)


def test_a_name_with_a_space_gets_the_backquote_hint():
    with pytest.raises(FormulaError, match=r"found 'score' \(a column name with spaces goes in backquotes: "
                                           r"`test score`\) at position 5"):
        parse("test score ~ x")
    with pytest.raises(FormulaError, match="`study hours`"):
        parse("y ~ study hours + (1 | g)")
