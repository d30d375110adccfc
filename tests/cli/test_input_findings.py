"""The CLI refuses what the API refuses (issue 11, findings 8 and 9), in one line, storing nothing.

A name ending with a newline passed the grammars (``$`` with ``re.match``), and a command-line
argument that is not valid UTF-8 reaches Python as lone surrogates, which no database column
takes; both now meet the same checks as the API's, in core/names.py and core/text.py.
"""

from __future__ import annotations

import json

from tests.cli.conftest import one_line_error


def _setup(cli):
    cli("user", "create", "alice", "--password-stdin", input="alice-pass-1\n")
    cli("user", "create", "bob", "--password-stdin", input="bob-pass-1\n")
    cli("project", "create", "web", "--owner", "alice")


def _members(cli) -> list[tuple[str, str]]:
    return sorted((m["user"], m["role"]) for m in json.loads(cli("member", "list", "web", "--json").output))


def test_member_add_refuses_a_role_with_a_newline(cli):
    _setup(cli)
    result = cli("member", "add", "web", "bob", "--role", "guest\n", ok=False)
    assert result.exit_code != 0 and "Traceback" not in result.output + result.stderr
    assert "guest" in result.stderr and "Invalid value for '--role'" in result.stderr
    result = cli("member", "set-role", "web", "alice", "guest\n", ok=False)
    assert result.exit_code != 0 and "Traceback" not in result.output + result.stderr
    assert _members(cli) == [("alice", "admin")]


def test_names_with_a_trailing_newline_are_refused_in_one_line(cli):
    _setup(cli)
    one_line_error(cli("user", "create", "guest\n", "--password-stdin", input="guest-pass-1\n", ok=False),
                   "invalid user name")
    one_line_error(cli("project", "create", "web\n", "--owner", "alice", ok=False), "invalid project name")
    one_line_error(cli("robot", "create", "web", "ci\n", "--no-expiry", ok=False), "invalid robot name")
    one_line_error(cli("pat", "create", "alice", "laptop\n", "--expires-in", "7d", ok=False), "invalid")
    one_line_error(cli("pull-secret", "web", "--namespace", "ns\n", "--create-robot", "--no-expiry",
                       "--registry", "reg.example.com", ok=False), "namespace")
    users = [u["name"] for u in json.loads(cli("user", "list", "--json").output)]
    assert users == ["alice", "bob"]
    assert [p["name"] for p in json.loads(cli("project", "list", "--json").output)] == ["web"]
    assert json.loads(cli("robot", "list", "web", "--json").output) == []
    assert json.loads(cli("pat", "list", "alice", "--json").output) == []


def test_a_description_that_is_not_text_is_refused_in_one_line(cli):
    """``--description $'\\xff'`` arrives as "\\udcff": refused by the service, not by SQLite."""
    _setup(cli)
    one_line_error(cli("robot", "create", "web", "ci", "--no-expiry", "--description", "bad \udcff byte",
                       ok=False), "'description' must not contain unpaired surrogates")
    one_line_error(cli("robot", "create", "web", "ci", "--no-expiry", "--description", "d" * 301, ok=False),
                   "'description' must be at most 300 characters")
    one_line_error(cli("pull-secret", "web", "--namespace", "ns", "--robot", "ci\udcff",
                       "--registry", "reg.example.com", ok=False), "'robot' must not contain")
    assert json.loads(cli("robot", "list", "web", "--json").output) == []
