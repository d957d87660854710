"""The sandbox's syscall filter and kernel keyrings, probed from inside the real sandbox.

One C program, compiled and run in the sandbox like any user's, calls every system call the
filter must refuse, by its number from the C library's <sys/syscall.h> (so the numbers are the
machine's own, x86_64 or aarch64, and not taken from the filter's source). Where the kernel
would refuse a call anyway (no capabilities), the arguments are chosen so that the kernel, had it
looked, would have answered something else than EPERM (EFAULT, EBADF, EINVAL, success...): the
answer EPERM then comes from the filter. The unfiltered answers, measured here before the
filter existed, are in UNFILTERED.
"""

from __future__ import annotations

import ctypes
import os
import platform
import subprocess
import threading
import uuid
from textwrap import dedent

import pytest

from collab.jobs import sandbox, seccomp
from collab.jobs.sandbox import Outcome
from tests.test_sandbox import SANDBOX_USABLE, healthy_afterwards, run  # noqa: F401

pytestmark = pytest.mark.skipif(
    not SANDBOX_USABLE and not os.environ.get("COLLAB_REQUIRE_SANDBOX"),
    reason="needs root, writable cgroups and bubblewrap",
)

# name -> the C call that probes it. Every pointer argument is bad or NULL: nothing is done even
# where the kernel gets to look at the call.
BAD = "(void *)1"
CALLS = {
    "keyctl": "syscall(SYS_keyctl, 0 /* GET_KEYRING_ID */, -3 /* session */, 0)",
    "add_key": 'syscall(SYS_add_key, "user", "collab-probe", "x", 1, -2 /* process */)',
    "request_key": 'syscall(SYS_request_key, "user", "collab-none", NULL, 0)',
    "io_uring_setup": "syscall(SYS_io_uring_setup, 1, &uring_params)",
    "io_uring_enter": "syscall(SYS_io_uring_enter, -1, 0, 0, 0, NULL, 0)",
    "io_uring_register": "syscall(SYS_io_uring_register, -1, 0, NULL, 0)",
    "bpf": "syscall(SYS_bpf, 0 /* MAP_CREATE */, NULL, 0)",
    "userfaultfd": "syscall(SYS_userfaultfd, 1 /* UFFD_USER_MODE_ONLY */)",
    "perf_event_open": f"syscall(SYS_perf_event_open, {BAD}, 0, -1, -1, 0)",
    "kexec_load": "syscall(SYS_kexec_load, 0, 0, NULL, 0)",
    "kexec_file_load": "syscall(SYS_kexec_file_load, -1, -1, 0, NULL, 0)",
    "mount": f"syscall(SYS_mount, {BAD}, {BAD}, {BAD}, 0, NULL)",
    "umount2": 'syscall(SYS_umount2, "/nonexistent", 0)',
    "pivot_root": 'syscall(SYS_pivot_root, "/nonexistent", "/nonexistent")',
    "move_mount": 'syscall(SYS_move_mount, -1, "", -1, "", -1)',
    "open_tree": 'syscall(SYS_open_tree, -1, "", -1)',
    "fsopen": 'syscall(SYS_fsopen, "tmpfs", 0)',
    "fsconfig": "syscall(SYS_fsconfig, -1, 0, NULL, NULL, 0)",
    "fsmount": "syscall(SYS_fsmount, -1, 0, 0)",
    "fspick": 'syscall(SYS_fspick, -1, "", 0)',
    "mount_setattr": 'syscall(SYS_mount_setattr, -1, "", -1, NULL, 0)',
    "unshare": "syscall(SYS_unshare, 0x10000000 /* CLONE_NEWUSER */)",
    "setns": "syscall(SYS_setns, -1, 0)",
    "ptrace": "syscall(SYS_ptrace, 3 /* PEEKUSER */, getpid(), 0, 0)",
    "process_vm_readv": "syscall(SYS_process_vm_readv, getpid(), NULL, 0, NULL, 0, 0)",
    "process_vm_writev": "syscall(SYS_process_vm_writev, getpid(), NULL, 0, NULL, 0, 0)",
    "kcmp": "syscall(SYS_kcmp, getpid(), getpid(), 0 /* KCMP_FILE */, 0, 0)",
    "pidfd_getfd": "syscall(SYS_pidfd_getfd, -1, 0, 0)",
    "init_module": 'syscall(SYS_init_module, NULL, 0, "")',
    "finit_module": 'syscall(SYS_finit_module, -1, "", 0)',
    "delete_module": 'syscall(SYS_delete_module, "collab_none", 0)',
    "swapon": 'syscall(SYS_swapon, "/nonexistent", 0)',
    "swapoff": 'syscall(SYS_swapoff, "/nonexistent")',
    "reboot": "syscall(SYS_reboot, 0, 0, 0, NULL)",
    "acct": f"syscall(SYS_acct, {BAD})",
    "quotactl": "syscall(SYS_quotactl, 0, NULL, 0, NULL)",
    "name_to_handle_at": 'syscall(SYS_name_to_handle_at, AT_FDCWD, "/", NULL, NULL, 0)',
    "open_by_handle_at": "syscall(SYS_open_by_handle_at, -1, NULL, 0)",
    "syslog": "syscall(SYS_syslog, 10 /* SIZE_BUFFER */, NULL, 0)",
    "settimeofday": f"syscall(SYS_settimeofday, {BAD}, NULL)",
    "clock_settime": f"syscall(SYS_clock_settime, 0, {BAD})",
    "adjtimex": f"syscall(SYS_adjtimex, {BAD})",
    "clock_adjtime": f"syscall(SYS_clock_adjtime, 0, {BAD})",
    "personality": "syscall(SYS_personality, 0x0040000 /* ADDR_NO_RANDOMIZE */)",
    "personality_high_bit": "syscall(SYS_personality, 0x80040000)",
    "clone3": "syscall(SYS_clone3, NULL, 0)",
    **{
        f"clone_{flag.lower()}": f"clone_with(CLONE_{flag})"
        for flag in ("NEWNS", "NEWUTS", "NEWIPC", "NEWUSER", "NEWPID", "NEWNET", "NEWCGROUP")
    },
}
# The calls the kernel refused with EPERM in this sandbox before the filter existed (bubblewrap
# 0.11, kernel 6.18: no capabilities); every other call was run by the kernel (it answered ok,
# EFAULT, EBADF, EINVAL, ENOSPC...). For these the filter keeps the kernel's code out of reach,
# but their tests pass without it too.
REFUSED_BEFORE_THE_FILTER = {
    "pivot_root", "move_mount", "fsopen", "fsmount", "fspick", "swapon", "swapoff", "reboot",
    "acct", "syslog", *(f"clone_new{ns}" for ns in ("ns", "uts", "ipc", "pid", "net", "cgroup")),
}  # fmt: skip
# What the filter must answer: EPERM, and ENOSYS for clone3 (glibc then falls back to clone).
DENIED = {name: "ENOSYS" if name == "clone3" else "EPERM" for name in CALLS}
ALLOWED = {
    "personality_query": "syscall(SYS_personality, 0xffffffff)",
    "personality_linux": "syscall(SYS_personality, 0 /* PER_LINUX */)",
    "clone_plain": "clone_with(0)",
    "clone_sharing_files": "clone_with(CLONE_FILES | CLONE_FS)",
    "getpid": "syscall(SYS_getpid)",
}  # fmt: skip

PROBE = """
    #define _GNU_SOURCE
    #include <errno.h>
    #include <fcntl.h>
    #include <sched.h>
    #include <signal.h>
    #include <stdio.h>
    #include <stdlib.h>
    #include <string.h>
    #include <sys/syscall.h>
    #include <unistd.h>

    static long uring_params[32];  /* struct io_uring_params, zeroed */

    /* clone(flags | SIGCHLD) like fork; a child the kernel let through leaves at once. */
    static long clone_with(long flags) {
        long rc = syscall(SYS_clone, flags | SIGCHLD, 0, 0, 0, 0);
        if (rc == 0) _exit(0);
        return rc;
    }

    static void report(const char *name, long rc) {
        printf("%s %s\\n", name, rc == -1 ? strerrorname_np(errno) : "ok");
        fflush(stdout);
    }

    int main(void) {
    CALLS
        char status[4096] = {0};
        FILE *f = fopen("/proc/self/status", "r");
        fread(status, 1, sizeof status - 1, f);
        char *line = strstr(status, "Seccomp:");
        printf("status %.*s\\n", (int)strcspn(line, "\\n"), line);
        return 0;
    }
"""


def probe_source(calls: dict[str, str]) -> str:
    lines = "\n".join(f'    report("{name}", {call});' for name, call in calls.items())
    return dedent(PROBE).replace("CALLS", lines.strip())


@pytest.fixture(scope="module")
def answers() -> dict[str, str]:
    """name -> "ok" or the errno name, as the program in the sandbox saw each call."""
    result = sandbox.run("c", probe_source({**CALLS, **ALLOWED}))
    assert result.outcome == Outcome.SUCCESS, result
    return dict(line.split(" ", 1) for line in result.stdout.decode().splitlines())


def test_the_job_runs_under_a_seccomp_filter(answers):
    assert answers["status"] == "Seccomp:\t2"


@pytest.mark.parametrize("name", sorted(CALLS))
def test_a_dangerous_syscall_is_refused(answers, name):
    assert answers[name] == DENIED[name]


@pytest.mark.parametrize("name", sorted(ALLOWED))
def test_what_programs_need_still_works(answers, name):
    assert answers[name] == "ok"


# Foreign system call ABIs: a filter for x86_64 numbers must not be bypassed by another table.

I386_GETPID = """
    #include <stdio.h>
    int main(void) {
        long rc;
        __asm__ volatile ("int $0x80" : "=a"(rc) : "a"(20L));  /* i386 getpid */
        printf("%ld\\n", rc);
        return 0;
    }
"""
X32_GETPID = """
    #define _GNU_SOURCE
    #include <stdio.h>
    #include <unistd.h>
    int main(void) { printf("%ld\\n", syscall(0x40000000L | 39)); return 0; }  /* x32 getpid */
"""


@pytest.mark.skipif(platform.machine() != "x86_64", reason="x86_64's 32-bit ABIs")
@pytest.mark.parametrize("code", [I386_GETPID, X32_GETPID], ids=["i386", "x32"])
def test_a_foreign_syscall_abi_kills_the_job(code):
    result = run("c", code)
    assert (result.outcome, result.signal, result.stdout) == (
        Outcome.RUNTIME_ERROR,
        "SIGSYS",
        b"",
    )


# Kernel keyrings are not namespaced: jobs, and the worker, must not share any.

ADD_KEY = """
    #define _GNU_SOURCE
    #include <errno.h>
    #include <stdio.h>
    #include <string.h>
    #include <sys/syscall.h>
    #include <unistd.h>
    int main(void) {
        long id = syscall(SYS_add_key, "user", "DESCRIPTION", "secret", 6, -3 /* session */);
        printf("%s\\n", id == -1 ? strerrorname_np(errno) : "added");
        fflush(stdout);
        pause();
        return 0;
    }
"""
LIST_KEYS = "cat /proc/keys /proc/key-users"


def test_a_job_sees_no_key_of_a_job_running_beside_it():
    canary = f"collab-canary-{uuid.uuid4().hex[:12]}"
    reported, stop = threading.Event(), threading.Event()
    adder: dict = {}

    def add_a_key_and_wait() -> None:
        code = ADD_KEY.replace("DESCRIPTION", canary)
        adder["result"] = run("c", code, on_output=lambda *_: reported.set(), cancel=stop)

    thread = threading.Thread(target=add_a_key_and_wait)
    thread.start()
    try:
        assert reported.wait(20)
        lister = run("bash", LIST_KEYS)
    finally:
        stop.set()
        thread.join()
    assert canary.encode() not in lister.stdout
    assert (lister.outcome, lister.stdout) == (Outcome.SUCCESS, b"")
    assert adder["result"].stdout == b"EPERM\n"


# add_key and keyctl(KEYCTL_JOIN_SESSION_KEYRING) by number, for a host process.
KEY_SYSCALLS = {"x86_64": (248, 250), "aarch64": (217, 219)}
HOLD_A_KEY = """
import ctypes, sys, time
libc = ctypes.CDLL(None, use_errno=True)
add_key, keyctl = {numbers}
libc.syscall(keyctl, 1, None)  # a session keyring of its own
key = libc.syscall(add_key, b"user", b"{canary}", b"secret", 6, -3)
print("held" if key > 0 else ctypes.get_errno(), flush=True)
time.sleep(60)
"""


@pytest.mark.skipif(platform.machine() not in KEY_SYSCALLS, reason="syscall numbers unknown")
def test_a_job_sees_no_key_of_host_processes_with_its_uid():
    canary = f"collab-canary-{uuid.uuid4().hex[:12]}"
    code = HOLD_A_KEY.format(numbers=KEY_SYSCALLS[platform.machine()], canary=canary)
    holder = subprocess.Popen(
        [sandbox.SETPRIV, "--reuid=65534", "--regid=65534", "--clear-groups",
         "/usr/bin/python3", "-c", code],
        stdout=subprocess.PIPE,
    )  # fmt: skip
    try:
        assert holder.stdout.readline() == b"held\n"
        lister = run("bash", LIST_KEYS)
    finally:
        holder.kill()
        holder.wait()
    assert canary.encode() not in lister.stdout
    assert lister.stdout == b""


KEY_SPEC_SESSION_KEYRING = -3
KEYCTL_GET_KEYRING_ID = 0


def session_keyring() -> int:
    libc = ctypes.CDLL(None, use_errno=True)
    number = KEY_SYSCALLS[platform.machine()][1]
    return libc.syscall(number, KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 1)


@pytest.mark.skipif(platform.machine() not in KEY_SYSCALLS, reason="syscall numbers unknown")
def test_the_job_process_leaves_the_workers_session_keyring():
    """What the sandbox's pre-exec step does in the job's process, before setpriv and bwrap."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: only the step under test, then its answer
        try:
            sandbox.join_fresh_session_keyring()
            os.write(write_end, str(session_keyring()).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    child = int(os.read(read_end, 64) or 0)
    os.close(read_end)
    os.waitpid(pid, 0)
    assert child > 0 and child != session_keyring()


# What the languages need still works: threads (glibc tries clone3 first) and child processes.

SPAWNING = {
    "python": """
        import subprocess, threading
        thread = threading.Thread(target=print, args=("thread",))
        thread.start()
        thread.join()
        print(subprocess.run(["echo", "child"], capture_output=True, text=True).stdout, end="")
    """,
    "javascript": """
        const { Worker } = require("worker_threads");
        const code = "require('worker_threads').parentPort.postMessage('thread')";
        new Worker(code, { eval: true }).on("message", (message) => {
          console.log(message);
          require("child_process").execFileSync("echo", ["child"], { stdio: "inherit" });
          process.exit(0);
        });
    """,
    "bash": "echo thread\n( echo child )",
    "c": """
        #include <pthread.h>
        #include <stdio.h>
        #include <stdlib.h>
        static void *say(void *word) { puts(word); return NULL; }
        int main(void) {
            pthread_t thread;
            pthread_create(&thread, NULL, say, "thread");
            pthread_join(thread, NULL);
            fflush(stdout);
            return system("echo child");
        }
    """,
}


@pytest.mark.parametrize("language", sorted(SPAWNING))
def test_threads_and_child_processes_still_work(language):
    result = run(language, SPAWNING[language])
    assert (result.outcome, result.stdout) == (Outcome.SUCCESS, b"thread\nchild\n"), result


# The other supported architecture, checked from here: its filter as libseccomp wrote it.

SYSCALLS = {name for name in CALLS if not name.startswith(("clone_", "personality_"))}


@pytest.mark.parametrize("machine", seccomp.SUPPORTED_MACHINES)
def test_every_architectures_filter_refuses_the_same_calls(machine, tmp_path):
    import pyseccomp

    arch = {"x86_64": pyseccomp.Arch.X86_64, "aarch64": pyseccomp.Arch.AARCH64}[machine]
    listing = tmp_path / "filter.pfc"
    with open(listing, "w") as out:
        seccomp.build(machine).export_pfc(out)
    text = listing.read_text()
    assert f"filter for arch {machine}" in text
    assert "invalid architecture action\naction KILL_PROCESS" in text
    for name in sorted(SYSCALLS):
        number = pyseccomp.resolve_syscall(arch, name)
        if number >= 0:  # a call the architecture has
            assert f'filter for syscall "{name}" ({number})' in text, name
    assert "action ERRNO(38);" in rules_of(text, "clone3")  # ENOSYS
    for flag in seccomp.NAMESPACE_FLAGS.values():
        assert f"& 0x{flag:08x} == {flag}" in rules_of(text, "clone")


def rules_of(listing: str, name: str) -> str:
    """The part of a PFC listing that filters one system call."""
    start = listing.index(f'filter for syscall "{name}" (')
    end = listing.find("filter for syscall", start + 1)
    return listing[start : end if end > 0 else None]
