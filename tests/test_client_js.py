"""The browser/Node Yjs provider (clients/js, npm package @collab/client) against two real web
instances on the suite's database and Redis.

The scenarios are node:test files in clients/js/test/ (converging clients, offline edits, a
pub/sub message really lost, a token expiring mid-session, a viewer, a removed member, remote
cursors in Awareness). They seed their users, projects and documents through the REST API of
the instances, whose URLs they get from the environment:

- COLLAB_URL_A: an instance as configured by default;
- COLLAB_URL_B: one whose logins issue access tokens of COLLAB_SHORT_TOKEN_SECONDS (it
  accepts every token, like A: they share the key);
- COLLAB_REDIS_URL: the Redis both use (the gap test kills its pub/sub connections).

The package's dependencies are pinned in clients/js/package-lock.json and installed with
`npm ci` when clients/js/node_modules is missing or does not match the lockfile.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.helpers_node import install_locked
from tests.realtime_support import WebInstance

PACKAGE = Path(__file__).parent.parent / "clients" / "js"
NODE = shutil.which("node")
NODE_TEST_SECONDS = 480
SHORT_TOKEN_SECONDS = 5
MIN_NODE_TESTS = 20  # the scenarios in clients/js/test/

pytestmark = pytest.mark.skipif(
    NODE is None, reason="node is not installed: the provider's tests are JavaScript"
)


@pytest.fixture(scope="module")
def package_installed() -> None:
    """clients/js/node_modules as locked."""
    install_locked(PACKAGE)


def run(command: list[str], timeout: float, env: dict[str, str] | None = None):
    return subprocess.run(
        command,
        cwd=PACKAGE,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def output(done: subprocess.CompletedProcess) -> str:
    return f"{done.stdout[-20000:]}\n{done.stderr[-8000:]}"


@pytest.fixture(scope="module")
def two_instances(app, base_env):
    """A and B on one database and Redis; B's logins issue short-lived access tokens."""
    env = {**base_env, "RATELIMIT_ENABLED": "false"}
    started = [WebInstance(env)]
    try:
        started.append(WebInstance({**env, "ACCESS_TOKEN_EXPIRES": str(SHORT_TOKEN_SECONDS)}))
        yield started
    finally:
        for instance in started:
            instance.stop()


def test_the_package_typechecks_and_its_declarations_are_current(package_installed, tmp_path):
    """Its JSDoc types hold (`tsc` with checkJs, strict), and types/*.d.ts (what a
    TypeScript app sees) are what they say (`npm run types` rewrites them)."""
    tsc = str(PACKAGE / "node_modules" / "typescript" / "bin" / "tsc")
    command = [NODE, tsc, "-p", "tsconfig.json", "--declaration", "--emitDeclarationOnly"]
    done = run([*command, "--outDir", str(tmp_path)], 120)
    assert done.returncode == 0, output(done)
    emitted = {path.name: path.read_text() for path in tmp_path.glob("*.d.ts")}
    committed = {path.name: path.read_text() for path in (PACKAGE / "types").glob("*.d.ts")}
    assert emitted == committed, "types/ is stale: run `npm run types` in clients/js"


def test_the_provider_against_two_instances(package_installed, two_instances, redis_url):
    a, b = two_instances
    env = {
        "COLLAB_URL_A": a.url,
        "COLLAB_URL_B": b.url,
        "COLLAB_REDIS_URL": redis_url,
        "COLLAB_SHORT_TOKEN_SECONDS": str(SHORT_TOKEN_SECONDS),
    }
    command = [NODE, "--test", "--test-concurrency=1", "--test-reporter=tap", "test/"]
    try:
        done = run(command, NODE_TEST_SECONDS, env)
    except subprocess.TimeoutExpired as timeout:
        pytest.fail(f"node --test ran over {NODE_TEST_SECONDS} s:\n{timeout.stdout}")
    assert done.returncode == 0, output(done)
    summary = dict(
        re.findall(r"^# (tests|pass|fail|skipped|todo|cancelled) (\d+)$", done.stdout, re.M)
    )
    # Every scenario ran and passed: none skipped, none left out.
    assert int(summary["tests"]) >= MIN_NODE_TESTS, output(done)
    assert summary["pass"] == summary["tests"], output(done)
