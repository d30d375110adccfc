"""Every screen of the console, with data behind it: for the accessibility test and the screenshots.

:func:`seed` fills a running stack the way a small team's registry looks after a week: an
administrator, three people in a private project with three roles (and a directory group as a
member), a public project, images pushed through the real registry (and listed through its
notifications), a robot, a personal access token and a ``docker login``.  :data:`SCREENS` lists
every screen of the console and how to reach it; a screen that is the answer to a form (a robot's
once-shown secret) is reached by filling that form.

The accessibility test visits every screen at two widths; ``screenshots.py`` photographs them.
"""

from __future__ import annotations

import base64
import json
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass

from ..stack import Stack, User
from .browser import ConsoleTab


@dataclass(frozen=True)
class Tour:
    admin: User
    developer: User
    project: str   # private: the developer, a guest, a maintainer and a group are members
    public: str
    repository: str
    unique: Callable[[str], str]


def seed(stack: Stack, unique: Callable[[str], str] | None = None, *, deadline_s: float = 30) -> Tour:
    """Fill ``stack``; ``unique`` makes names (default ``stack.unique``: tests share the stack; the
    screenshots pass plain names)."""
    unique = unique or stack.unique

    def person(base: str, *, admin: bool = False) -> User:
        user = User(unique(base), f"{base.capitalize()}-Secret-{stack.unique('pw')}")
        stack.authsvc("user", "create", user.name, "--password-stdin", *(["--admin"] if admin else []),
                      input=user.password + "\n")
        return user

    admin, alice, bob, carol = person("admin", admin=True), person("alice"), person("bob"), person("carol")
    project, public = unique("webshop"), unique("base-images")
    stack.authsvc("project", "create", project, "--owner", admin.name)
    stack.authsvc("project", "create", public, "--public", "--owner", admin.name)
    for member, role in ((alice, "developer"), (bob, "guest"), (carol, "maintainer")):
        stack.member_add(project, member, role)
    # A group member too, so that the Members screens show the Groups table (and its controls).
    stack.authsvc("member", "add-group", project, "frontend-team", "--role", "developer")
    pushed = [stack.push_image(project, "frontend", alice, "v1.0"), stack.push_image(project, "frontend", alice, "v1.1"),
              stack.push_image(project, "api", carol, "2025-06"), stack.push_image(public, "debian", admin, "12")]
    stack.authsvc("robot", "create", project, "deploy", "--actions", "pull", "--expires-in", "90d")
    stack.authsvc("pat", "create", admin.name, "laptop", "--expires-in", "30d")
    _docker_login(stack, admin)
    _wait_listed(stack, pushed, deadline_s)
    return Tour(admin, alice, project, public, f"{project}/frontend", unique)


def _docker_login(stack: Stack, user: User) -> None:
    """What ``docker login`` asks of /token: a refresh token (an offline token) for client "docker"."""
    query = f"service=registry&offline_token=true&client_id=docker&account={user.name}"
    request = urllib.request.Request(f"http://127.0.0.1:{stack.auth_port}/token?{query}")
    request.add_header("Authorization", "Basic " + base64.b64encode(user.creds.encode()).decode())
    with urllib.request.urlopen(request, timeout=30) as response:
        assert "refresh_token" in json.load(response)


def _wait_listed(stack: Stack, references: list[str], deadline_s: float) -> None:
    """Until the registry's notifications have brought every pushed tag into the inventory."""
    wanted = {ref.split("/", 1)[1] for ref in references}  # project/repo:tag
    deadline = time.monotonic() + deadline_s
    while True:
        listed = set()
        for repository in {ref.rsplit(":", 1)[0] for ref in wanted}:
            result = stack.authsvc("tag", "list", repository, "--json", check=False)
            if result.returncode == 0:
                listed |= {f"{repository}:{t['name']}" for t in json.loads(result.stdout)}
        if wanted <= listed:
            return
        assert time.monotonic() < deadline, f"not listed within {deadline_s}s: {sorted(wanted - listed)}"
        time.sleep(0.2)  # polling interval, not a wait for delivery


def _create_robot(tab: ConsoleTab, tour: Tour) -> None:
    tab.goto(f"/projects/{tour.project}/robots")
    tab.page.get_by_label("Robot name").fill(tour.unique("ci"))
    tab.page.get_by_label("pull", exact=True).check()
    tab.page.get_by_label("push", exact=True).check()
    tab.page.get_by_label("Expires in days").fill("30")
    tab.page.get_by_role("button", name="Create robot").click()
    tab.page.locator("#robot-secret").wait_for()


def _create_token(tab: ConsoleTab, tour: Tour) -> None:
    tab.goto("/account/tokens")
    tab.page.get_by_label("Token name").fill(tour.unique("ci-token"))
    tab.page.get_by_role("button", name="Create token").click()
    tab.page.locator("#token-secret").wait_for()


@dataclass(frozen=True)
class Screen:
    name: str          # the screenshot's file name, without .png
    title: str         # for the tour in docs/console.md
    path: str = ""     # with {project}, {public}, {repository}; or
    reach: Callable[[ConsoleTab, Tour], None] | None = None  # a form whose answer is the screen
    viewer: str = "admin"  # admin, developer or anonymous
    status: int = 200

    def show(self, tab: ConsoleTab, tour: Tour) -> None:
        if self.reach is not None:
            self.reach(tab, tour)
            return
        response = tab.goto(self.path.format(project=tour.project, public=tour.public,
                                             repository=tour.repository))
        assert response.status == self.status, f"{self.name}: {response.status} for {response.url}"


SCREENS = (
    Screen("sign-in", "Sign in", "/login", viewer="anonymous"),
    Screen("projects", "Projects", "/projects"),
    Screen("project-new", "New project", "/projects/new"),
    Screen("project-repositories", "A project: Repositories", "/projects/{project}"),
    Screen("repository-tags", "A repository: every tag", "/projects/{project}/repositories/frontend"),
    Screen("project-push", "A project: Push image", "/projects/{project}/push"),
    Screen("project-members", "A project: Members", "/projects/{project}/members"),
    Screen("project-robots", "A project: Robots", "/projects/{project}/robots"),
    Screen("robot-created", "A new robot, its secret shown once", reach=_create_robot),
    Screen("project-settings", "A project: Settings", "/projects/{project}/settings"),
    Screen("developer-projects", "Projects, as a Developer", "/projects", viewer="developer"),
    Screen("developer-members", "Members, as a Developer (no controls)", "/projects/{project}/members",
           viewer="developer"),
    Screen("admin-users", "Administration: Users", "/admin/users"),
    Screen("admin-user-new", "Administration: New user", "/admin/users/new"),
    Screen("admin-audit", "Administration: Audit log", "/admin/audit"),
    Screen("account", "My account: password", "/account"),
    Screen("account-tokens", "My account: personal access tokens", "/account/tokens"),
    Screen("token-created", "A new personal access token, shown once", reach=_create_token),
    Screen("account-logins", "My account: docker logins", "/account/logins"),
    Screen("not-found", "A project you may not see", "/projects/no-such-project", status=404),
)


def viewer(tour: Tour, screen: Screen) -> User | None:
    return {"admin": tour.admin, "developer": tour.developer, "anonymous": None}[screen.viewer]
