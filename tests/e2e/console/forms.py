"""The console's forms, filled in as a person does: by their visible labels and buttons.

Everything is found by role and accessible name (``get_by_label``, ``get_by_role``), never by CSS
selector or id -- so a control that loses its label breaks the tests as it would break a screen
reader -- except the once-shown secrets, which the console marks with ids for exactly this.
"""

from __future__ import annotations

from playwright.sync_api import Locator, Page

from .browser import ConsoleTab


def follow(page: Page, control: Locator, key: str | None = None) -> None:
    """Click ``control`` (or press ``key`` in it) and wait until the page it leads to has loaded."""
    with page.expect_navigation():
        if key:
            control.press(key)
        else:
            control.click()


def new_user(tab: ConsoleTab, name: str, password: str, *, admin: bool = False) -> None:
    """Administration > Users > New user, with the password typed twice."""
    page = tab.page
    tab.goto("/admin/users")
    follow(page, page.get_by_role("link", name="New user"))
    page.get_by_label("User name").fill(name)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_label("Repeat password").fill(password)
    if admin:
        page.get_by_label("System administrator").check()
    follow(page, page.get_by_role("button", name="Create user"))


def new_project(tab: ConsoleTab, name: str, *, public: bool) -> None:
    """Projects > New project; the console then shows the project's Push image tab."""
    page = tab.page
    tab.goto("/projects")
    follow(page, page.get_by_role("link", name="New project"))
    page.get_by_label("Project name").fill(name)
    if public:
        page.get_by_label("Public").check()
    page.get_by_role("button", name="Create project").click()
    page.wait_for_url(f"**/projects/{name}/push")


def project_tab(tab: ConsoleTab, project: str, name: str) -> None:
    """Open the project page, then one of its tabs by its link, as a person clicks through."""
    tab.goto(f"/projects/{project}")
    tabs = tab.page.get_by_role("navigation", name="Project")
    follow(tab.page, tabs.get_by_role("link", name=name, exact=True))


def add_member(tab: ConsoleTab, project: str, user: str, role: str) -> None:
    project_tab(tab, project, "Members")
    page = tab.page
    page.get_by_label("User name").fill(user)
    page.get_by_label("Role", exact=True).select_option(role)
    follow(page, page.get_by_role("button", name="Add member"))


def project_rows(tab: ConsoleTab) -> dict[str, dict[str, str]]:
    """The projects table on the current page: name -> {column header: cell text}."""
    table = tab.page.get_by_role("table")
    if table.count() == 0:  # no project to list: the page says so instead
        return {}
    headers = [h.strip() for h in table.locator("thead th").all_inner_texts()]
    rows = {}
    for row in table.locator("tbody tr").all():
        cells = [c.strip() for c in row.locator("td, th").all_inner_texts()]
        if len(cells) == len(headers):
            record = dict(zip(headers, cells))
            rows[record["Name"]] = record
    return rows


def search_projects(tab: ConsoleTab, text: str) -> dict[str, dict[str, str]]:
    """The projects list searched for ``text`` through its search field (the session's stack holds
    every test's projects, more than one page of them): name -> {column header: cell text}."""
    tab.goto("/projects")
    field = tab.page.get_by_label("Search projects")
    field.fill(text)
    follow(tab.page, field, "Enter")
    return project_rows(tab)
