"""core/claim_conditions.py: which identity tokens' claims a robot's trust policy lets in."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from authsvc.core.claim_conditions import (
    MAX_CONDITIONS,
    MAX_PATH,
    MAX_PATTERN,
    Condition,
    InvalidCondition,
    claim_at,
    condition,
    conditions,
    matches,
    parse_condition,
)

GITHUB = {"sub": "repo:acme/app:ref:refs/heads/main", "repository": "acme/app", "ref": "refs/heads/main",
          "environment": "prod", "run_number": "7", "run_attempt": 1, "groups": ["a", "b"]}
KUBERNETES = {"sub": "system:serviceaccount:ci:builder",
              "kubernetes.io": {"namespace": "ci", "serviceaccount": {"name": "builder", "uid": "u-1"}}}


def policy(*texts: str):
    return conditions(texts)


def test_exact_value_matches_only_itself():
    assert matches(policy("repository=acme/app"), GITHUB)
    assert not matches(policy("repository=acme/ap"), GITHUB)
    assert not matches(policy("repository=acme/app2"), GITHUB)
    assert not matches(policy("repository=ACME/app"), GITHUB), "values compare exactly, case included"


@pytest.mark.parametrize(("pattern", "value", "expected"), [
    ("refs/heads/release-*", "refs/heads/release-1.2", True),
    ("refs/heads/release-*", "refs/heads/release-", True),
    ("refs/heads/release-*", "refs/heads/release/x", False),
    ("refs/heads/release-*", "refs/heads/main", False),
    ("refs/heads/release-*", "xrefs/heads/release-1", False),  # anchored at the start
    ("repo:acme/*:ref:refs/heads/main", "repo:acme/app:ref:refs/heads/main", True),
    ("repo:acme/*:ref:refs/heads/main", "repo:acme/a/b:ref:refs/heads/main", True),  # '*' spans '/'
    ("repo:acme/*:ref:refs/heads/main", "repo:acme/app:ref:refs/heads/main2", False),  # anchored at the end
    ("repo:acme/*:ref:refs/heads/main", "repo:evil/app:ref:refs/heads/main", False),
    ("a.b?[c]", "a.b?[c]", True),  # nothing but '*' is special
    ("a.b?[c]", "axb?[c]", False),
    ("a.b?[c]*", "a.bX[c]", False),
])
def test_globs(pattern, value, expected):
    assert condition("ref", pattern).matches({"ref": value}) is expected


def test_nested_claims_are_named_with_a_slash():
    assert claim_at(KUBERNETES, "kubernetes.io/namespace") == "ci"
    assert claim_at(KUBERNETES, "kubernetes.io/serviceaccount/name") == "builder"
    assert matches(policy("kubernetes.io/namespace=ci", "kubernetes.io/serviceaccount/name=build*"), KUBERNETES)
    assert not matches(policy("kubernetes.io/namespace=prod"), KUBERNETES)
    assert claim_at(KUBERNETES, "kubernetes.io/namespace/deeper") is None  # a string has no inside
    assert claim_at(KUBERNETES, "kubernetes.io/missing/name") is None
    assert claim_at(KUBERNETES, "namespace") is None  # not found at the top


@pytest.mark.parametrize("path", ["run_attempt", "groups", "kubernetes.io", "kubernetes.io/serviceaccount",
                                  "absent"])
def test_only_string_claims_match(path):
    # a number, a list, an object or a missing claim never matches, not even a glob
    assert not condition(path, "1*").matches({**GITHUB, **KUBERNETES})
    assert not condition(path, "a*").matches({**GITHUB, **KUBERNETES})
    assert not condition(path, "*1").matches({**GITHUB, **KUBERNETES, "run_attempt": 1})
    assert not condition("run_attempt", "1").matches(GITHUB)
    assert not condition("flag", "True").matches({"flag": True})


@pytest.mark.parametrize("pattern", ["*", "**", "***"])
def test_a_pattern_of_only_stars_is_refused(pattern):
    with pytest.raises(InvalidCondition, match="matches anything"):
        parse_condition(f"sub={pattern}")


@pytest.mark.parametrize("text", ["", "sub", "=x", "a b=x", "sub/=x", "/sub=x", "a//b=x", "sub*=x", "é=x",
                                  "x" * (MAX_PATH + 1) + "=v"])
def test_bad_paths_are_refused(text):
    with pytest.raises(InvalidCondition):
        parse_condition(text)


@pytest.mark.parametrize("pattern", ["", "x" * (MAX_PATTERN + 1), "a\nb", "a\x00b", "a\tb"])
def test_bad_patterns_are_refused(pattern):
    with pytest.raises(InvalidCondition):
        condition("sub", pattern)


def test_not_text_is_refused_not_crashed():
    for bad in (None, 3, ["sub=x"]):
        with pytest.raises(InvalidCondition):
            parse_condition(bad)
    with pytest.raises(InvalidCondition):
        condition(None, "x")
    with pytest.raises(InvalidCondition):
        condition("sub", 3)


def test_pattern_may_hold_equals_and_the_path_is_stripped():
    assert parse_condition(" sub =a=b") == Condition("sub", "a=b")


def test_duplicates_limits_and_empty_policies():
    with pytest.raises(InvalidCondition, match="once"):
        policy("sub=a", "ref=b", "sub=c")
    with pytest.raises(InvalidCondition, match="at least one"):
        policy()
    assert len(conditions([f"c{i}=v" for i in range(MAX_CONDITIONS)])) == MAX_CONDITIONS
    with pytest.raises(InvalidCondition, match=f"at most {MAX_CONDITIONS}"):
        conditions([f"c{i}=v" for i in range(MAX_CONDITIONS + 1)])
    assert not matches((), GITHUB), "an empty policy matches nothing"


def test_conditions_are_sorted_by_path_whoever_wrote_them():
    one = policy("sub=s", "environment=prod", "ref=refs/heads/main")
    other = conditions([Condition("ref", "refs/heads/main"), "sub=s", "environment=prod"])
    assert one == other
    assert [str(c) for c in one] == ["environment=prod", "ref=refs/heads/main", "sub=s"]


def test_every_condition_must_hold():
    assert matches(policy("repository=acme/app", "environment=prod"), GITHUB)
    assert not matches(policy("repository=acme/app", "environment=staging"), GITHUB)
    assert not matches(policy("repository=acme/app", "workflow=build"), GITHUB)  # a missing claim


_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cc", "Cs", "Zl", "Zp")), max_size=40)


@given(pattern=_text.filter(lambda p: p and "*" not in p and p.isprintable()), value=_text)
def test_a_pattern_without_a_star_is_equality(pattern, value):
    assert condition("sub", pattern).matches({"sub": value}) is (value == pattern)
    assert condition("sub", pattern).matches({"sub": pattern})


@given(prefix=_text.filter(lambda p: "*" not in p and p.isprintable()),
       middle=_text, suffix=_text.filter(lambda p: "*" not in p and p.isprintable()))
def test_a_star_matches_any_run_between_its_fixed_parts(prefix, middle, suffix):
    if not prefix + suffix:
        return  # only-'*' is refused (test_a_pattern_of_only_stars_is_refused)
    glob = condition("sub", f"{prefix}*{suffix}")
    assert glob.matches({"sub": prefix + middle + suffix})
    value = prefix + middle
    assert glob.matches({"sub": value}) is (len(value) >= len(prefix) + len(suffix) and value.endswith(suffix))
