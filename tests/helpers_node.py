"""Node packages for the tests that run JavaScript (the Yjs interop client, @collab/client,
the web app's build): installed from their lockfile with `npm ci` when missing or stale."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

NPM_CI_SECONDS = 300


def node_modules_match_the_lockfile(package: Path) -> bool:
    """Every package of package-lock.json is installed at its locked version (optional ones,
    such as another platform's binaries, may be absent)."""
    installed = package / "node_modules" / ".package-lock.json"
    if not installed.exists():
        return False
    locked = json.loads((package / "package-lock.json").read_text())["packages"]
    present = json.loads(installed.read_text())["packages"]
    return all(
        present.get(path, {}).get("version") == entry["version"]
        and (package / path / "package.json").exists()
        for path, entry in locked.items()
        if path and not entry.get("optional") and not entry.get("link")
    )


def install_locked(package: Path) -> None:
    """`npm ci` in `package` unless its node_modules already match the lockfile; fails the
    test (never skips) when that cannot be done."""
    if node_modules_match_the_lockfile(package):
        return
    npm = shutil.which("npm")
    if npm is None:
        pytest.fail(f"{package}/node_modules is missing and npm is not installed to run `npm ci`")
    command = [npm, "ci", "--no-audit", "--no-fund"]
    try:
        done = subprocess.run(
            command, cwd=package, capture_output=True, text=True, timeout=NPM_CI_SECONDS
        )
    except subprocess.TimeoutExpired:
        pytest.fail(
            f"`npm ci` in {package} took more than {NPM_CI_SECONDS} s (is the registry up?)"
        )
    if done.returncode != 0 or not node_modules_match_the_lockfile(package):
        pytest.fail(
            f"`npm ci` in {package} failed (exit {done.returncode}):\n"
            f"{done.stdout[-2000:]}\n{done.stderr[-4000:]}"
        )
