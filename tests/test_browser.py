"""The operations pages in a real browser: Debian's headless Chromium, driven by Selenium through
Debian's chromedriver, against a real web instance (gunicorn, gevent) and a real RQ worker
(`python worker.py`) on the suite's database, Redis and MongoDB.

Without Chromium the tests skip, or fail when COLLAB_REQUIRE_BROWSER=1 (as in CI).
"""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from rq import Queue
from rq.job import Job, JobStatus
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from collab.devstack import ROOT
from collab.tasks import DEFAULT_QUEUE, QUEUE_NAMES
from tests.realtime_support import WebInstance

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
MISSING = [path for path in (CHROMIUM, CHROMEDRIVER) if not os.access(path, os.X_OK)]
REQUIRED = os.environ.get("COLLAB_REQUIRE_BROWSER") == "1"
WHY = f"needs {' and '.join(MISSING)} (apt-get install -y chromium chromium-driver)"

pytestmark = pytest.mark.skipif(bool(MISSING) and not REQUIRED, reason=WHY)

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--window-size=1280,900",
)
WAIT_SECONDS = 20


def new_driver() -> webdriver.Chrome:
    """Debian's headless Chromium through its chromedriver (fails when they are missing)."""
    if MISSING:
        pytest.fail(f"COLLAB_REQUIRE_BROWSER=1 but the browser is missing: {WHY}")
    options = Options()
    options.binary_location = CHROMIUM
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    # A driver path given: Selenium Manager (which would download a browser) is never run.
    return webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)


@pytest.fixture()
def browser() -> Iterator[webdriver.Chrome]:
    driver = new_driver()
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture()
def web(app, base_env) -> Iterator[WebInstance]:
    instance = WebInstance(base_env)  # after `app`: the database is migrated
    try:
        yield instance
    finally:
        instance.stop()


@pytest.fixture()
def worker(base_env, tmp_path) -> Iterator[subprocess.Popen]:
    """The Procfile's worker process, on the default queue."""
    with open(tmp_path / "worker.log", "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "worker.py", DEFAULT_QUEUE],
            cwd=ROOT,
            env={**os.environ, **base_env},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            yield process
        finally:
            os.killpg(process.pid, signal.SIGTERM)  # a warm shutdown
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)


def finished_job(redis_url: str, worker: subprocess.Popen) -> Job:
    """A small job on the default queue, run by the real worker."""
    connection = redis.Redis.from_url(redis_url)
    job = Queue(DEFAULT_QUEUE, connection=connection).enqueue("builtins.pow", 2, 10)
    deadline = time.monotonic() + 30
    while job.get_status() != JobStatus.FINISHED:
        assert worker.poll() is None, "the worker exited"
        assert time.monotonic() < deadline, f"the job is still {job.get_status()}"
        time.sleep(0.1)
    assert job.return_value() == 1024
    return job


def send_credentials(driver: webdriver.Chrome, email: str, password: str) -> None:
    """Basic credentials on every request of the page, subresources and XHR included (Chrome
    does not reliably apply user:password@host URLs to those)."""
    token = base64.b64encode(f"{email}:{password}".encode()).decode()
    driver.execute_cdp_cmd("Network.enable", {})
    headers = {"Authorization": f"Basic {token}"}
    driver.execute_cdp_cmd("Network.setExtraHTTPHeaders", {"headers": headers})


def wait_for(driver: webdriver.Chrome, xpath: str):
    return WebDriverWait(driver, WAIT_SECONDS).until(
        expected_conditions.visibility_of_element_located((By.XPATH, xpath))
    )


def assert_everything_came_from(driver: webdriver.Chrome, base: str) -> None:
    """The page and every script, stylesheet and XHR it loaded came from the app: it works with
    no internet access."""
    urls = driver.execute_script(
        "return [location.href].concat("
        "performance.getEntriesByType('resource').map(entry => entry.name))"
    )
    assert len(urls) > 3
    assert [url for url in urls if not url.startswith(base)] == []


def save_screenshot(driver: webdriver.Chrome, path: Path) -> None:
    assert driver.save_screenshot(str(path))
    data = path.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 10_000


def test_an_admin_sees_the_queues_and_a_finished_job_in_the_rq_dashboard(
    browser, web, worker, make_user, redis_url, tmp_path
):
    admin = make_user("root", is_admin=True)
    job = finished_job(redis_url, worker)
    send_credentials(browser, admin.email, admin.password)

    browser.get(f"{web.url}/admin/rq/")
    for name in QUEUE_NAMES:  # rows the page's script fills from queues.json
        wait_for(browser, f"//table[@id='queues']//tr[@data-role='queue']/td[text()='{name}']")

    browser.get(f"{web.url}/admin/rq/0/view/workers")
    wait_for(browser, f"//table[@id='workers']//tr[@data-role='worker']/td[.='{DEFAULT_QUEUE}']")

    browser.get(f"{web.url}/admin/rq/0/view/jobs/{DEFAULT_QUEUE}/finished/8/asc/1")
    row = wait_for(browser, f"//table[@id='jobs']//tr[@data-job-id='{job.id}']")
    assert "builtins.pow(2, 10)" in row.text
    assert_everything_came_from(browser, web.url)
    save_screenshot(browser, tmp_path / "rq-dashboard-finished.png")

    browser.get(f"{web.url}/admin/rq/0/view/job/{job.id}")
    wait_for(browser, "//p[strong='Status'][contains(., 'finished')]")
    save_screenshot(browser, tmp_path / "rq-dashboard-job.png")


def test_the_rq_dashboard_without_credentials_is_refused(browser, web):
    browser.get(f"{web.url}/api/docs")  # any page of the origin, to run a script from
    status = browser.execute_script(
        "return fetch('/admin/rq/0/data/queues.json', {credentials: 'omit'})"
        ".then(response => [response.status, response.headers.get('WWW-Authenticate')])"
    )
    assert status == [401, 'Basic realm="collab admin"']


def test_api_docs_render_the_endpoints_in_swagger_ui(browser, web, tmp_path):
    browser.get(f"{web.url}/api/docs")
    for path in ("/api/v1/projects", "/api/v1/jobs", "/api/v1/admin/flags"):
        wait_for(browser, f"//*[contains(@class, 'opblock-summary-path')][@data-path='{path}']")
    assert_everything_came_from(browser, web.url)
    save_screenshot(browser, tmp_path / "api-docs.png")
