"""The web app at `/` (collab/webapp): its page, the History API fallback, the
Content-Security-Policy, the API's 404s left alone, and the committed build being current."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from collab.devstack import ROOT
from collab.webapp.routes import STATIC
from tests.helpers_node import install_locked

WEB = ROOT / "clients" / "web"
BUILT = ("index.html", "app.js", "app.css")


def test_the_root_serves_the_app_page(client):
    response = client.get("/")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    body = response.get_data(as_text=True)
    assert '<script type="module" src="/assets/app.js"></script>' in body
    assert response.headers["Cache-Control"] == "no-cache"


@pytest.mark.parametrize(
    "path",
    [
        "/signin",
        "/register",
        "/projects",
        "/projects/abc",
        "/projects/a/workspaces/b/documents/c",
        "/join",
    ],
)
def test_app_routes_fall_back_to_the_page(client, path):
    response = client.get(path)
    assert response.status_code == 200
    assert response.data == (STATIC / "index.html").read_bytes()


@pytest.mark.parametrize("path", ["/api/v1/nope", "/api/v1/projects/x/y/z", "/api/nothing"])
def test_unknown_api_paths_keep_their_json_404(client, path):
    response = client.get(path)
    assert response.status_code == 404
    assert response.is_json
    assert response.get_json()["code"] == 404


def test_paths_outside_the_app_are_not_the_page(client):
    response = client.get("/no-such-page")
    assert response.status_code == 404
    assert response.is_json


def test_the_assets_are_served_with_their_types(client):
    script = client.get("/assets/app.js")
    assert script.status_code == 200
    assert script.mimetype in ("text/javascript", "application/javascript")
    assert client.get("/assets/app.css").mimetype == "text/css"
    assert client.get("/assets/missing.js").status_code == 404


def policy(response) -> dict[str, list[str]]:
    header = response.headers["Content-Security-Policy"]
    directives = [part.split() for part in header.split(";") if part.strip()]
    return {name: values for name, *values in directives}


def test_the_page_and_its_assets_have_a_strict_policy(client):
    for path in ("/", "/projects", "/assets/app.js"):
        response = client.get(path, headers={"Host": "collab.example.com:8443"})
        csp = policy(response)
        assert csp["script-src"] == ["'self'"]
        assert csp["default-src"] == ["'self'"]
        assert csp["object-src"] == ["'none'"]
        assert csp["frame-ancestors"] == ["'none'"]
        assert csp["connect-src"] == [
            "'self'",
            "ws://collab.example.com:8443",
            "wss://collab.example.com:8443",
        ]
        assert "'unsafe-inline'" not in csp["script-src"] + csp["default-src"]
        assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_a_strange_host_header_stays_out_of_the_policy(client):
    response = client.get("/", headers={"Host": "evil.example; script-src *"})
    assert policy(response)["connect-src"] == ["'self'"]


def test_the_api_and_other_pages_keep_their_own_headers(client):
    assert "Content-Security-Policy" not in client.get("/health").headers
    assert "Content-Security-Policy" not in client.get("/api/openapi.json").headers


def test_the_page_loads_nothing_from_elsewhere():
    page = (STATIC / "index.html").read_text()
    assert "http://" not in page and "https://" not in page and "//" not in page.replace("://", "")
    script = (STATIC / "app.js").read_text()
    assert "fonts.googleapis" not in script and "cdn." not in script


def test_the_committed_build_is_current(tmp_path):
    """`make client` output is committed; rebuilt from the sources and the lockfile, it must be
    the same bytes (else run `make client` and commit collab/webapp/static)."""
    node = shutil.which("node")
    if not node:
        pytest.skip("needs node")
    install_locked(WEB)
    run([node, "build.mjs", f"--outdir={tmp_path}"], WEB)
    stale = [
        name for name in BUILT if (tmp_path / name).read_bytes() != (STATIC / name).read_bytes()
    ]
    assert stale == [], f"collab/webapp/static is stale ({stale}): run `make client` and commit it"


def run(command: list[str], cwd: Path) -> None:
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
