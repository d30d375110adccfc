"""People from an OpenID Connect provider end to end: a real provider process, gunicorn, both
registry generations, Debian's Chromium and the real docker CLI.  Nothing is mocked.

The provider is ``oidc-provider-mock`` (tests/support/oidc_provider.py), one process for the
session; every test gives its people a ``sub`` and a user name of their own.  A stack of its own
per registry generation (authsvc + registry) trusts it, with ``credential_cache_ttl`` at
:data:`BOUND` seconds so that a change at the provider takes effect quickly; dockerd and
Chromium are the session's.  The browser follows the real redirects: the console's button, the
provider's authorization form, the provider's redirect back to the callback -- authsvc's callback
is never called with a hand-made code.
"""

from __future__ import annotations

import base64
import contextlib
import importlib.util
import json
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.support.oidc_provider import Provider, running_provider, secret_file

from .clients import Docker
from .conftest import session_database
from .console.browser import ConsoleTab
from .processes import StartupFailed, denied, ok, require_binaries, unavailable
from .registries import Generation
from .stack import Stack, User

pytestmark = [pytest.mark.e2e, pytest.mark.both_registries]

#: Seconds an OIDC person's groups count for in these stacks (credential_cache_ttl): the bound.
BOUND = 3
#: How long past the bound a client may still take to show the change (docker's own round trips).
SLACK = 30.0
PROVIDER_NAME = "Example SSO"
#: What the console says to a callback whose state is unknown or was already used.
REPLAYED = "This sign-in link has expired or was already used."


@pytest.fixture(scope="session")
def oidc_provider(e2e_root: Path) -> Iterator[Provider]:
    if importlib.util.find_spec("oidc_provider_mock") is None:
        unavailable("the Python package oidc-provider-mock is not installed")
    directory = e2e_root / "oidc-provider"
    directory.mkdir(exist_ok=True)
    with contextlib.ExitStack() as running:
        try:
            provider = running.enter_context(running_provider(directory))
        except RuntimeError as exc:
            failure = str(exc)
        else:
            failure = None
        if failure is not None:  # outside the except: the message is the whole story
            pytest.fail(f"the OpenID provider did not start:\n{failure}", pytrace=False)
        yield provider


@pytest.fixture(scope="session")
def oidc_stack(e2e_root: Path, registry_generation: Generation, oidc_provider: Provider) -> Iterator[Stack]:
    binaries = {**require_binaries("authsvc", "gunicorn", "skopeo"), "registry": registry_generation.binary()}
    root = Path(tempfile.mkdtemp(prefix=f"{registry_generation.id}-oidc-", dir=e2e_root))
    # No oidc_redirect_uri: the default (the realm's origin + /login/oidc/callback) is this
    # stack's own gunicorn, and the provider accepts any redirect URI for an unregistered client.
    settings = {"oidc_issuer": oidc_provider.issuer, "oidc_allow_http": "true", "oidc_client_id": "authsvc",
                "oidc_client_secret_file": str(secret_file(root)), "oidc_provider_name": PROVIDER_NAME,
                "credential_cache_ttl": str(BOUND)}
    with session_database() as url:
        running = Stack(root, binaries, database_url=url, generation=registry_generation, settings=settings)
        failure = None
        try:
            running.start()
        except StartupFailed as exc:
            failure = str(exc)
        if failure is not None:
            running.stop()
            pytest.fail(f"the OIDC stack ({registry_generation.id}) did not start:\n{failure}", pytrace=False)
        try:
            yield running
        finally:
            running.stop()


@pytest.fixture
def odocker(oidc_stack: Stack, dockerd):
    return lambda: Docker(oidc_stack, dockerd, oidc_stack.root / "docker-config" / oidc_stack.unique("c"))


@pytest.fixture
def tabs(browser, oidc_stack: Stack):
    """``tabs(storage_state=None)``: a new browser context on this stack's console; after the test
    no tab may have logged a Content-Security-Policy violation (as in the console's own tests)."""
    opened: list[ConsoleTab] = []

    def opener(storage_state: dict | None = None) -> ConsoleTab:
        tab = ConsoleTab.open(browser, f"http://127.0.0.1:{oidc_stack.auth_port}", storage_state=storage_state)
        opened.append(tab)
        return tab

    yield opener
    violations = [(tab.page.url, m) for tab in opened for m in tab.csp_violations()]
    for tab in opened:
        tab.close()
    assert not violations, f"the browser reported Content-Security-Policy violations: {violations}"


def person_claims(stack: Stack, groups: list[str]) -> dict:
    """The claims of a new person at the provider: a user name and a verified e-mail of their own."""
    name = stack.unique("sso-person")
    return {"preferred_username": name, "email": f"{name}@example.com", "email_verified": True,
            "name": f"Person {name}", "groups": groups}


def to_the_provider(tab: ConsoleTab) -> None:
    """From the console's sign-in page, through the button, to the provider's authorization form."""
    tab.goto("/login")
    tab.page.get_by_role("link", name=f"Sign in with {PROVIDER_NAME}").click()
    expect(tab.page.get_by_placeholder("sub")).to_be_visible()  # the provider's page, after the redirect


def authorize(tab: ConsoleTab, sub: str) -> str:
    """At the provider: authorize as ``sub``; the browser comes back signed in.  The callback URL
    the provider sent it to (code and state) is returned."""
    tab.page.get_by_placeholder("sub").fill(sub)
    with tab.page.expect_request(lambda request: "/login/oidc/callback" in request.url) as callback:
        tab.page.get_by_role("button", name="Authorize", exact=True).click()
    expect(tab.page.get_by_role("button", name="Sign out")).to_be_visible()
    return callback.value.url


def listed_projects(tab: ConsoleTab) -> dict[str, str]:
    """The projects page: name -> my role, as the person sees it."""
    tab.goto("/projects")
    rows = tab.page.locator("table tbody tr")
    return {rows.nth(i).locator("td[data-label=Name]").inner_text().strip():
            rows.nth(i).locator("td[data-label='My role']").inner_text().strip() for i in range(rows.count())}


def token_from_the_console(tab: ConsoleTab) -> str:
    """My account -> Access tokens: make one and read it from the page, shown that once."""
    tab.goto("/account/tokens")
    tab.page.get_by_label("Token name").fill("laptop")
    tab.page.get_by_role("button", name="Create token").click()
    secret = tab.page.locator("#token-secret").inner_text().strip()
    assert secret.startswith("asvc_pat_"), secret
    return secret


def shows_the_sign_in_page(tab: ConsoleTab) -> None:
    expect(tab.page.get_by_role("link", name=f"Sign in with {PROVIDER_NAME}")).to_be_visible()
    expect(tab.page.get_by_role("button", name="Sign out")).to_have_count(0)


def token_status(stack: Stack, name: str, password: str, *scopes: str) -> tuple[int, dict]:
    query = "&".join(["service=registry", *(f"scope={s}" for s in scopes)])
    request = urllib.request.Request(f"http://127.0.0.1:{stack.auth_port}/token?{query}", headers={
        "Authorization": "Basic " + base64.b64encode(f"{name}:{password}".encode()).decode()})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def within(seconds: float, outcome: Callable[[], object], what: str) -> float:
    """Poll ``outcome`` until it returns True, at most ``seconds``; the seconds it took."""
    started = time.monotonic()
    last = None
    while time.monotonic() - started < seconds:
        last = outcome()
        if last is True:
            return time.monotonic() - started
        time.sleep(0.5)  # polling interval between attempts, not a wait for the change
    raise AssertionError(f"not within {seconds:.0f} s: {what} (last: {last})")


def test_a_provider_person_sees_their_groups_projects_pushes_with_a_console_token_and_loses_it(
        oidc_stack, oidc_provider, odocker, tabs):
    stack, provider = oidc_stack, oidc_provider
    owner = stack.user("owner")
    team, other = stack.project("team", owner=owner), stack.project("other", owner=owner)
    public = stack.project("pub", public=True, owner=owner)
    stack.authsvc("member", "add-group", team, "team-devs", "--role", "developer")
    ref, public_ref = stack.push_image(team, "app", owner), stack.push_image(public, "app", owner)
    claims = person_claims(stack, ["team-devs"])
    name = claims["preferred_username"]
    sub = provider.new_person(**claims)

    tab = tabs()
    to_the_provider(tab)
    authorize(tab, sub)
    projects = listed_projects(tab)
    assert projects.get(team) == "developer", projects
    assert other not in projects, f"a private project beyond the person's groups is listed: {projects}"
    users = {u["name"]: u["source"] for u in json.loads(stack.authsvc("user", "list", "--json").stdout)}
    assert users[name] == "oidc", users

    person = User(name, token_from_the_console(tab))
    client = odocker()
    ok(client.login(person), "docker login with the person's name and their console token")
    ok(client("pull", ref), "the token pulls through the provider group's Developer role")
    pushed = f"{stack.host}/{team}/by-sso:v1"
    ok(client("tag", ref, pushed))
    ok(client("push", pushed), "the token pushes through the provider group's Developer role")

    provider.set_user(sub, **{**claims, "groups": []})  # an administrator takes them out of team-devs
    attempt = iter(range(1000))

    def push_refused():
        target = f"{stack.host}/{team}/after-removal:v{next(attempt)}"
        ok(client("tag", ref, target))
        return True if client("push", target).returncode != 0 else f"still pushed {target}"

    # docker sends the token with every token request; once the groups read at sign-in are older
    # than the bound, authsvc asks the provider again (the refresh grant) and the group is gone.
    within(BOUND + SLACK, push_refused, "the person lost push after leaving team-devs at the provider")
    denied(client("push", pushed), "no push after leaving the group")
    ok(client("pull", public_ref), "the person (still known to the provider) pulls a public project")

    stack.authsvc("user", "update", name, "--inactive")
    status, body = token_status(stack, name, person.password, f"repository:{public}/app:pull")
    assert status == 401, (status, body)
    denied(client("pull", public_ref), "a deactivated person's token is refused, not downgraded to anonymous")
    tab.goto("/projects")
    shows_the_sign_in_page(tab)


def test_a_replayed_callback_is_refused_and_signs_no_one_in(oidc_stack, oidc_provider, tabs):
    stack, provider = oidc_stack, oidc_provider
    sub = provider.new_person(**person_claims(stack, ["team-devs"]))
    tab = tabs()
    to_the_provider(tab)
    # What this browser holds while at the provider: the pending sign-in, bound to its cookie.
    held = tab.context.storage_state()
    callback = authorize(tab, sub)

    again = tab.goto(callback)  # the signed-in tab reloads the callback URL
    assert again.status == 401, again.status
    assert REPLAYED in tab.text()

    # A fresh browser with the very cookie that started the sign-in passes the browser binding,
    # so only the server's single-use state stands between it and a session.
    replay = tabs(storage_state=held)
    answer = replay.goto(callback)
    assert answer.status == 401, answer.status
    assert REPLAYED in replay.text()
    replay.goto("/projects")
    shows_the_sign_in_page(replay)
