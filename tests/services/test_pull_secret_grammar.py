"""The Kubernetes and registry-host grammars of services/pull_secrets.py (finding 9).

``issue`` checks the namespace, the registry host and the secret name before it looks any robot
up: each refusal here is raised with an empty database.
"""

import pytest

from authsvc.core.policy import OPERATOR
from authsvc.services.credentials import pull_secrets, robots
from authsvc.services.errors import Invalid

GOOD = {"namespace": "ns", "registry_host": "registry.example.com:5000", "name": "web-pull"}


@pytest.mark.parametrize("field, value, named", [
    ("namespace", "ns\n", "namespace"), ("namespace", "my-namespace\n", "namespace"),
    ("namespace", "\nns", "namespace"), ("registry_host", "registry.example.com\n", "registry"),
    ("registry_host", "registry.example.com:5000\n", "registry"), ("name", "web-pull\n", "name"),
    ("name", "a.b\n", "name"), ("name", "a" * 253 + "\n", "name"),
])
def test_a_trailing_newline_is_refused(uow, field, value, named):
    with pytest.raises(Invalid) as raised:
        pull_secrets.issue(uow, OPERATOR, "web", **{**GOOD, field: value}, robot="pull-ns")
    assert raised.value.field == named


@pytest.mark.parametrize("field, value", [
    ("namespace", "n\ud800s"), ("registry_host", "reg\x00istry"), ("name", "\udfff"),
])
def test_text_that_cannot_be_stored_is_refused_first(uow, field, value):
    named = "registry" if field == "registry_host" else field
    with pytest.raises(Invalid, match="must not contain") as raised:
        pull_secrets.issue(uow, OPERATOR, "web", **{**GOOD, field: value}, robot="pull-ns")
    assert raised.value.field == named


def test_a_lone_surrogate_in_the_robot_name_is_refused_before_the_lookup(uow):
    with pytest.raises(Invalid, match="unpaired surrogates") as raised:
        pull_secrets.issue(uow, OPERATOR, "web", **GOOD, robot="\ud800")
    assert raised.value.field == "robot"


def test_the_longest_valid_names_still_pass_the_grammar(seeded_units):
    """fullmatch must not have shortened what is allowed: 63-character labels, 253-character names."""
    seeded_units.run(robots.create, OPERATOR, "priv", "pull-ns", actions="pull", never_expires=True)
    secret = seeded_units.run(pull_secrets.issue, OPERATOR, "priv", namespace="n" * 63,
                              registry_host="r.example.com:65535",
                              name=".".join(["a" * 63] * 3) + "." + "b" * 61, robot="pull-ns")
    assert secret.login == "robot.priv.pull-ns"
