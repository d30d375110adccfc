"""A robot made in the console pulls with the Kubernetes pull Secret the console let us download.

The Project Admin creates a pull-only robot on the Robots tab; the result page shows its name and
secret once and offers the Secret as a file.  The downloaded YAML is read as kubectl would
(``data['.dockerconfigjson']``, base64, JSON) and handed unchanged to skopeo as its authfile: it
reads the private image and cannot push.  The secret inside is the one the page showed, and it is
shown only on that page.
"""

from __future__ import annotations

import base64
import json

import pytest
import yaml

from ..clients import skopeo
from ..processes import denied, ok
from . import forms

pytestmark = pytest.mark.e2e


def test_a_console_robot_pulls_with_its_downloaded_secret_through_skopeo(stack, open_tab):
    owner = stack.user("owner")
    project = stack.project("k8s", owner=owner)
    ref = stack.push_image(project, "app", owner)
    robot = stack.unique("puller")

    tab = open_tab(owner)
    forms.project_tab(tab, project, "Robots")
    page = tab.page
    page.get_by_label("Robot name").fill(robot)
    page.get_by_label("pull", exact=True).check()
    page.get_by_label("push", exact=True).uncheck()
    page.get_by_label("Expires in days").fill("7")
    page.get_by_role("button", name="Create robot").click()
    login, secret = page.locator("#robot-name").inner_text().strip(), page.locator("#robot-secret").inner_text().strip()
    assert robot in login and secret, (login, secret)

    with page.expect_download() as download_info:
        page.get_by_role("button", name="Download pull Secret").click()
    download = download_info.value
    assert download.suggested_filename == f"{robot}-pull-secret.yaml", download.suggested_filename
    manifest = yaml.safe_load(open(download.path()).read())
    assert (manifest["kind"], manifest["type"]) == ("Secret", "kubernetes.io/dockerconfigjson"), manifest
    config = json.loads(base64.b64decode(manifest["data"][".dockerconfigjson"], validate=True))
    entry = config["auths"][stack.host]
    assert base64.b64decode(entry["auth"]).decode() == f"{login}:{secret}", "the Secret holds the secret shown"

    authfile = stack.root / f"{robot}-authfile.json"
    authfile.write_text(json.dumps(config))
    ok(skopeo(stack, "inspect", "--tls-verify=false", "--authfile", str(authfile), f"docker://{ref}"),
       "skopeo reads the private image with the downloaded Secret")
    denied(skopeo(stack, "copy", "--src-tls-verify=false", "--dest-tls-verify=false", "--src-authfile", str(authfile),
                  "--dest-authfile", str(authfile), f"docker://{ref}", f"docker://{stack.host}/{project}/copy:v1"),
           "a pull-only robot's Secret must not push")

    forms.project_tab(tab, project, "Robots")  # the list: the robot, never its secret again
    assert robot in tab.text() and secret not in tab.page.content()
