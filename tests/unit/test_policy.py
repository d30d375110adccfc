"""The full decision table: every kind of caller × public/private × every action.

The expected table is written out by hand from the product rules (the seed
guide plus our Maintainer role) rather than derived from ROLE_PERMISSIONS, so
a change to the table in code that breaks a rule fails here.
"""

import pytest

from authsvc.core.policy import ANONYMOUS, OPERATOR, Permission, Principal, ProjectView, Role, allows, can_see, decide
from authsvc.core.scopes import Scope, parse_scopes

CALLERS = {
    "anonymous": (ANONYMOUS, None),
    "non-member": (Principal("bob"), None),
    "guest": (Principal("bob"), Role.GUEST),
    "developer": (Principal("bob"), Role.DEVELOPER),
    "maintainer": (Principal("bob"), Role.MAINTAINER),
    "admin": (Principal("bob"), Role.ADMIN),
    "system-admin": (Principal("root", is_system_admin=True), None),
}

#: (caller, visibility) -> granted repository actions for a request of pull,push,delete
EXPECTED = {
    ("anonymous", "public"): ("pull",),
    ("anonymous", "private"): (),
    ("non-member", "public"): ("pull",),
    ("non-member", "private"): (),
    ("guest", "public"): ("pull",),
    ("guest", "private"): ("pull",),
    ("developer", "public"): ("pull", "push"),
    ("developer", "private"): ("pull", "push"),
    ("maintainer", "public"): ("pull", "push", "delete"),
    ("maintainer", "private"): ("pull", "push", "delete"),
    ("admin", "public"): ("pull", "push", "delete"),
    ("admin", "private"): ("pull", "push", "delete"),
    ("system-admin", "public"): ("pull", "push", "delete"),
    ("system-admin", "private"): ("pull", "push", "delete"),
}


def _decide(caller, visibility, request="repository:proj/app:pull,push,delete", **kw):
    principal, role = CALLERS[caller]
    projects = {"proj": ProjectView("proj", visibility == "public", role)}
    return decide(principal, parse_scopes([request]), projects, **kw)


@pytest.mark.parametrize("caller, visibility", sorted(EXPECTED))
def test_decision_table(caller, visibility):
    granted = _decide(caller, visibility)
    actions = granted[0].actions if granted else ()
    assert actions == EXPECTED[(caller, visibility)]


@pytest.mark.parametrize("caller, visibility", sorted(EXPECTED))
@pytest.mark.parametrize("action", ["pull", "push", "delete"])
def test_each_action_alone_is_granted_iff_in_table(caller, visibility, action):
    granted = _decide(caller, visibility, f"repository:proj/app:{action}")
    assert bool(granted) == (action in EXPECTED[(caller, visibility)])


@pytest.mark.parametrize("caller", sorted(CALLERS))
def test_catalog_only_for_system_admins(caller):
    principal, _ = CALLERS[caller]
    granted = decide(principal, parse_scopes(["registry:catalog:*"]), {})
    assert granted == ([Scope("registry", "catalog", ("*",))] if caller == "system-admin" else [])


@pytest.mark.parametrize("caller", sorted(CALLERS))
def test_nonexistent_project_and_top_level_names_get_nothing(caller):
    principal, _ = CALLERS[caller]
    assert decide(principal, parse_scopes(["repository:ghost/app:pull,push"]), {}) == []
    projects = {"proj": ProjectView("proj", True, Role.ADMIN)}
    assert decide(principal, parse_scopes(["repository:proj:pull,push"]), projects) == []


def test_unknown_resource_types_get_nothing():
    root = CALLERS["system-admin"][0]
    projects = {"proj": ProjectView("proj", True)}
    assert decide(root, parse_scopes(["blob:proj/app:pull", "registry:other:*",
                                      "registry:catalog:pull"]), projects) == []


def test_plugin_class_is_treated_as_repository_and_kept_in_answer():
    principal, role = CALLERS["developer"]
    projects = {"proj": ProjectView("proj", False, role)}
    granted = decide(principal, parse_scopes(["repository(plugin):proj/app:pull,push"]), projects)
    assert granted == [Scope("repository", "proj/app", ("pull", "push"), "plugin")]


def test_star_is_spelled_out_as_held_actions_only():
    assert _decide("developer", "private", "repository:proj/app:*")[0].actions == ("pull", "push")
    assert _decide("system-admin", "private", "repository:proj/app:*")[0].actions == ("pull", "push", "delete")
    assert _decide("anonymous", "public", "repository:proj/app:*")[0].actions == ("pull",)


def test_anonymous_pull_can_be_switched_off_without_affecting_logged_in_users():
    assert _decide("anonymous", "public", anonymous_pull=False) == []
    assert _decide("non-member", "public", anonymous_pull=False)[0].actions == ("pull",)


def test_several_scopes_are_decided_independently():
    principal, _ = CALLERS["developer"]
    projects = {"mine": ProjectView("mine", False, Role.DEVELOPER), "pub": ProjectView("pub", True),
                "priv": ProjectView("priv", False)}
    granted = decide(principal, parse_scopes(
        ["repository:mine/a:push,pull repository:pub/b:pull,push repository:priv/c:pull"]), projects)
    assert granted == [Scope("repository", "mine/a", ("push", "pull")), Scope("repository", "pub/b", ("pull",))]


def test_visibility_and_member_management():
    private = ProjectView("p", False)
    assert not can_see(ANONYMOUS, private) and not can_see(Principal("bob"), private)
    assert can_see(Principal("bob"), ProjectView("p", False, Role.GUEST))
    assert can_see(ANONYMOUS, ProjectView("p", True))
    assert not can_see(ANONYMOUS, ProjectView("p", True), anonymous_pull=False)
    assert can_see(OPERATOR, private)
    for role in Role:
        assert allows(Principal("bob"), ProjectView("p", False, role), Permission.MANAGE_MEMBERS) == (
            role is Role.ADMIN)
    assert allows(OPERATOR, private, Permission.MANAGE_MEMBERS)
    assert not allows(OPERATOR, None, Permission.PULL)


def test_robots_hold_exactly_their_scope_on_their_project():
    from authsvc.core.policy import RobotScope
    robot = Principal("robot.proj.ci", robot_scope=RobotScope("proj", frozenset({Permission.PULL, Permission.PUSH})))
    projects = {"proj": ProjectView("proj", False), "other": ProjectView("other", False),
                "pub": ProjectView("pub", True)}
    granted = decide(robot, parse_scopes(["repository:proj/a:pull,push,delete repository:other/b:pull "
                                          "repository:pub/c:pull,push registry:catalog:*"]), projects)
    # its own project: its actions only; another private project: nothing; a public one: pull, as anyone
    assert granted == [Scope("repository", "proj/a", ("pull", "push")), Scope("repository", "pub/c", ("pull",))]
    assert not allows(robot, projects["proj"], Permission.MANAGE_MEMBERS)


def test_a_robot_scope_can_never_carry_administration():
    from authsvc.core.policy import RobotScope, may_create_projects, may_manage_users
    sneaky = Principal("robot.proj.x", is_system_admin=True,
                       robot_scope=RobotScope("proj", frozenset(Permission)))
    view = ProjectView("proj", False)
    assert not allows(sneaky, view, Permission.MANAGE_MEMBERS)
    assert not allows(sneaky, ProjectView("other", False), Permission.PULL)
    assert not may_manage_users(sneaky) and not may_create_projects(sneaky, users_may_create=True)
    assert decide(sneaky, parse_scopes(["registry:catalog:*"]), {}) == []


@pytest.mark.parametrize("principal, role, expected", [
    (Principal("root", is_system_admin=True), None, True),
    (Principal("alice"), Role.ADMIN, True),
    (Principal("carol"), Role.GUEST, True),
    (Principal("erin"), None, False),
    (ANONYMOUS, None, False),
])
def test_who_may_see_a_projects_people(principal, role, expected):
    """Members and system administrators see who belongs to a project (and who pushed what);
    a public project shows everyone its images, never its people."""
    from authsvc.core.policy import RobotScope, may_see_members
    assert may_see_members(principal, ProjectView("pub", True, role)) is expected
    robot = Principal("robot.pub.ci", robot_scope=RobotScope("pub", frozenset({Permission.PULL})))
    assert may_see_members(robot, ProjectView("pub", True, None)) is False


def test_the_highest_role_wins_between_own_and_group_memberships():
    from authsvc.core.policy import highest_role, role_with_groups
    assert highest_role() is None and highest_role(None, None) is None
    assert highest_role(Role.GUEST, Role.DEVELOPER, None) == Role.DEVELOPER
    assert highest_role(Role.ADMIN, Role.MAINTAINER) == Role.ADMIN
    grants = [("dev", Role.DEVELOPER), ("ops", Role.MAINTAINER)]
    assert role_with_groups(Role.GUEST, grants, frozenset({"dev"})) == Role.DEVELOPER
    assert role_with_groups(Role.GUEST, grants, frozenset({"dev", "ops"})) == Role.MAINTAINER
    assert role_with_groups(Role.ADMIN, grants, frozenset({"dev"})) == Role.ADMIN  # never lowered by a group
    assert role_with_groups(None, grants, frozenset({"other"})) is None
    assert role_with_groups(None, grants, frozenset()) is None
