"""Runs of a workspace: POST /jobs {workspace_id, entry}. Its documents become the job's files
as of submission, run by a real worker in the real sandbox (tests/test_jobs.py's `work`)."""

from __future__ import annotations

import pytest

from collab.documents import content
from collab.documents.paths import is_valid_path
from tests.helpers_projects import assert_error, assert_validation_error, make_team, random_id
from tests.realtime_support import Replica, connected, documents_url
from tests.test_documents_content import created, put_content
from tests.test_jobs import (  # noqa: F401  (autouse fixtures: a live worker, no job left over)
    JOBS,
    advertised,
    empty_jobs,
    job_of,
    pytestmark,
    work,
)

C_MAIN = '#include <stdio.h>\n#include "util.h"\nint main(void) { printf("%d\\n", twice(21)); }\n'
C_UTIL = '#include "util.h"\nint twice(int x) { return 2 * x; }\n'


def run(client, team, entry="main.py", account=None, **body):
    account = account or team.owner
    body = {"workspace_id": team.wid, "entry": entry, **body}
    return client.post(JOBS, json=body, headers=account.headers)


def ran(app, client, team, entry="main.py", **body) -> dict:
    response = run(client, team, entry, **body)
    assert response.status_code == 202, response.get_json()
    work(app)
    return job_of(client, team.owner, response.get_json()["id"])


def seqs(app, doc_ids) -> dict[str, int]:
    with app.app_context():
        return {doc_id: content.last_seq(doc_id) for doc_id in doc_ids}


def test_a_python_project_with_a_module_and_a_package_folder(app, client, team):
    main = "import util\nfrom lib import helper\nprint(util.x, helper.y)\n"
    ids = [
        created(client, team, "main.py", content=main),
        created(client, team, "util.py", content="x = 'top'\n"),
        created(client, team, "lib/helper.py", content="y = 'nested'\n"),
    ]
    created(client, team, "Notes about it", content="not a path")
    job = ran(app, client, team)
    assert (job["outcome"], job["output"]) == ("success", "top nested\n"), job
    assert (job["language"], job["entry"], job["skipped"]) == (
        "python",
        "main.py",
        ["Notes about it"],
    )
    by_name = {file["name"]: file for file in job["files"]}
    assert set(by_name) == {"main.py", "util.py", "lib/helper.py"}
    assert by_name["main.py"] == {"doc_id": ids[0], "name": "main.py", "seq": 1, "bytes": len(main)}
    assert "content" not in by_name["util.py"] and "code" not in job


def test_a_c_project_compiles_every_translation_unit(app, client, team):
    created(client, team, "main.c", content=C_MAIN)
    created(client, team, "util.c", content=C_UTIL)
    created(client, team, "util.h", content="int twice(int x);\n")
    job = ran(app, client, team, "main.c")
    assert (job["language"], job["outcome"], job["output"]) == ("c", "success", "42\n"), job


def test_a_c_project_may_have_a_file_named_like_the_program_it_builds(app, client, team):
    """The binary is /box/@main, a path no document can have: a data file `main` stays."""
    reader = '#include <stdio.h>\nint main(void) { char line[64]; FILE *f = fopen("main", "r");'
    reader += ' if (!f || !fgets(line, sizeof line, f)) return 1; printf("read %s", line); }\n'
    created(client, team, "main.c", content=reader)
    created(client, team, "main", content="data\n")
    job = ran(app, client, team, "main.c")
    assert (job["outcome"], job["output"]) == ("success", "read data\n"), job
    tested = ran(app, client, team, "main.c", tests=[{"stdin": "", "expected_output": "read data"}])
    assert tested["tests"][0]["outcome"] == "accepted", tested  # the files are there in tests too


@pytest.mark.parametrize("language", ["python", "c"])
def test_a_workspace_run_against_test_cases(app, client, team, language):
    """Tests run the workspace's files too: built once (all of C's translation units)."""
    if language == "c":
        main = '#include <stdio.h>\n#include "util.h"\nint main(void) { int n; scanf("%d", &n);'
        main += ' printf("%d\\n", twice(n)); }\n'
        created(client, team, "main.c", content=main)
        created(client, team, "util.c", content=C_UTIL)
        created(client, team, "util.h", content="int twice(int x);\n")
        entry = "main.c"
    else:
        created(
            client,
            team,
            "main.py",
            content="from lib import util\nprint(util.twice(int(input())))\n",
        )
        created(client, team, "lib/util.py", content="def twice(x):\n    return 2 * x\n")
        entry = "main.py"
    tests = [
        {"stdin": "1\n", "expected_output": "2"},
        {"stdin": "5\n", "expected_output": "11"},
        {"stdin": "21\n", "expected_output": "42\n"},
    ]
    job = ran(app, client, team, entry, tests=tests)
    assert [t["outcome"] for t in job["tests"]] == ["accepted", "wrong_answer", "accepted"], job
    assert (job["outcome"], job["summary"]) == (
        "wrong_answer",
        {"total": 3, "passed": 2, "failed": 1},
    )
    assert {file["name"] for file in job["files"]} >= {entry}


def test_a_run_uses_the_versions_edited_over_socketio_and_rest(instances, app, client, team):
    main = created(client, team, "main.py", content="from lib.util import word\nprint(word)\n")
    util = created(client, team, "lib/util.py", content="word = 'old'\n")
    replica = Replica()
    with connected(instances[0].url, team.collaborator.access_token) as socket:
        joined = socket.ok(
            "workspace:join", {"workspace_id": team.wid, "docs": {util: replica.state_vector()}}
        )
        replica.apply(joined["docs"][util])
        start = str(replica).index("old")
        for update in (replica.delete(start, 3), replica.insert(start, "new")):
            socket.ok("doc:update", {"workspace_id": team.wid, "doc_id": util, "update": update})
    put_content(client, team, main, "from lib.util import word\nprint(word * 2)\n")
    job = ran(app, client, team)
    assert job["output"] == "newnew\n", job
    assert (
        {f["doc_id"]: f["seq"] for f in job["files"]}
        == seqs(app, [main, util])
        == {
            main: 2,
            util: 3,
        }
    )


def test_the_files_are_those_of_submission_time(app, client, team):
    doc_id = created(client, team, "main.py", content="print('submitted')\n")
    response = run(client, team)
    put_content(client, team, doc_id, "print('edited later')\n")
    work(app)
    job = job_of(client, team.owner, response.get_json()["id"])
    assert (job["output"], job["files"][0]["seq"]) == ("submitted\n", 1)


def test_language_by_extension_or_given(app, client, team):
    created(client, team, "run.sh", content="echo from bash\n")
    created(client, team, "script", content="print('given')\n")
    assert ran(app, client, team, "run.sh")["output"] == "from bash\n"
    assert ran(app, client, team, "script", language="python")["output"] == "given\n"
    assert_validation_error(run(client, team, "script"), "language")


def test_name_rules():
    valid = ["main.py", "lib/util.py", "a/b/c-d_e.1.h", ".env", "x" * 100]
    invalid = ["..", "a/../b", "./a", "a/./b", "/main.py", "a//b", "a/", "a b", "é.py", "x" * 101]
    assert all(is_valid_path(name) for name in valid)
    assert not any(is_valid_path(name) for name in invalid)


def test_documents_that_are_not_paths_still_work_and_are_skipped(app, client, team):
    for name in ("My notes", "x" * 100, "lib"):
        created(client, team, name, content="print('not run')\n")
    created(client, team, "main.py", content="print('ran')\n")
    created(client, team, "lib/util.py", content="")  # "lib" is a file: its folder cannot be
    job = ran(app, client, team)
    assert job["output"] == "ran\n"
    assert sorted(job["skipped"]) == sorted(["My notes", "lib/util.py"])
    assert sorted(f["name"] for f in job["files"]) == sorted(["main.py", "x" * 100, "lib"])
    for entry in ("../main.py", "/main.py", "a//b", "x" * 101, "My notes"):
        assert_validation_error(run(client, team, entry), "entry")


def test_limits_and_refusals(app, client, team):
    created(client, team, "main.py", content="print(1)\n")
    assert_validation_error(run(client, team, code="print(1)", language="python"), "entry")
    assert_validation_error(
        client.post(JOBS, json={"entry": "main.py"}, headers=team.owner.headers), "entry"
    )
    assert_error(run(client, team, "missing.py"), 422)
    big = "#" * (1024 * 1024 - 100)
    created(client, team, "big1.py", content=big)
    created(client, team, "big2.py", content=big)
    created(client, team, "big3.py", content="#" * 300)
    assert_error(run(client, team), 413)
    for name in ("big1.py", "big2.py"):
        put_content(client, team, doc_of(client, team, name), "")
    for n in range(60):
        created(client, team, f"f/{n}.py")
    assert run(client, team).status_code == 202  # 64 files
    created(client, team, "f/60.py")
    assert_error(run(client, team), 422)
    assert client.get(JOBS, headers=team.owner.headers).get_json()[0]["status"] == "pending"


def doc_of(client, team, name: str) -> str:
    listed = client.get(f"{documents_url(team)}?limit=100", headers=team.owner.headers)
    return next(doc["id"] for doc in listed.get_json() if doc["name"] == name)


@pytest.mark.parametrize("is_public", [False, True])
def test_roles(app, client, make_user, is_public):
    team = make_team(client, make_user, is_public=is_public)
    created(client, team, "main.py", content="print('hi')\n")
    for role in ("owner", "collaborator"):
        assert run(client, team, account=team.account(role)).status_code == 202
    assert_error(run(client, team, account=team.viewer), 403)
    assert_error(run(client, team, account=team.outsider), 403 if is_public else 404)
    anonymous = client.post(JOBS, json={"workspace_id": team.wid, "entry": "main.py"})
    assert_error(anonymous, 401)
    assert_error(run_elsewhere(client, team), 404)
    work(app)
    listed = client.get(f"{JOBS}?workspace_id={team.wid}", headers=team.viewer.headers).get_json()
    assert [job["outcome"] for job in listed] == ["success", "success"]


def run_elsewhere(client, team):
    body = {"workspace_id": random_id(), "entry": "main.py"}
    return client.post(JOBS, json=body, headers=team.owner.headers)
