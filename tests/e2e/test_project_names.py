"""A deleted project's name stays reserved: the regression test for handing old images to a new owner.

Deleting a project removes its memberships and robots, but its images stay
in the registry's storage: the registry knows nothing of projects, only of
repository paths.  A new project of the same name would make every one of
those images readable by *its* members.  So ``authsvc project delete``
retires the name, and ``authsvc project create`` refuses it until an operator
runs ``authsvc project release-name``.

An operator must purge the deleted project's images before releasing its name.
Once the project is deleted no token names it any more -- not even a system
administrator's -- so ``skopeo delete`` cannot reach its tags then; either
delete them while the project still exists, or remove
``<storage>/docker/registry/v2/repositories/<name>`` from the registry's
storage (and run its garbage collection to free the blobs).
"""

from __future__ import annotations

import shutil

import pytest

from .clients import skopeo_delete, skopeo_inspect
from .machines import robot
from .processes import denied, describe, ok

pytestmark = [pytest.mark.e2e, pytest.mark.both_registries]


def repositories_dir(stack, project: str):
    """Where the filesystem driver keeps the repositories of ``project`` (tags, manifest links)."""
    return stack.storage_dir / "docker" / "registry" / "v2" / "repositories" / project


def delete_and_check_the_name_is_reserved(stack, project: str, mallory) -> None:
    stack.authsvc("project", "delete", project, "--yes")
    refused = stack.authsvc("project", "create", project, "--owner", mallory.name, check=False)
    assert refused.returncode != 0 and "belonged to a deleted project" in refused.stderr, (
        f"the name of a deleted project must stay reserved:\n{refused.stdout}{refused.stderr}")


def test_a_deleted_projects_name_is_reserved_until_an_operator_purges_and_releases_it(stack):
    alice, mallory = stack.user("alice"), stack.user("mallory")
    admin = stack.user("sysadmin", admin=True)
    project = stack.project("names", owner=alice)
    ref = stack.push_image(project, "secret", alice)
    bot = robot(stack, project, "ci")
    ok(skopeo_inspect(stack, ref, bot))

    delete_and_check_the_name_is_reserved(stack, project, mallory)

    denied(skopeo_inspect(stack, ref, mallory), "mallory must not read the deleted project's image")
    for who, why in ((alice, "its former owner"), (admin, "a system administrator"), (bot, "its robot")):
        denied(skopeo_inspect(stack, ref, who), f"a deleted project is unreachable, even to {why}")
    denied(skopeo_delete(stack, ref, admin),
           "no token names a deleted project, so its tags cannot be deleted through the registry any more")

    # The operator's purge: the deleted project's repositories leave the registry's storage
    # (a real operator then runs `registry garbage-collect` to free the blobs).  Only then:
    assert repositories_dir(stack, project).is_dir(), "the images are still in storage, as documented"
    shutil.rmtree(repositories_dir(stack, project))
    stack.authsvc("project", "release-name", project, "--yes")
    stack.authsvc("project", "create", project, "--owner", mallory.name)

    gone = skopeo_inspect(stack, ref, mallory)
    assert gone.returncode != 0 and "manifest unknown" in gone.stderr.lower(), describe(gone)
    denied(skopeo_inspect(stack, ref, bot), "the old project's robot must not come back with the name")
    denied(skopeo_inspect(stack, ref, alice), "the old project's members must not come back with the name")
    mine = stack.push_image(project, "secret", mallory)
    ok(skopeo_inspect(stack, mine, mallory), "the new owner uses the released name")


def test_why_the_purge_must_come_first_a_released_name_exposes_what_is_left_in_storage(stack):
    """The hazard the reservation exists for, shown on the real registry: releasing the name
    without purging hands the old images to the new project's members.  (If a later release makes
    project deletion purge images itself, this test and the operator docs change together.)"""
    alice, mallory = stack.user("alice"), stack.user("mallory")
    project = stack.project("names", owner=alice)
    ref = stack.push_image(project, "secret", alice)

    delete_and_check_the_name_is_reserved(stack, project, mallory)
    denied(skopeo_inspect(stack, ref, mallory))

    stack.authsvc("project", "release-name", project, "--yes")  # an operator skipping the purge
    stack.authsvc("project", "create", project, "--owner", mallory.name)
    ok(skopeo_inspect(stack, ref, mallory), "the unpurged image is now mallory's to read")
