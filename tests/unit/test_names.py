"""Project and user name grammars."""

import pytest

from authsvc.core.names import InvalidName, check_project_name, check_user_name


@pytest.mark.parametrize("name", ["demo", "a", "my-team", "team.web", "a_b", "a__b", "x1-2.3_4", "a" * 64])
def test_valid_project_names(name):
    assert check_project_name(name) == name


@pytest.mark.parametrize("name", ["", "Demo", "-demo", "demo-", "de--mo", "de..mo", "de___mo", "a/b",
                                  "dé", "demo ", "a" * 65, "..", "%2f", "x;drop table", "ｄemo"])
def test_invalid_project_names(name):
    with pytest.raises(InvalidName):
        check_project_name(name)


@pytest.mark.parametrize("name", ["alice", "a", "bob.smith", "ci-bot", "jane_doe", "jane@example.com", "u1"])
def test_valid_user_names(name):
    assert check_user_name(name) == name


@pytest.mark.parametrize("name", ["", "Alice", ".alice", "alice.", "al ice", "al:ice", "al/ice", "a" * 65,
                                  "аlice", "robot$x", "(operator)", "al\x00ice"])
def test_invalid_user_names(name):
    with pytest.raises(InvalidName):
        check_user_name(name)


@pytest.mark.parametrize("login, parsed", [
    ("robot.web.ci", ("web", "ci")), ("robot.team.web.pull-bot", ("team.web", "pull-bot")),
    ("robot.web", None), ("robot..ci", None), ("robot.web.Ci", None), ("robot.web.c.i", ("web.c", "i")),
    ("robotweb.ci", None), ("alice", None), ("robot.web.ci-", None),
])
def test_robot_logins(login, parsed):
    from authsvc.core.names import parse_robot_login, robot_login
    assert parse_robot_login(login) == parsed
    if parsed:
        assert robot_login(*parsed) == login


def test_people_cannot_take_robot_names():
    with pytest.raises(InvalidName, match="robot"):
        check_user_name("robot.web.ci")


def test_api_path_words_are_not_user_names():
    with pytest.raises(InvalidName, match="reserved"):
        check_user_name("current")


# -- finding 9 of the security review: a trailing newline made a second "guest" ---------------------
# "$" with re.match also matches just before a final "\n", so "guest\n" passed every grammar and
# was stored beside "guest".  Each grammar must refuse a name with any line end, anywhere.

@pytest.mark.parametrize("suffix", ["\n", "\r\n", "\r", "\n\n"])
@pytest.mark.parametrize("check, name", [
    (check_user_name, "guest"), (check_user_name, "jane@example.com"),
    (check_project_name, "pub"), (check_project_name, "team.web"),
])
def test_a_name_with_a_line_end_is_refused(check, name, suffix):
    with pytest.raises(InvalidName):
        check(name + suffix)


@pytest.mark.parametrize("name", ["ci\n", "pull-prod\n", "laptop\n", "\nci"])
def test_a_robot_or_token_name_with_a_newline_is_refused(name):
    """Robots and personal access tokens share the robot grammar (services/personal_tokens.py)."""
    from authsvc.core.names import check_robot_name
    with pytest.raises(InvalidName):
        check_robot_name(name)


def test_a_robot_login_with_a_trailing_newline_is_no_robot_login():
    from authsvc.core.names import parse_robot_login
    assert parse_robot_login("robot.web.ci\n") is None
    assert parse_robot_login("robot.web\n.ci") is None
