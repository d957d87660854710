"""The role matrix of the jobs API: submitting into a workspace, reading a job, listing a
workspace's jobs or one's own, and cancelling, called by the owner, a collaborator, a viewer, an
authenticated outsider and an anonymous client, on a private and on a public project.

The job under test is submitted by the team's collaborator into the team's workspace; every
account also has a private job (no workspace) of its own. Jobs stay pending: no worker runs them,
so unlike tests/test_jobs.py these tests need no sandbox, only the Python toolchain (a worker's
advertisement of the installed languages stands for one that started: `advertised`).

A granted call is checked by its body and its effect; a refused one by the error body and by a
snapshot of every job and of the queue, proving that nothing changed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from types import SimpleNamespace

import pytest

from collab.jobs import languages, workers
from collab.jobs import tasks as job_tasks
from tests.helpers_projects import (
    ROLES,
    Team,
    assert_error,
    collaborator_url,
    make_team,
    random_id,
)
from tests.test_jobs import (  # noqa: F401  (empty_jobs is autouse: no job outlives its test)
    JOBS,
    empty_jobs,
    get_job,
    job_of,
    submit,
    submitted,
)


@pytest.fixture(autouse=True)
def advertised(app):
    """Submissions need a live worker that runs the language. No job runs here, so instead of
    a real worker's probe, the installed toolchains are advertised as its report would be."""
    runnable = [
        workers.RunnableLanguage(lang.name, lang.version, lang.compiled)
        for lang in languages.available()
    ]
    with app.app_context():
        workers.advertise("roles-worker", workers.Report("not probed", runnable))


ANONYMOUS = SimpleNamespace(id=None, headers={})
VISIBILITIES = ("private", "public")
ACCOUNTS = ("owner", "collaborator", "viewer", "outsider")  # the roles with an account
CANCELLED = {"message": "Job cancelled"}


@dataclass
class Scene:
    team: Team
    job: dict  # submitted by the collaborator into the team's workspace
    private_jobs: dict[str, dict]  # role -> the job its account submitted without a workspace

    @property
    def private_job(self) -> dict:
        """The collaborator's private job: the one the private-job cases act on."""
        return self.private_jobs["collaborator"]

    def caller(self, role: str):
        return self.team.account(role) or ANONYMOUS

    def submitter(self, job: dict):
        return next(
            self.caller(role) for role in ACCOUNTS if self.caller(role).id == job["user_id"]
        )

    def own_job_ids(self, role: str) -> set[str]:
        own = {self.private_jobs[role]["id"]} if role in self.private_jobs else set()
        if role == "collaborator":
            own.add(self.job["id"])
        return own

    def with_random_ids(self) -> Scene:
        """The same calls, aimed at a workspace and jobs that do not exist."""
        team = replace(self.team, workspace={**self.team.workspace, "id": random_id()})
        private_jobs = {role: {"id": random_id()} for role in self.private_jobs}
        return Scene(team, {"id": random_id()}, private_jobs)


@pytest.fixture()
def build_scene(client, make_user) -> Callable[[str], Scene]:
    def build(visibility: str) -> Scene:
        team = make_team(client, make_user, is_public=visibility == "public")
        job = submitted(client, team.collaborator, workspace_id=team.wid)
        private_jobs = {role: submitted(client, team.account(role)) for role in ACCOUNTS}
        return Scene(team, job, private_jobs)

    return build


def cancel(client, account, job_id: str):
    return client.post(f"{JOBS}/{job_id}/cancel", headers=account.headers)


def workspace_jobs(client, account, workspace_id: str):
    return client.get(f"{JOBS}?workspace_id={workspace_id}", headers=account.headers)


def own_jobs(client, account):
    return client.get(JOBS, headers=account.headers)


def ids(response) -> list[str]:
    assert response.status_code == 200, response.get_json()
    return [job["id"] for job in response.get_json()]


def queued(app) -> int:
    with app.app_context():
        return job_tasks.queued_count()


def jobs_state(app, client, scene: Scene) -> dict:
    """Every job as its submitter reads it, every account's own list, the workspace's list as
    the owner reads it, and the length of the queue."""
    jobs = [scene.job, *scene.private_jobs.values()]
    return {
        "jobs": {job["id"]: job_of(client, scene.submitter(job), job["id"]) for job in jobs},
        "own": {role: own_jobs(client, scene.caller(role)).get_json() for role in ACCOUNTS},
        "workspace": workspace_jobs(client, scene.team.owner, scene.team.wid).get_json(),
        "queued": queued(app),
    }


# --- What each endpoint must do when it is allowed --------------------------------------------


def check_submitted(app, client, scene: Scene, role: str, response, before: dict) -> None:
    job = response.get_json()
    assert (job["status"], job["user_id"]) == ("pending", scene.caller(role).id)
    assert job["workspace_id"] == scene.team.wid
    assert response.headers["Location"] == f"{JOBS}/{job['id']}"
    listed = ids(workspace_jobs(client, scene.team.owner, scene.team.wid))
    assert sorted(listed) == sorted([job["id"], scene.job["id"]])
    assert queued(app) == before["queued"] + 1


def assert_read(target: dict, response, before: dict) -> None:
    """The caller reads exactly what the job's submitter reads."""
    assert response.get_json() == before["jobs"][target["id"]]


def check_read_workspace_job(app, client, scene: Scene, role: str, response, before) -> None:
    assert_read(scene.job, response, before)
    assert response.get_json()["workspace_id"] == scene.team.wid


def check_read_private_job(app, client, scene: Scene, role: str, response, before) -> None:
    assert_read(scene.private_job, response, before)
    assert response.get_json()["workspace_id"] is None


def check_workspace_list(app, client, scene: Scene, role: str, response, before) -> None:
    # Neither the collaborator's private job nor anyone else's appears.
    assert ids(response) == [scene.job["id"]]
    assert response.headers["X-Total-Count"] == "1"


def check_own_list(app, client, scene: Scene, role: str, response, before) -> None:
    assert set(ids(response)) == scene.own_job_ids(role)
    assert {job["user_id"] for job in response.get_json()} == {scene.caller(role).id}
    assert response.headers["X-Total-Count"] == str(len(scene.own_job_ids(role)))


def assert_cancelled(app, client, scene: Scene, target: dict, response, before: dict) -> None:
    """Only the target changed: it is cancelled, and off the queue."""
    assert response.get_json() == CANCELLED
    after = jobs_state(app, client, scene)
    assert after["jobs"][target["id"]]["status"] == "cancelled"
    others = {job_id for job_id in before["jobs"] if job_id != target["id"]}
    assert {i: after["jobs"][i] for i in others} == {i: before["jobs"][i] for i in others}
    assert after["queued"] == before["queued"] - 1


def check_cancel_workspace_job(app, client, scene: Scene, role: str, response, before) -> None:
    assert_cancelled(app, client, scene, scene.job, response, before)


def check_cancel_private_job(app, client, scene: Scene, role: str, response, before) -> None:
    assert_cancelled(app, client, scene, scene.private_job, response, before)


# --- The matrix ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Endpoint:
    route: tuple[str, str]  # (method, Flask rule), to prove every jobs route is covered
    call: Callable  # (client, scene, caller account) -> response
    check: Callable  # what a granted call must have done
    expected: dict[str, tuple[int, int]]  # role -> status on a (private, public) project


ENDPOINTS = {
    "submit into the workspace": Endpoint(
        ("POST", "/api/v1/jobs"),
        lambda client, scene, who: submit(client, who, workspace_id=scene.team.wid),
        check_submitted,
        {
            "owner": (202, 202),
            "collaborator": (202, 202),
            "viewer": (403, 403),
            "outsider": (404, 403),
            "anonymous": (401, 401),
        },
    ),
    "read the workspace job": Endpoint(
        ("GET", "/api/v1/jobs/<uuid:job_id>"),
        lambda client, scene, who: get_job(client, who, scene.job["id"]),
        check_read_workspace_job,
        {
            "owner": (200, 200),
            "collaborator": (200, 200),
            "viewer": (200, 200),
            "outsider": (404, 404),
            "anonymous": (401, 401),
        },
    ),
    "list the workspace's jobs": Endpoint(
        ("GET", "/api/v1/jobs"),
        lambda client, scene, who: workspace_jobs(client, who, scene.team.wid),
        check_workspace_list,
        {
            "owner": (200, 200),
            "collaborator": (200, 200),
            "viewer": (200, 200),
            "outsider": (404, 403),
            "anonymous": (401, 401),
        },
    ),
    "cancel the workspace job": Endpoint(
        ("POST", "/api/v1/jobs/<uuid:job_id>/cancel"),
        lambda client, scene, who: cancel(client, who, scene.job["id"]),
        check_cancel_workspace_job,
        {
            "owner": (200, 200),
            "collaborator": (200, 200),
            "viewer": (403, 403),
            "outsider": (404, 404),
            "anonymous": (401, 401),
        },
    ),
    # A job without a workspace belongs to its submitter alone, whatever projects they share.
    "read a private job": Endpoint(
        ("GET", "/api/v1/jobs/<uuid:job_id>"),
        lambda client, scene, who: get_job(client, who, scene.private_job["id"]),
        check_read_private_job,
        {
            "owner": (404, 404),
            "collaborator": (200, 200),
            "viewer": (404, 404),
            "outsider": (404, 404),
            "anonymous": (401, 401),
        },
    ),
    "cancel a private job": Endpoint(
        ("POST", "/api/v1/jobs/<uuid:job_id>/cancel"),
        lambda client, scene, who: cancel(client, who, scene.private_job["id"]),
        check_cancel_private_job,
        {
            "owner": (404, 404),
            "collaborator": (200, 200),
            "viewer": (404, 404),
            "outsider": (404, 404),
            "anonymous": (401, 401),
        },
    ),
    "list one's own jobs": Endpoint(
        ("GET", "/api/v1/jobs"),
        lambda client, scene, who: own_jobs(client, who),
        check_own_list,
        {
            "owner": (200, 200),
            "collaborator": (200, 200),
            "viewer": (200, 200),
            "outsider": (200, 200),
            "anonymous": (401, 401),
        },
    ),
}

# Error messages stable enough to pin; the 404s about workspaces are left out on purpose (see
# test_a_hidden_workspace_or_job_looks_like_a_missing_one).
JOB_NOT_FOUND = "Job not found"
CANCEL_FORBIDDEN = "Only the submitter and the project's owner may cancel a job"
MESSAGES = {
    ("submit into the workspace", 403): "This requires the collaborator role in the project",
    ("list the workspace's jobs", 403): "Only members of the project see its jobs",
    ("read the workspace job", 404): JOB_NOT_FOUND,
    ("read a private job", 404): JOB_NOT_FOUND,
    ("cancel the workspace job", 403): CANCEL_FORBIDDEN,
    ("cancel the workspace job", 404): JOB_NOT_FOUND,
    ("cancel a private job", 404): JOB_NOT_FOUND,
}

CASES = [
    pytest.param(name, role, visibility, status, id=f"{name}-{role}-{visibility}")
    for name, endpoint in ENDPOINTS.items()
    for role, statuses in endpoint.expected.items()
    for visibility, status in zip(VISIBILITIES, statuses, strict=True)
]


@pytest.mark.parametrize(("endpoint", "role", "visibility", "expected_status"), CASES)
def test_jobs_role_matrix(app, client, build_scene, endpoint, role, visibility, expected_status):
    scene = build_scene(visibility)
    spec = ENDPOINTS[endpoint]
    before = jobs_state(app, client, scene)

    response = spec.call(client, scene, scene.caller(role))

    assert response.status_code == expected_status, response.get_data(as_text=True)
    if expected_status < 400:
        spec.check(app, client, scene, role, response, before)
        return
    assert_error(response, expected_status, MESSAGES.get((endpoint, expected_status)))
    if expected_status == 401:
        assert response.headers.get("WWW-Authenticate") == "Bearer"
    assert jobs_state(app, client, scene) == before, "a refused request changed the jobs"


def test_the_matrix_covers_every_jobs_route_and_every_role(app):
    routed = {
        (method, rule.rule)
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith(JOBS)
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    assert routed == {endpoint.route for endpoint in ENDPOINTS.values()}
    assert all(tuple(endpoint.expected) == ROLES for endpoint in ENDPOINTS.values())
    assert len(CASES) == len(ENDPOINTS) * len(ROLES) * len(VISIBILITIES)


# --- Beyond the matrix ------------------------------------------------------------------------


@pytest.mark.parametrize("visibility", VISIBILITIES)
def test_a_collaborator_may_not_cancel_a_job_they_did_not_submit(client, make_user, visibility):
    team = make_team(client, make_user, is_public=visibility == "public")
    job = submitted(client, team.owner, workspace_id=team.wid)
    before = job_of(client, team.owner, job["id"])

    assert_error(cancel(client, team.collaborator, job["id"]), 403, CANCEL_FORBIDDEN)

    assert before["status"] == "pending"
    assert job_of(client, team.owner, job["id"]) == before


@pytest.mark.parametrize(("visibility", "outsider_status"), [("private", 404), ("public", 403)])
def test_a_removed_submitter_keeps_their_job_but_loses_the_workspace(
    client, build_scene, visibility, outsider_status
):
    scene = build_scene(visibility)
    team, member, job_id = scene.team, scene.team.collaborator, scene.job["id"]
    assert ids(workspace_jobs(client, member, team.wid)) == [job_id]  # warm any cache

    removed = client.delete(collaborator_url(team.pid, member.id), headers=team.owner.headers)
    assert removed.get_json() == {"message": "Collaborator removed"}

    # The job stays the project's: its members still read and list it.
    for account in (team.owner, team.viewer):
        assert job_of(client, account, job_id)["user_id"] == member.id
        assert ids(workspace_jobs(client, account, team.wid)) == [job_id]
    # It is still "yours" to its submitter, who reads it and finds it among their own jobs...
    assert job_of(client, member, job_id)["status"] == "pending"
    assert set(ids(own_jobs(client, member))) == scene.own_job_ids("collaborator")
    # ...but the workspace is no longer theirs to list or to submit into.
    assert_error(workspace_jobs(client, member, team.wid), outsider_status)
    assert_error(submit(client, member, workspace_id=team.wid), outsider_status)
    assert set(ids(own_jobs(client, member))) == scene.own_job_ids("collaborator")


@pytest.mark.parametrize(("visibility", "outsider_status"), [("private", 404), ("public", 403)])
def test_a_removed_member_loses_the_projects_jobs_at_once(
    client, build_scene, visibility, outsider_status
):
    scene = build_scene(visibility)
    team, member, job_id = scene.team, scene.team.viewer, scene.job["id"]
    assert job_of(client, member, job_id)["id"] == job_id  # warm any cache

    removed = client.delete(collaborator_url(team.pid, member.id), headers=team.owner.headers)
    assert removed.get_json() == {"message": "Collaborator removed"}

    assert_error(get_job(client, member, job_id), 404, JOB_NOT_FOUND)
    assert_error(workspace_jobs(client, member, team.wid), outsider_status)
    assert ids(own_jobs(client, member)) == [scene.private_jobs["viewer"]["id"]]
    assert job_of(client, team.owner, job_id)["status"] == "pending"


@pytest.mark.parametrize(
    "endpoint", [name for name, spec in ENDPOINTS.items() if spec.expected["outsider"][0] == 404]
)
def test_a_hidden_workspace_or_job_looks_like_a_missing_one(client, build_scene, endpoint):
    """An outsider of a private project cannot tell its workspace or jobs from random ids."""
    scene = build_scene("private")
    spec = ENDPOINTS[endpoint]
    outsider = scene.team.outsider

    hidden = spec.call(client, scene, outsider)
    missing = spec.call(client, scene.with_random_ids(), outsider)

    assert_error(hidden, 404)
    assert (hidden.status_code, hidden.get_json()) == (missing.status_code, missing.get_json())
