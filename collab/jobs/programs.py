"""Compile once, run many times: the sandbox variants behind test cases (testcases.py) and
interactive jobs (interactive.py).

- `build(language, code)`: for c/cpp, one sandbox compiles the code and writes the binary to a
  pipe that the supervisor reads back (the host never opens a path the job could replace);
  the binary is a `Program`. For interpreted languages the program is the source itself.
- `run(program, stdin, ...)`: a fresh sandbox per run. The binary goes in as a sealed memfd,
  bound read-only and executable at /box/@main, exactly as a source file is: one run's writes
  (to /box, /tmp, /dev/shm: tmpfs of that sandbox) never reach the next, whose tmpfs are new.
"""

from __future__ import annotations

import shlex
import threading
from dataclasses import dataclass, replace

from collab.jobs import languages, sandbox
from collab.jobs.languages import Language
from collab.jobs.sandbox import COMPILE, Limits, Outcome, OutputCallback, Result

BINARY_NAME = languages.BINARY.rsplit("/", 1)[-1]
# The compiler may write at most COMPILE.file_size_mb: a larger artifact is not a program.
MAX_BINARY_BYTES = COMPILE.file_size_mb * sandbox.MB

# The compiler's messages go to stdout (compile_output), the binary to its own pipe.
_BUILD_SCRIPT = """\
{compile} </dev/null 2>&1 {binary}>&- || exit 1
exec /usr/bin/cat {path} >&{binary} {binary}>&-
"""


@dataclass(frozen=True)
class Program:
    """What a run executes: the source of an interpreted language, or a compiled binary."""

    language: Language  # as run: a built program's language has no compile step any more
    sources: dict[str, bytes]  # by path under /box: the files (and a built program's "@main")
    built: bool = False  # a binary from `build`, run as /box/@main

    @property
    def runtime(self) -> str:
        return self.language.version


class _BuildJob(sandbox._Job):
    """Compiles only: succeeds with the binary read back from its pipe."""

    def _compile_and_run(self, numbered: list[int]) -> list[str]:
        binary_w = self._pipe_from_child("binary", MAX_BINARY_BYTES + 1)
        numbered.append(binary_w)
        script = _BUILD_SCRIPT.format(
            compile=shlex.join(self.lang.compile or ()), binary=binary_w, path=languages.BINARY
        )
        return ["/usr/bin/bash", "-c", script]

    def binary(self) -> bytes | None:
        stream = self.streams["binary"]
        return None if stream.truncated or not stream.data else bytes(stream.data)

    def _outcome(self, oom: bool) -> Outcome:
        outcome = super()._outcome(oom)
        if outcome == Outcome.COMPILATION_ERROR and self.returncode == 0 and self.binary():
            return Outcome.SUCCESS
        return outcome

    def _compile_output(self, oom: bool) -> str:
        self.streams["compile"] = self.streams["stdout"]  # where the script sent the messages
        return super()._compile_output(oom)


class _RunJob(sandbox._Job):
    """Runs a built binary: it is the "source", bound executable at /box/@main."""

    def _bwrap(self, bwrap: str, box) -> list[str]:
        return sandbox._bwrap_argv(bwrap, box, executable=True)


def build(
    language: str, code: str | sandbox.Files, cancel: threading.Event | None = None
) -> tuple[Program | None, Result | None]:
    """(the program, None), or (None, the failed build's result: compilation_error,
    cancelled). `code`: one source file, or a workspace run's files. Raises ValueError for
    an unavailable language, SandboxUnavailable."""
    lang = languages.get(language)
    if lang is None:
        raise ValueError(f"language {language!r} is not available")
    lang, sources = sandbox.sources_of(lang, code)
    if not lang.compiled:
        return Program(lang, sources), None
    job = _BuildJob(lang, COMPILE, None, cancel or threading.Event())
    result = sandbox.execute(job, sources, b"")
    binary = job.binary()
    if result.outcome != Outcome.SUCCESS or binary is None:
        return None, result
    built = replace(lang, compile=None, source_file=BINARY_NAME, run=(languages.BINARY,))
    # The files stay beside the binary: a program reading one of them (a data file of the
    # workspace) reads it in every test as in a plain run.
    return Program(built, {**sources, BINARY_NAME: binary}, built=True), None


def run(
    program: Program,
    stdin: bytes,
    limits: Limits,
    on_output: OutputCallback | None = None,
    cancel: threading.Event | None = None,
) -> Result:
    """Run `program` once in a fresh sandbox with `limits` (clamped here)."""
    job_class = _RunJob if program.built else sandbox._Job
    job = job_class(program.language, limits.clamped(), on_output, cancel or threading.Event())
    return sandbox.execute(job, program.sources, stdin)
