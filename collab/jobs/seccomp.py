"""The system-call filter every sandboxed job runs under, compiled to classic BPF by libseccomp.

A deny-list: the job may make any system call except those below, which reach kernel code that
no program of ours needs and that keeps giving local privilege escalations, or that would let a
job see beyond its box (kernel keyrings are not namespaced). A refused call fails with EPERM, so
programs report a clear error instead of dying; clone3 fails with ENOSYS, which makes glibc fall
back to clone, whose flags the filter can read (clone3 passes them in memory, out of its reach).
A call made through another ABI than the machine's own (i386's int 0x80 or x32 on x86_64) kills
the job: the filter's numbers are those of the native table only.

bubblewrap loads the program (`--seccomp FD`) as the last step before it executes the job's
command, so its own setup (mounts, namespaces) is not filtered; every process of the job is.
The program is compiled once per process; `program()` raises FilterUnavailable when libseccomp
is missing or does not know a call, and the sandbox then refuses to run anything.
"""

from __future__ import annotations

import errno
import functools
import os
import platform

# The filter is verified on these machines: there clone's flags are its first argument.
SUPPORTED_MACHINES = ("x86_64", "aarch64")

REFUSED = {
    # Keyrings are shared by every process of a uid across namespaces: one job could read or
    # plant keys of another, or of the worker.
    "keyrings": ("keyctl", "add_key", "request_key"),
    # Large kernel surfaces with a long record of privilege escalations; nothing here uses them.
    "io_uring": ("io_uring_setup", "io_uring_enter", "io_uring_register"),
    "kernel extension": ("bpf", "perf_event_open", "userfaultfd", "fanotify_init"),
    # Mounting is bubblewrap's job, done before the filter is loaded.
    "mounts": (
        "mount", "umount2", "pivot_root", "chroot", "move_mount", "open_tree", "fsopen",
        "fsconfig", "fsmount", "fspick", "mount_setattr",
    ),
    "namespaces": ("unshare", "setns"),
    # Reading or steering another process (even one inside the box: no debugger is offered).
    "other processes": (
        "ptrace", "process_vm_readv", "process_vm_writev", "process_madvise", "kcmp",
        "pidfd_getfd",
    ),
    # The machine's own state: kernel images and modules, swap, clocks, accounting, the log.
    "the machine": (
        "kexec_load", "kexec_file_load", "reboot", "init_module", "finit_module",
        "delete_module", "swapon", "swapoff", "acct", "quotactl", "quotactl_fd", "syslog",
        "settimeofday", "clock_settime", "adjtimex", "clock_adjtime", "sethostname",
        "setdomainname", "vhangup", "iopl", "ioperm", "modify_ldt", "lookup_dcookie",
        "nfsservctl", "uselib", "ustat", "sysfs", "_sysctl",
    ),
    # Opening files by handle walks around the mount tree (the "shocker" container escape).
    "file handles": ("name_to_handle_at", "open_by_handle_at"),
}  # fmt: skip
NAMESPACE_FLAGS = {
    "CLONE_NEWNS": 0x00020000,
    "CLONE_NEWCGROUP": 0x02000000,
    "CLONE_NEWUTS": 0x04000000,
    "CLONE_NEWIPC": 0x08000000,
    "CLONE_NEWUSER": 0x10000000,
    "CLONE_NEWPID": 0x20000000,
    "CLONE_NEWNET": 0x40000000,
}
# personality() flags that switch off address-space randomisation or memory protections.
WEAKENING_PERSONAS = {
    "ADDR_NO_RANDOMIZE": 0x0040000,
    "FDPIC_FUNCPTRS": 0x0080000,
    "MMAP_PAGE_ZERO": 0x0100000,
    "ADDR_COMPAT_LAYOUT": 0x0200000,
    "READ_IMPLIES_EXEC": 0x0400000,
    "ADDR_LIMIT_32BIT": 0x0800000,
    "ADDR_LIMIT_3GB": 0x8000000,
}
PERSONALITY_QUERY = 0xFFFFFFFF  # reads the persona, changes nothing: allowed
HIGH_BIT = 0x80000000


class FilterUnavailable(RuntimeError):
    """The filter cannot be built here: no job may run."""


def program() -> bytes:
    """The compiled BPF program, for bubblewrap's --seccomp (built once per process)."""
    try:
        return _compiled()
    except (ImportError, RuntimeError, OSError) as exc:  # pyseccomp: no or unusable libseccomp
        raise FilterUnavailable(f"cannot build the seccomp filter: {exc}") from exc


@functools.cache
def _compiled() -> bytes:
    if platform.machine() not in SUPPORTED_MACHINES:
        raise RuntimeError(f"the filter is not verified on {platform.machine()}")
    return _export(build())


def build(machine: str | None = None):
    """The filter as a libseccomp object, for this machine's architecture or for `machine`
    (one of SUPPORTED_MACHINES: tests check another architecture's filter this way)."""
    import pyseccomp as seccomp  # loads libseccomp: only when a sandbox is wanted

    rules = seccomp.SyscallFilter(seccomp.ALLOW)
    rules.set_attr(seccomp.Attr.ACT_BADARCH, seccomp.KILL_PROCESS)
    if machine is not None and machine != platform.machine():
        # Rules name calls by their native numbers; libseccomp translates them for the
        # filter's architecture and leaves out those it does not have.
        rules.remove_arch(seccomp.Arch.NATIVE)
        rules.add_arch({"x86_64": seccomp.Arch.X86_64, "aarch64": seccomp.Arch.AARCH64}[machine])
    _deny_all(rules, seccomp)
    _deny_namespaced_clones(rules, seccomp)
    _deny_weakening_personas(rules, seccomp)
    return rules


def _deny_all(rules, seccomp) -> None:
    denied = seccomp.ERRNO(errno.EPERM)
    for name in (name for names in REFUSED.values() for name in names):
        rules.add_rule(denied, _number(seccomp, name))
    rules.add_rule(seccomp.ERRNO(errno.ENOSYS), _number(seccomp, "clone3"))


def _deny_namespaced_clones(rules, seccomp) -> None:
    # One rule per flag: libseccomp ORs the rules of a call, and a flag set means "refuse".
    for flag in NAMESPACE_FLAGS.values():
        has_flag = seccomp.Arg(0, seccomp.MASKED_EQ, flag, flag)
        rules.add_rule(seccomp.ERRNO(errno.EPERM), _number(seccomp, "clone"), has_flag)


def _deny_weakening_personas(rules, seccomp) -> None:
    """Refuse any persona with a weakening flag, except the query (all 32 bits set).

    libseccomp compares an argument once per rule, so "not the query" is spelt with the high
    bit, which no persona uses: a weakening flag without the high bit, or the high bit with
    any other bit clear.
    """
    number, denied = _number(seccomp, "personality"), seccomp.ERRNO(errno.EPERM)
    for flag in WEAKENING_PERSONAS.values():
        rules.add_rule(denied, number, seccomp.Arg(0, seccomp.MASKED_EQ, flag | HIGH_BIT, flag))
    for bit in range(31):
        mask = HIGH_BIT | 1 << bit
        rules.add_rule(denied, number, seccomp.Arg(0, seccomp.MASKED_EQ, mask, HIGH_BIT))


def _number(seccomp, name: str) -> int:
    """The call's number on this machine (negative for one it does not have: a no-op rule)."""
    number = seccomp.resolve_syscall(seccomp.Arch.NATIVE, name)
    if number == -1:  # __NR_SCMP_ERROR: this libseccomp is older than the call
        raise RuntimeError(f"libseccomp does not know the system call {name}: upgrade it")
    return number


def _export(rules) -> bytes:
    fd = os.memfd_create("seccomp", os.MFD_CLOEXEC)
    with os.fdopen(fd, "w+b") as exported:
        rules.export_bpf(exported)
        exported.seek(0)
        return exported.read()
