"""Share links in a real browser (Debian's headless Chromium, as tests/test_webapp_browser.py,
whose pages and web instances these tests use): a link opened while signed out goes through
sign-in (or registration) and lands in the project; a used-up, revoked or wrong link says so.
Screenshots of each step go to tests/artifacts/webapp/."""

from __future__ import annotations

import uuid

import pytest
import requests
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from tests.test_browser import MISSING, REQUIRED, WHY
from tests.test_webapp_browser import API, Page, pages, web_pair  # noqa: F401 - fixtures

pytestmark = pytest.mark.skipif(bool(MISSING) and not REQUIRED, reason=WHY)

GONE = "This link has expired or was revoked or used up."
NOT_VALID = "This link is not valid."


def call(instance, account, method: str, path: str, **kwargs) -> requests.Response:
    return requests.request(
        method, f"{instance.url}{API}{path}", headers=account.headers, timeout=10, **kwargs
    )


def share(instance, owner, project_id: str, **body) -> dict:
    """A link made on `instance`: its url is that instance's join page."""
    response = call(instance, owner, "POST", f"/projects/{project_id}/links", json=body)
    assert response.status_code == 201, response.text
    link = response.json()
    assert link["url"] == f"{instance.url}/join#{link['token']}"
    return link


@pytest.fixture()
def owned(web_pair, make_user):  # noqa: F811 - the imported fixture
    """An owner and their project, made through the API."""
    owner = make_user(f"olive-{uuid.uuid4().hex[:6]}")
    response = call(web_pair[0], owner, "POST", "/projects", json={"name": "Compiler course"})
    assert response.status_code == 201, response.text
    return owner, response.json()["id"]


def open_link(page: Page, link: dict) -> None:
    page.driver.get(link["url"])


def role_badge(page: Page) -> str:
    return page.find("h1 .badge").get_attribute("textContent")


def test_a_signed_out_visitor_signs_in_joins_and_lands_in_the_project(
    web_pair,  # noqa: F811
    pages,  # noqa: F811
    owned,
    make_user,
):
    owner, pid = owned
    link = share(web_pair[0], owner, pid, role="collaborator", max_uses=1)
    dana = make_user(f"dana-{uuid.uuid4().hex[:6]}")
    page = pages(web_pair[0], "dana")

    open_link(page, link)

    page.find_text("[data-testid=join-hint]", "join the project you were invited to")
    assert page.driver.current_url == f"{web_pair[0].url}/signin?next=/join"
    assert link["token"] not in page.driver.current_url
    page.shot("sign-in-to-join")
    page.fill("[data-testid=signin-form]", email=dana.email, password=dana.password)
    page.submit("[data-testid=signin-form]")
    page.find_text("h1", "Compiler course")
    assert page.driver.current_url == f"{web_pair[0].url}/projects/{pid}"
    assert role_badge(page) == "collaborator"
    row = page.find(f"tr[data-username='{dana.username}'] .badge")
    assert row.get_attribute("textContent") == "collaborator"
    page.shot("joined")
    page.open("/projects")
    page.find_text("[data-testid=projects]", "Compiler course")
    assert link["token"] not in page.driver.execute_script("return location.href")
    assert page.driver.execute_script("return sessionStorage.getItem('collab.join_token')") is None

    # The link had one use: someone else, signed in on the other instance, is told it is gone.
    erin = make_user(f"erin-{uuid.uuid4().hex[:6]}")
    other = pages(web_pair[1], "erin")
    other.sign_in(erin.email, erin.password)
    other.driver.get(f"{web_pair[1].url}/join#{link['token']}")
    other.find_text("[data-testid=join] .error", GONE)
    assert other.driver.current_url == f"{web_pair[1].url}/join"
    other.shot("used-up")
    other.open("/join#this-is-not-a-token-of-this-server")
    other.find_text("[data-testid=join] .error", NOT_VALID)
    other.shot("not-valid")
    other.open("/projects")
    other.find_text("[data-testid=projects]", "No projects yet")


def test_a_new_person_registers_through_a_link_and_a_revoked_link_is_refused(
    web_pair,  # noqa: F811
    pages,  # noqa: F811
    owned,
):
    owner, pid = owned
    link = share(web_pair[1], owner, pid, role="viewer", expires_in=3600)
    page = pages(web_pair[1], "frank")
    open_link(page, link)
    page.find("[data-testid=signin-form]")
    page.driver.find_element("link text", "Register").click()
    page.find_text("[data-testid=join-hint]", "join the project")
    email = f"frank-{uuid.uuid4().hex[:6]}@example.com"
    page.fill("[data-testid=register-form]", email=email, username=email.split("@")[0])
    page.fill("[data-testid=register-form]", password="correct horse battery")
    page.shot("register-to-join")
    page.submit("[data-testid=register-form]")
    page.find_text("h1", "Compiler course")
    assert role_badge(page) == "viewer"
    page.shot("joined-as-viewer")

    revoked = call(web_pair[1], owner, "DELETE", f"/projects/{pid}/links/{link['id']}")
    assert revoked.json()["status"] == "revoked"
    page.driver.get(link["url"])  # already a member: a revoked link is refused all the same
    page.find_text("[data-testid=join] .error", GONE)
    page.shot("revoked")


def test_a_pending_join_survives_a_sign_in_page_reached_without_next(
    web_pair,  # noqa: F811
    pages,  # noqa: F811
    owned,
    make_user,
):
    """A session that could not be restored sends the tab to /signin without `next`: the
    link's join still goes ahead after signing in."""
    owner, pid = owned
    link = share(web_pair[0], owner, pid, role="viewer")
    gina = make_user(f"gina-{uuid.uuid4().hex[:6]}")
    page = pages(web_pair[0], "gina")
    open_link(page, link)
    page.find("[data-testid=signin-form]")
    page.open("/signin")  # the same tab, no `next`
    page.find_text("[data-testid=join-hint]", "join the project you were invited to")
    page.fill("[data-testid=signin-form]", email=gina.email, password=gina.password)
    page.submit("[data-testid=signin-form]")
    page.find_text("h1", "Compiler course")
    assert role_badge(page) == "viewer"
    page.shot("joined-after-plain-sign-in")


def test_the_owner_makes_a_link_in_the_page_someone_joins_and_the_owner_revokes_another(
    web_pair,  # noqa: F811
    pages,  # noqa: F811
    owned,
    make_user,
):
    owner, pid = owned
    olive = pages(web_pair[0], "olive")
    olive.sign_in(owner.email, owner.password)
    olive.open(f"/projects/{pid}")
    olive.find_text("[data-testid=links]", "No links yet")
    form = olive.find("[data-testid=make-link]")
    Select(form.find_element(By.NAME, "role")).select_by_value("collaborator")
    Select(form.find_element(By.NAME, "max_uses")).select_by_value("1")
    olive.submit("[data-testid=make-link]")
    url = olive.find("[data-testid=link-url]").get_attribute("value")
    assert url.startswith(f"{web_pair[0].url}/join#")
    olive.find_text("[data-testid=links] li[data-status=active]", "0 of 1 uses")
    olive.shot("link-made")

    hana = make_user(f"hana-{uuid.uuid4().hex[:6]}")
    guest = pages(web_pair[1], "hana")
    guest.sign_in(hana.email, hana.password)
    guest.driver.get(url.replace(web_pair[0].url, web_pair[1].url))
    guest.find_text("h1", "Compiler course")
    assert role_badge(guest) == "collaborator"

    olive.open(f"/projects/{pid}")  # the used-up link, and hana among the members
    olive.find_text("[data-testid=links] li[data-status=used_up]", "1 of 1 uses")
    olive.find(f"tr[data-username='{hana.username}']")
    Select(olive.find("[data-testid=make-link]").find_element(By.NAME, "role")).select_by_value(
        "viewer"
    )
    olive.submit("[data-testid=make-link]")
    olive.find("[data-testid=links] li[data-status=active]")
    olive.find("[data-testid=revoke-link]").click()
    olive.find_text("[data-testid=links] li[data-status=revoked]", "revoked")
    assert olive.driver.find_elements(By.CSS_SELECTOR, "[data-testid=link-url]") == []
    olive.shot("link-revoked")
    assert [link["status"] for link in call(web_pair[0], owner, "GET", f"/projects/{pid}/links")
            .json()] == ["revoked", "used_up"]  # fmt: skip
