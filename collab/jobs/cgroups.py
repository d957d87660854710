"""One cgroup per sandboxed job: memory and process limits, CPU and memory accounting, and a
way to kill every process of the job wherever it forked to.

cgroup v2 is used when its tree offers the memory and pids controllers; otherwise the v1
hierarchies (memory, pids, cpuacct), as on hosts booted in hybrid mode like ours.
"""

from __future__ import annotations

import functools
import logging
import os
import signal
import time
import uuid
from abc import ABC, abstractmethod
from pathlib import Path

log = logging.getLogger(__name__)

CGROUP_ROOT = Path("/sys/fs/cgroup")
# Every job's cgroup lives under this group, in each hierarchy used.
PARENT = "collab-sandbox"
V1_CONTROLLERS = ("memory", "pids", "cpuacct")


class CgroupUnavailable(RuntimeError):
    """No cgroup hierarchy with memory and pids control is writable by this process."""


class JobCgroup(ABC):
    """The cgroup(s) of one job. Not shared: every job creates its own with `create()`."""

    def __init__(self, dirs: list[Path]) -> None:
        self.dirs = dirs
        self.procs_files = tuple(str(d / "cgroup.procs") for d in dirs)

    def join(self, pid: int | None = None) -> None:
        """Move a process (by default the calling one) into the job's cgroups; what it
        starts afterwards is in them too."""
        pid = os.getpid() if pid is None else pid
        for path in self.procs_files:
            _write(path, pid)

    def pids(self) -> set[int]:
        try:
            text = _read(Path(self.procs_files[0]))
        except FileNotFoundError:  # never created, or already removed
            return set()
        return {int(line) for line in text.split()}

    @abstractmethod
    def set_memory_limit(self, limit_bytes: int) -> None: ...

    @abstractmethod
    def set_max_pids(self, count: int) -> None: ...

    @abstractmethod
    def cpu_ns(self) -> int: ...

    @abstractmethod
    def memory_peak_bytes(self) -> int: ...

    @abstractmethod
    def reset_memory_peak(self) -> None: ...

    @abstractmethod
    def oom_kills(self) -> int: ...

    def kill_all(self) -> None:
        """SIGKILL every process now in the job; kill_until_empty() also catches new forks."""
        for pid in self.pids():
            self._kill_member(pid)

    def kill_until_empty(self, timeout: float = 5.0) -> bool:
        """Kill until no process is left; False if some survived `timeout` seconds."""
        deadline = time.monotonic() + timeout
        delay = 0.0002  # bubblewrap's init takes about half a millisecond to finish exiting
        while self.pids():
            if time.monotonic() > deadline:
                log.error("cgroup %s still has processes %s", self.dirs[0], sorted(self.pids()))
                return False
            self.kill_all()
            time.sleep(delay)
            delay = min(delay * 2, 0.01)
        return True

    def _kill_member(self, pid: int) -> None:
        # A pid read from cgroup.procs may die and be reused by an unrelated host process before
        # we signal it. A pidfd pins one process; we signal it only if it is still a member.
        try:
            pidfd = os.pidfd_open(pid)
        except ProcessLookupError:
            return
        try:
            if pid in self.pids():
                signal.pidfd_send_signal(pidfd, signal.SIGKILL)
        except ProcessLookupError:
            pass
        finally:
            os.close(pidfd)

    def remove(self) -> None:
        """Kill what is left and delete the cgroups (EBUSY for a moment while tasks exit)."""
        if not self.kill_until_empty():
            return  # leaking the cgroup beats hanging the worker
        for directory in self.dirs:
            _rmdir_retrying(directory)


class CgroupV1(JobCgroup):
    def __init__(self, dirs: list[Path]) -> None:
        super().__init__(dirs)
        self.memory, self.pids_dir, self.cpuacct = dirs

    def set_memory_limit(self, limit_bytes: int) -> None:
        # memsw (memory + swap) must stay >= memory: lower memory first, raise memsw first.
        files = ["memory.limit_in_bytes", "memory.memsw.limit_in_bytes"]
        if limit_bytes > int(_read(self.memory / files[0])):
            files.reverse()
        for name in files:
            if (self.memory / name).exists():  # memsw exists only with swap accounting
                _write(self.memory / name, limit_bytes)
        _write(self.memory / "memory.oom_control", 0)  # the kernel OOM-kills inside the job

    def set_max_pids(self, count: int) -> None:
        _write(self.pids_dir / "pids.max", count)

    def cpu_ns(self) -> int:
        return int(_read(self.cpuacct / "cpuacct.usage"))

    def memory_peak_bytes(self) -> int:
        return int(_read(self.memory / "memory.max_usage_in_bytes"))

    def reset_memory_peak(self) -> None:
        _write(self.memory / "memory.max_usage_in_bytes", 0)

    def oom_kills(self) -> int:
        fields = _fields(_read(self.memory / "memory.oom_control"))
        if "oom_kill" in fields:
            return fields["oom_kill"]
        # Kernels before 4.13 have no kill counter: hitting the limit is the closest sign.
        return int(_read(self.memory / "memory.failcnt"))


class CgroupV2(JobCgroup):
    def __init__(self, dirs: list[Path]) -> None:
        super().__init__(dirs)
        self.dir = dirs[0]

    def set_memory_limit(self, limit_bytes: int) -> None:
        _write(self.dir / "memory.max", limit_bytes)
        if (self.dir / "memory.swap.max").exists():
            _write(self.dir / "memory.swap.max", 0)

    def set_max_pids(self, count: int) -> None:
        _write(self.dir / "pids.max", count)

    def cpu_ns(self) -> int:
        return _fields(_read(self.dir / "cpu.stat"))["usage_usec"] * 1000

    def memory_peak_bytes(self) -> int:
        peak = self.dir / "memory.peak"  # kernel 5.19+
        return int(_read(peak if peak.exists() else self.dir / "memory.current"))

    def reset_memory_peak(self) -> None:
        pass  # v2 peaks cannot be reset through a plain write: the job's peak includes compiling

    def oom_kills(self) -> int:
        return _fields(_read(self.dir / "memory.events")).get("oom_kill", 0)

    def kill_all(self) -> None:
        kill_file = self.dir / "cgroup.kill"  # kernel 5.14+: kills atomically, forks included
        if kill_file.exists():
            _write(kill_file, 1)
        else:
            super().kill_all()


def create(memory_bytes: int, max_pids: int) -> JobCgroup:
    """A fresh cgroup for one job, with its limits set. Raises CgroupUnavailable."""
    version = backend()
    if version is None:
        raise CgroupUnavailable(
            "no writable cgroup hierarchy with memory and pids controllers "
            f"(v2 delegated tree or v1 {', '.join(V1_CONTROLLERS)} under {CGROUP_ROOT})"
        )
    if version == "v2":
        _enable_v2_controllers()
    # Named after the process that supervises the job: once it is gone, the group is stale.
    cgroup = _cgroup(version, f"{os.getpid()}-{uuid.uuid4().hex}")
    try:
        for directory in cgroup.dirs:
            directory.mkdir(parents=True)
        cgroup.set_memory_limit(memory_bytes)
        cgroup.set_max_pids(max_pids)
    except OSError:
        cgroup.remove()
        raise
    return cgroup


def remove_stale(older_than: float) -> int:
    """Remove empty job cgroups left by a worker that died mid-job; returns how many.

    Those whose supervising process (the pid in their name) is gone, and any older than
    `older_than` seconds (pass more than the longest job): a young, empty one of a live
    worker may belong to a job whose process has not joined it yet. Never kills anything: the
    processes of a dead worker's job died with it (bubblewrap's --die-with-parent).
    """
    version = backend()
    if version is None:
        return 0
    cutoff = time.time() - older_than
    parent = _cgroup(version, "").dirs[0]  # our parent group, in the first hierarchy
    if not parent.is_dir():
        return 0
    stale = [
        d.name
        for d in parent.iterdir()
        if d.is_dir() and (not _owner_alive(d.name) or d.stat().st_mtime < cutoff)
    ]
    removed = 0
    for name in stale:
        cgroup = _cgroup(version, name)
        if not cgroup.pids():
            removed += all(_rmdir_retrying(d, attempts=1) for d in cgroup.dirs)
    return removed


def _owner_alive(name: str) -> bool:
    """Whether the process that created the group `name` ("<pid>-<hex>") still runs; True
    when the name says nothing (older groups: only their age tells)."""
    owner, _, _ = name.partition("-")
    return not owner.isdigit() or Path(f"/proc/{owner}").exists()


@functools.cache
def backend() -> str | None:
    """Which cgroup layout this process can use: "v2", "v1" or None (probed once)."""
    if _v2_root() is not None:
        return "v2"
    if all(_writable_dir(CGROUP_ROOT / c) for c in V1_CONTROLLERS):
        return "v1"
    return None


def _cgroup(version: str, name: str) -> JobCgroup:
    if version == "v2":
        root = _v2_root()
        assert root is not None
        return CgroupV2([root / PARENT / name])
    return CgroupV1([CGROUP_ROOT / c / PARENT / name for c in V1_CONTROLLERS])


def _v2_root() -> Path | None:
    for root in (CGROUP_ROOT, CGROUP_ROOT / "unified"):
        controllers = root / "cgroup.controllers"
        if not (controllers.exists() and _writable_dir(root)):
            continue
        if {"memory", "pids"} <= set(_read(controllers).split()):
            return root
    return None


def _enable_v2_controllers() -> None:
    # A v2 cgroup gets only the controllers its parent enables for its subtree.
    root = _v2_root()
    assert root is not None
    (root / PARENT).mkdir(exist_ok=True)
    for directory in (root, root / PARENT):
        _write(directory / "cgroup.subtree_control", "+memory +pids")


def _rmdir_retrying(directory: Path, attempts: int = 100) -> bool:
    for _ in range(attempts):
        try:
            directory.rmdir()
            return True
        except FileNotFoundError:
            return True
        except OSError:
            time.sleep(0.01)
    log.error("could not remove cgroup %s", directory)
    return False


def _writable_dir(path: Path) -> bool:
    return path.is_dir() and os.access(path, os.W_OK)


def _read(path: Path) -> str:
    with open(path) as f:
        return f.read()


def _write(path: Path | str, value: object) -> None:
    # One write() per value: cgroup files act on each write call.
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, str(value).encode())
    finally:
        os.close(fd)


def _fields(text: str) -> dict[str, int]:
    """Parse 'key value' lines (memory.oom_control, memory.events, cpu.stat)."""
    pairs = (line.split() for line in text.splitlines())
    return {p[0]: int(p[1]) for p in pairs if len(p) == 2 and p[1].isdigit()}
