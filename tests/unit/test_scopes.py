"""The scope grammar: what registries and clients send must parse, garbage must not."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from authsvc.core.scopes import MAX_SCOPES_PER_REQUEST, Scope, ScopeError, parse_scope, parse_scopes, project_of


@pytest.mark.parametrize("text, expected", [
    ("repository:demo/app:pull", Scope("repository", "demo/app", ("pull",))),
    ("repository:demo/app:push,pull", Scope("repository", "demo/app", ("push", "pull"))),
    ("repository:demo/a/b/c:pull", Scope("repository", "demo/a/b/c", ("pull",))),
    ("repository:localhost:5000/demo/app:pull",
     Scope("repository", "localhost:5000/demo/app", ("pull",))),
    ("repository:registry.example.com/demo/app:pull",
     Scope("repository", "registry.example.com/demo/app", ("pull",))),
    ("repository(plugin):demo/app:pull", Scope("repository", "demo/app", ("pull",), "plugin")),
    ("registry:catalog:*", Scope("registry", "catalog", ("*",))),
    ("repository:my-project.x__y/app:pull", Scope("repository", "my-project.x__y/app", ("pull",))),
    ("repository:demo/app:", Scope("repository", "demo/app", ())),
    ("repository:demo/app:pull,pull", Scope("repository", "demo/app", ("pull",))),
])
def test_valid_scopes_parse(text, expected):
    assert parse_scope(text) == expected


@pytest.mark.parametrize("text", [
    "", "repository", "repository:demo/app", ":demo/app:pull", "repository::pull",
    "Repository:demo/app:pull", "repository:demo/App:pull", "repository:demo//app:pull",
    "repository:demo/app/:pull", "repository:/demo/app:pull", "repository:demo/../x:pull",
    "repository:demo/%2Fapp:pull", "repository:demo/app:PULL", "repository:demo/app:pu-ll",
    "repo sitory:demo/app:pull", "repository:démo/app:pull", "repository:demo/app;drop:pull",
    "repository:demo/app:pull;rm", "repository(:demo/app:pull", "repository(a)(b):demo/app:pull",
    "repository:" + "a" * 300 + ":pull", "repository:demo/ap\x00p:pull",
    # A trailing newline in any part ("$" with re.match accepted each of these; finding 9).
    "repository\n:demo/app:pull", "repository(plugin\n):demo/app:pull", "repository:demo/app\n:pull",
    "repository:demo\n/app:pull", "repository:localhost:5000\n/demo/app:pull",
    "repository:registry.example.com\n/demo/app:pull", "repository:demo/app:pull\n",
    "repository:demo/app:pull,push\n", "registry:catalog:*\n",
])
def test_invalid_scopes_are_refused(text):
    with pytest.raises(ScopeError):
        parse_scope(text)


def test_several_scopes_in_one_value_and_repeated_values_merge_per_resource():
    scopes = parse_scopes(["repository:p/a:pull repository:p/b:pull", "repository:p/a:push"])
    assert scopes == [Scope("repository", "p/a", ("pull", "push")), Scope("repository", "p/b", ("pull",))]


def test_too_many_scopes_are_refused():
    values = [f"repository:p/r{i}:pull" for i in range(MAX_SCOPES_PER_REQUEST + 1)]
    with pytest.raises(ScopeError, match="more than"):
        parse_scopes(values)


def test_str_round_trips():
    for text in ["repository:p/a:pull,push", "repository(plugin):p/a:pull", "registry:catalog:*"]:
        assert str(parse_scope(text)) == text


@pytest.mark.parametrize("name, project", [
    ("demo/app", "demo"), ("demo/a/b", "demo"), ("app", None), ("demo/", None),
    ("localhost:5000/demo/app", "localhost:5000"),
])
def test_project_is_the_first_path_component(name, project):
    assert project_of(name) == project


component = st.from_regex(r"[a-z0-9]{1,8}([._-][a-z0-9]{1,8}){0,2}", fullmatch=True)
names = st.lists(component, min_size=1, max_size=4).map("/".join)
actions = st.lists(st.sampled_from(["pull", "push", "delete", "*"]), min_size=1, max_size=3, unique=True)


@given(names, actions)
def test_generated_valid_scopes_round_trip(name, acts):
    text = f"repository:{name}:{','.join(acts)}"
    scope = parse_scope(text)
    assert (scope.type, scope.name, scope.actions) == ("repository", name, tuple(acts))
    assert parse_scope(str(scope)) == scope


@given(st.text(max_size=200))
def test_arbitrary_text_either_parses_or_raises_scope_error(text):
    try:
        scopes = parse_scopes([text])
    except ScopeError:
        return
    for scope in scopes:  # anything accepted must survive a round trip through its string form
        assert parse_scope(str(scope)) == scope
