"""The web app in real browsers: Debian's headless Chromium (Selenium, Debian's chromedriver),
against TWO real web instances (gunicorn, gevent) on one Redis, and a real job worker
(`python worker.py`) for Run. Two or three people in browser sessions of their own, each on one
of the instances, as in production behind a load balancer.

A screenshot of each step goes to tests/artifacts/webapp/ (gitignored). Without Chromium the
tests skip, or fail when COLLAB_REQUIRE_BROWSER=1 (as in CI).
"""

from __future__ import annotations

import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from selenium import webdriver
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from collab.devstack import ROOT
from collab.tasks import DEFAULT_QUEUE, JOBS_QUEUE
from tests.test_browser import MISSING, REQUIRED, WHY, new_driver
from tests.test_jobs import worker_logging_to

pytestmark = pytest.mark.skipif(bool(MISSING) and not REQUIRED, reason=WHY)

ARTIFACTS = ROOT / "tests" / "artifacts" / "webapp"
WAIT_SECONDS = 20
API = "/api/v1"

# The text of the editor as its user reads it: each line, without the remote carets' name labels.
EDITOR_TEXT = """
const content = document.querySelector('.cm-content');
if (!content) return null;
return [...content.querySelectorAll('.cm-line')].map((line) => {
  const copy = line.cloneNode(true);
  copy.querySelectorAll('.cm-ySelectionCaret, .cm-widgetBuffer').forEach((node) => node.remove());
  return copy.textContent;
}).join('\\n');
"""


class Page:
    """One person's browser session on one web instance."""

    def __init__(self, driver: webdriver.Chrome, base: str, who: str, prefix: str) -> None:
        self.driver, self.base, self.who, self.prefix = driver, base, who, prefix
        self.step = 0

    def open(self, path: str) -> None:
        self.driver.get(self.base + path)

    def shot(self, name: str) -> Path:
        """A screenshot of this step, to look at."""
        self.step += 1
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{self.prefix}-{self.who}-{self.step:02d}-{name}.png"
        assert self.driver.save_screenshot(str(path))
        assert path.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
        return path

    def find(self, css: str, seconds: float = WAIT_SECONDS):
        return WebDriverWait(self.driver, seconds).until(
            expected_conditions.visibility_of_element_located((By.CSS_SELECTOR, css))
        )

    def find_text(self, css: str, text: str, seconds: float = WAIT_SECONDS):
        locator = (By.CSS_SELECTOR, css)
        WebDriverWait(self.driver, seconds).until(
            expected_conditions.text_to_be_present_in_element(locator, text)
        )
        return self.driver.find_element(*locator)

    def until(self, predicate, seconds: float = WAIT_SECONDS, message: str = ""):
        return WebDriverWait(self.driver, seconds, poll_frequency=0.02).until(
            lambda _: predicate(), message
        )

    def fill(self, form_css: str, **values: str) -> None:
        form = self.find(form_css)
        for name, value in values.items():
            field = form.find_element(By.NAME, name)
            field.clear()
            field.send_keys(value)

    def submit(self, form_css: str) -> None:
        self.find(form_css).find_element(By.CSS_SELECTOR, "button[type=submit]").click()

    def sign_in(self, email: str, password: str) -> None:
        self.open("/signin")
        self.fill("[data-testid=signin-form]", email=email, password=password)
        self.submit("[data-testid=signin-form]")
        self.find("[data-testid=projects]")
        self.find_text("[data-testid=me]", email.split("@")[0])

    def editor_text(self) -> str | None:
        return self.driver.execute_script(EDITOR_TEXT)

    def wait_for_editor(self) -> None:
        self.find(".cm-content")
        self.find_text("[data-testid=connection]", "Live")

    def type(self, text: str) -> None:
        """Keystrokes at the end of the document, as a person types them."""
        content = self.find(".cm-content")
        content.click()
        content.send_keys(Keys.CONTROL, Keys.END)
        content.send_keys(text)

    def caret_labels(self) -> list[str]:
        return self.driver.execute_script(
            "return [...document.querySelectorAll('.cm-ySelectionInfo')].map(n => n.textContent)"
        )

    def assert_local_only(self) -> None:
        """The page and everything it loaded came from this instance (works offline)."""
        urls = self.driver.execute_script(
            "return [location.href].concat("
            "performance.getEntriesByType('resource').map(entry => entry.name))"
        )
        assert [url for url in urls if not url.startswith(self.base)] == []


@pytest.fixture(scope="module")
def web_pair(app, base_env):
    """Two web instances sharing the suite's database and Redis (Socket.IO through Redis)."""
    from tests.realtime_support import start_instances

    started = start_instances(base_env, 2)
    yield started
    for instance in started:
        instance.stop()


@pytest.fixture()
def pages(request) -> Iterator:
    """`open_page(instance, who)`: a fresh browser per person; all quit at the end."""
    drivers = []
    prefix = request.node.name.removeprefix("test_")[:40]
    for old in ARTIFACTS.glob(f"{prefix}-*.png"):  # this test's screenshots of an earlier run
        old.unlink()

    def open_page(instance, who: str) -> Page:
        driver = new_driver()
        drivers.append(driver)
        return Page(driver, instance.url, who, prefix)

    yield open_page
    for index, driver in enumerate(drivers):
        # The last state of every page, to look at when a test failed.
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(ARTIFACTS / f"{prefix}-last-{index}.png"))
        driver.quit()


@pytest.fixture()
def job_worker(base_env, tmp_path) -> Iterator[subprocess.Popen]:
    """The Procfile's worker process (every queue: documents' compaction and code jobs)."""
    with worker_logging_to(tmp_path / "worker.log", base_env, JOBS_QUEUE, DEFAULT_QUEUE) as worker:
        yield worker


class Team:
    """alice (owner), bob (collaborator), carol (viewer) in a project with a workspace and a
    document, made through the REST API."""

    def __init__(self, client, make_user) -> None:
        suffix = uuid.uuid4().hex[:6]
        self.alice = make_user(f"alice-{suffix}")
        self.bob = make_user(f"bob-{suffix}")
        self.carol = make_user(f"carol-{suffix}")
        owner = self.alice.headers
        project = client.post(f"{API}/projects", json={"name": "Compiler course"}, headers=owner)
        self.pid = project.get_json()["id"]
        for member, role in ((self.bob, "collaborator"), (self.carol, "viewer")):
            body = {"email": member.email, "role": role}
            response = client.post(
                f"{API}/projects/{self.pid}/collaborators", json=body, headers=owner
            )
            assert response.status_code == 201, response.get_json()
        workspace = client.post(
            f"{API}/projects/{self.pid}/workspaces", json={"name": "Lexer"}, headers=owner
        )
        self.wid = workspace.get_json()["id"]
        self.docs_url = f"{API}/projects/{self.pid}/workspaces/{self.wid}/documents"
        document = client.post(self.docs_url, json={"name": "main.py"}, headers=owner)
        assert document.status_code == 201, document.get_json()
        self.did = document.get_json()["id"]

    @property
    def path(self) -> str:
        return f"/projects/{self.pid}/workspaces/{self.wid}/documents/{self.did}"


@pytest.fixture()
def trio(client, make_user) -> Team:
    return Team(client, make_user)


def open_workspace(page: Page, account, path: str) -> Page:
    page.sign_in(account.email, account.password)
    page.open(path)
    page.wait_for_editor()
    return page


def test_register_sign_in_create_project_workspace_and_document_through_the_ui(web_pair, pages):
    page = pages(web_pair[0], "dana")
    email = f"dana-{uuid.uuid4().hex[:6]}@example.com"
    page.open("/")
    page.find("[data-testid=signin-form]")
    page.assert_local_only()
    page.shot("signin")

    page.driver.find_element(By.LINK_TEXT, "Register").click()
    page.fill("[data-testid=register-form]", email=email, username=email.split("@")[0])
    page.fill("[data-testid=register-form]", password="short")
    page.submit("[data-testid=register-form]")
    # The browser's own check stops a short password; the API's 422 is shown for a taken name.
    assert page.driver.find_elements(By.CSS_SELECTOR, "[data-testid=register-form]")
    page.fill("[data-testid=register-form]", password="correct horse battery")
    page.submit("[data-testid=register-form]")
    page.find_text("[data-testid=projects]", "No projects yet")
    page.shot("registered")

    page.fill("[data-testid=new-project]", name="Compiler course", description="Week 1")
    page.submit("[data-testid=new-project]")
    page.find_text("h1", "Compiler course")
    page.fill("[data-testid=new-workspace]", name="Lexer")
    page.submit("[data-testid=new-workspace]")
    page.find_text("[data-testid=documents]", "No documents")
    page.shot("workspace-empty")

    page.fill("[data-testid=new-document]", name="lexer.py")
    page.submit("[data-testid=new-document]")
    page.wait_for_editor()
    page.type("print('tokens')")
    page.until(lambda: page.editor_text() == "print('tokens')")
    page.find("[data-testid=rename]").click()
    page.fill("[data-testid=rename-form]", name="scanner.py")
    page.submit("[data-testid=rename-form]")
    page.find_text("[data-testid=doc-name]", "scanner.py")
    page.find_text("[data-testid=documents]", "scanner.py")
    page.find_text("[data-testid=activity]", "renamed lexer.py to scanner.py")
    page.shot("document")

    # A second document with the same name: the API's 409 in words.
    page.fill("[data-testid=new-document]", name="scanner.py")
    page.submit("[data-testid=new-document]")
    page.find_text(".side .error", "already")
    page.shot("duplicate-name")

    page.driver.find_element(By.XPATH, "//button[.='Sign out']").click()
    page.find("[data-testid=signin-form]")
    page.fill("[data-testid=signin-form]", email=email, password="wrong password!")
    page.submit("[data-testid=signin-form]")
    page.find_text("[data-testid=signin-form] .error", "Invalid email or password")
    page.shot("wrong-password")
    page.sign_in(email, "correct horse battery")
    page.find_text("[data-testid=projects]", "Compiler course")
    page.shot("signed-in-again")


def test_two_people_on_two_instances_see_each_others_typing_and_carets(web_pair, pages, trio):
    alice = open_workspace(pages(web_pair[0], "alice"), trio.alice, trio.path)
    bob = open_workspace(pages(web_pair[1], "bob"), trio.bob, trio.path)
    bob.find_text("[data-testid=presence]", trio.alice.username)
    alice.find_text("[data-testid=presence]", trio.bob.username)

    alice.type("x = 1")
    started = time.monotonic()
    bob.until(lambda: bob.editor_text() == "x = 1", 5, "alice's text did not reach bob")
    delay = time.monotonic() - started
    assert delay < 1.0, f"alice's keystrokes took {delay:.3f} s to reach bob's page"
    bob.until(lambda: trio.alice.username in bob.caret_labels(), 5, "no caret named alice")
    alice.shot("typed")
    bob.shot("sees-alice")

    bob.type("\ny = 2")
    alice.until(lambda: alice.editor_text() == "x = 1\ny = 2", 5)
    alice.until(lambda: trio.bob.username in alice.caret_labels(), 5)
    alice.shot("sees-bob")
    alice.assert_local_only()


def test_a_viewer_cannot_type_and_a_removed_member_is_told(web_pair, pages, trio):
    alice = open_workspace(pages(web_pair[0], "alice"), trio.alice, trio.path)
    carol = open_workspace(pages(web_pair[1], "carol"), trio.carol, trio.path)
    alice.type("shared text")
    carol.until(lambda: carol.editor_text() == "shared text", 5)
    content = carol.find(".cm-content")
    assert content.get_attribute("contenteditable") == "false"
    assert carol.find(".doc-title .badge").get_attribute("textContent") == "read-only"
    assert not carol.driver.find_element(
        By.CSS_SELECTOR, "[data-testid=new-document]"
    ).is_displayed()
    assert carol.find("[data-testid=run]").get_attribute("disabled") is not None
    content.click()  # keystrokes sent to whatever has the focus, as a person's would be
    ActionChains(carol.driver).send_keys(" carol was here").perform()
    time.sleep(0.5)
    assert carol.editor_text() == "shared text"
    assert alice.editor_text() == "shared text"
    carol.shot("read-only")

    alice.open(f"/projects/{trio.pid}")
    row = alice.find(f"tr[data-username='{trio.carol.username}']")
    row.find_element(By.CSS_SELECTOR, "button.danger").click()
    alice.find_text(f"tr[data-username='{trio.carol.username}'] button.danger", "Confirm")
    alice.shot("confirm-removal")
    row.find_element(By.CSS_SELECTOR, "button.danger").click()
    alice.until(
        lambda: (
            not alice.driver.find_elements(
                By.CSS_SELECTOR, f"tr[data-username='{trio.carol.username}']"
            )
        )
    )
    alice.shot("removed")

    carol.find_text("[data-testid=revoked]", "Your access to this workspace was removed", 10)
    assert carol.driver.find_elements(By.CSS_SELECTOR, ".cm-content") == []
    carol.shot("access-removed")


def wait_for_languages(base: str, account, seconds: float = 40) -> list[dict]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        response = requests.get(f"{base}{API}/languages", headers=account.headers, timeout=5)
        if response.status_code == 200 and response.json():
            return response.json()
        time.sleep(0.3)
    raise AssertionError("no job worker advertised its languages")


def test_run_streams_the_output_into_both_pages(web_pair, pages, trio, job_worker):
    languages = wait_for_languages(web_pair[0].url, trio.alice)
    assert "python" in [language["name"] for language in languages]
    alice = open_workspace(pages(web_pair[0], "alice"), trio.alice, trio.path)
    bob = open_workspace(pages(web_pair[1], "bob"), trio.bob, trio.path)
    alice.type("import time\nfor i in range(3):\n    print('line', i, flush=True); time.sleep(0.5)")
    bob.until(lambda: "time.sleep(0.5)" in (bob.editor_text() or ""), 5)
    alice.find("[data-testid=language] option[value=python]").click()
    alice.find("[data-testid=run]").click()
    # Live: bob reads the first line while the program still runs (the rest comes 1 s later).
    output = bob.find("[data-testid=output]")
    partial = bob.until(lambda: "line 0" in output.text and output.text, 30)
    assert "line 2" not in partial, "the output arrived all at once, not streamed"
    bob.shot("streaming")
    for page in (alice, bob):
        page.find_text("[data-testid=output]", "line 2", 30)
        page.find_text("[data-testid=job-state]", "completed", 30)
    expected = "line 0\nline 1\nline 2\n"
    for page in (alice, bob):
        assert page.find("[data-testid=output]").text.strip() == expected.strip()
        page.shot("ran")
    alice.find_text("[data-testid=activity]", "ran python", 15)


def test_offline_edits_merge_when_the_connection_is_back(web_pair, pages, trio):
    alice = open_workspace(pages(web_pair[0], "alice"), trio.alice, trio.path)
    bob = open_workspace(pages(web_pair[1], "bob"), trio.bob, trio.path)
    alice.type("one")
    bob.until(lambda: bob.editor_text() == "one", 5)

    # bob's browser loses the network: the page says it is reconnecting, and he keeps typing.
    bob.driver.execute_cdp_cmd("Network.enable", {})
    offline = {"offline": True, "latency": 0, "downloadThroughput": 0, "uploadThroughput": 0}
    bob.driver.execute_cdp_cmd("Network.emulateNetworkConditions", offline)
    try:
        bob.find_text("[data-testid=connection]", "econnecting", 30)
    except TimeoutException:
        pytest.fail("bob's page never showed that it lost its connection")
    bob.type(" two")
    alice.type(" three")
    bob.shot("offline")
    time.sleep(0.5)
    assert "two" not in alice.editor_text()

    online = {**offline, "offline": False}
    bob.driver.execute_cdp_cmd("Network.emulateNetworkConditions", online)
    bob.find_text("[data-testid=connection]", "Live", 30)
    for page in (alice, bob):
        page.until(
            lambda page=page: "two" in page.editor_text() and "three" in page.editor_text(), 15
        )
    assert alice.editor_text() == bob.editor_text()
    bob.shot("merged")
