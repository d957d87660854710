"""The soak's smoke mode: every fault once (a web instance and a worker SIGKILLed, Redis and
PostgreSQL restarted, MongoDB stopped, a web instance paused) under a light load, with the
same invariants as the benchmark. It starts its own servers (a private PostgreSQL cluster from
this machine's binaries), so it runs once, in the PostgreSQL leg of the suite; the full run is
`bench/soak`."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from tests.test_sandbox import REPO, SANDBOX_USABLE

ON_POSTGRES = os.environ.get("TEST_DATABASE_URL", "").startswith("postgresql")

pytestmark = [
    pytest.mark.skipif(not ON_POSTGRES, reason="runs in the PostgreSQL leg (TEST_DATABASE_URL)"),
    pytest.mark.skipif(
        not SANDBOX_USABLE and not os.environ.get("COLLAB_REQUIRE_SANDBOX"),
        reason="needs root, writable cgroups and bubblewrap (apt-get install -y bubblewrap)",
    ),
    pytest.mark.skipif(shutil.which("pg_config") is None, reason="needs PostgreSQL's binaries"),
    pytest.mark.timeout(900),  # the soak runs once, in the first test's fixture: ~4 minutes
]


@pytest.fixture(scope="module")
def soak(tmp_path_factory) -> tuple[subprocess.CompletedProcess, dict]:
    out = tmp_path_factory.mktemp("soak")
    env = {**os.environ, "SMOKE": "1", "SOAK_OUT": str(out)}
    for name in list(env):
        if name.startswith("TEST_"):
            env.pop(name)  # the soak's servers are its own
    run = subprocess.run(
        [sys.executable, str(REPO / "bench" / "soak")],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    report_path = out / "report.json"
    assert report_path.exists(), f"no report (exit {run.returncode}):\n{run.stdout[-4000:]}"
    return run, json.loads(report_path.read_text())


def test_every_fault_ran_and_every_invariant_held(soak):
    run, report = soak
    faults = [row["fault"] for row in report["faults"]]
    assert len(faults) == 6, faults
    assert report["failures"] == [], run.stdout[-4000:]
    assert run.returncode == 0, run.stdout[-4000:]


def test_nothing_acknowledged_was_lost_and_every_replica_converged(soak):
    figures = soak[1]["figures"]
    assert figures["acked_edits"] > 100  # the editors really typed through the faults
    assert figures["lost_edits"] == 0
    assert figures["diverged"] == 0


def test_every_accepted_job_finished_right_once(soak):
    figures = soak[1]["figures"]
    assert figures["jobs_accepted"] > 20
    assert figures["jobs_stuck"] == figures["jobs_failed"] == figures["jobs_wrong"] == 0
    assert figures["jobs_completed_twice"] == 0
    # The job of the SIGKILLed worker was run again, not failed.
    assert figures["job_attempts"].get("2", 0) >= 1, figures["job_attempts"]


def test_no_server_error_and_every_mutation_kept(soak):
    figures = soak[1]["figures"]
    assert figures["errors_5xx"] == 0
    assert figures["answers_503_without_retry_after"] == 0
    assert figures["mutations_ok"] > 10
    assert figures["mutations_missing"] == figures["activity_missing"] == 0
    assert figures["leaked_sandboxes"] == figures["leaked_cgroups"] == 0
