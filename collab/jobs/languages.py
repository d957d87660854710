"""The languages this machine can run, detected once per process.

Every toolchain must live under /usr: the sandbox mounts nothing else from the host.
"""

from __future__ import annotations

import functools
import logging
import os
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, replace

log = logging.getLogger(__name__)

# The program a compiled language produces; it is written inside the box and never read by the host.
# '@' is in no valid document path (collab/documents/paths.py): no file of a workspace run can
# take its place (a document named `main` is /box/main).
BINARY = "/box/@main"


@dataclass(frozen=True)
class Language:
    name: str
    version: str
    source_file: str
    run: tuple[str, ...]
    compile: tuple[str, ...] | None = None
    hello: str = ""  # a program that prints "ok": the worker's start-up probe

    @property
    def compiled(self) -> bool:
        return self.compile is not None


@dataclass(frozen=True)
class _Spec:
    name: str
    binary: str
    version_argv: tuple[str, ...]
    version_format: Callable[[str], str]
    source_file: str
    run: tuple[str, ...]
    compile: tuple[str, ...] | None = None
    hello: str = ""


_SPECS = (
    _Spec(
        "python",
        "/usr/bin/python3",
        ("--version",),
        str,  # "Python 3.11.2"
        "main.py",
        # -u: unbuffered, so output streams to the client as the program prints it.
        ("/usr/bin/python3", "-u", "main.py"),
        hello='print("ok")',
    ),
    _Spec(
        "javascript",
        "/usr/bin/node",
        ("--version",),
        "Node.js {}".format,
        "main.js",
        ("/usr/bin/node", "main.js"),
        hello='console.log("ok")',
    ),
    _Spec(
        "bash",
        "/usr/bin/bash",
        ("-c", "echo $BASH_VERSION"),
        "GNU Bash {}".format,
        "main.sh",
        ("/usr/bin/bash", "main.sh"),
        hello="echo ok",
    ),
    _Spec(
        "c",
        "/usr/bin/gcc",
        ("-dumpfullversion",),
        "GCC {}".format,
        "main.c",
        (BINARY,),
        ("/usr/bin/gcc", "-O2", "-pipe", "-std=gnu17", "-o", BINARY, "main.c", "-lm"),
        hello='#include <stdio.h>\nint main(void) { puts("ok"); return 0; }\n',
    ),
    _Spec(
        "cpp",
        "/usr/bin/g++",
        ("-dumpfullversion",),
        "G++ {}".format,
        "main.cpp",
        (BINARY,),
        ("/usr/bin/g++", "-O2", "-pipe", "-std=gnu++17", "-o", BINARY, "main.cpp"),
        hello='#include <iostream>\nint main() { std::cout << "ok" << std::endl; }\n',
    ),
)

# Every language the product knows, installed or not (each has a feature flag).
NAMES = tuple(spec.name for spec in _SPECS)


def available() -> list[Language]:
    """Languages whose toolchain is installed, with their versions (detected once per process).
    Whether the sandbox runs them is for the worker's start-up probe (workers.py) to say."""
    return list(_detected())


def get(name: str) -> Language | None:
    return next((lang for lang in _detected() if lang.name == name), None)


@functools.cache
def _detected() -> tuple[Language, ...]:
    found = tuple(lang for spec in _SPECS if (lang := _detect(spec)) is not None)
    log.info(
        "languages available: %s", ", ".join(f"{lang.name} ({lang.version})" for lang in found)
    )
    return found


def _detect(spec: _Spec) -> Language | None:
    if not os.access(spec.binary, os.X_OK):
        return None
    version = _version(spec)
    if version is None:
        return None
    return Language(
        spec.name,
        spec.version_format(version),
        spec.source_file,
        spec.run,
        spec.compile,
        spec.hello,
    )


def _version(spec: _Spec) -> str | None:
    try:
        done = subprocess.run(
            [spec.binary, *spec.version_argv],
            capture_output=True,
            text=True,
            timeout=10,
            env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"},  # the worker's secrets stay here
            check=True,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        log.warning("%s found but unusable: %s", spec.binary, exc)
        return None
    lines = (done.stdout or done.stderr).strip().splitlines()
    return lines[0] if lines else None


# A workspace run: the language of its entry file, and which files a compiler takes.
EXTENSIONS = {".py": "python", ".js": "javascript", ".sh": "bash", ".c": "c"}
EXTENSIONS |= {".cpp": "cpp", ".cc": "cpp"}
TRANSLATION_UNITS = {"c": (".c",), "cpp": (".cpp", ".cc")}


def language_of(path: str) -> str | None:
    """The language a file runs as, by its extension (None if no language has it)."""
    return next((name for ext, name in EXTENSIONS.items() if path.endswith(ext)), None)


def for_files(lang: Language, entry: str, paths: list[str]) -> Language:
    """`lang` running a set of files: the entry in place of the single source file, and for
    c/cpp every translation unit compiled together (headers are found next to them)."""
    units = [p for p in sorted(paths) if p.endswith(TRANSLATION_UNITS.get(lang.name, ()))]
    if entry not in units:
        units.insert(0, entry)

    def swapped(argv: tuple[str, ...], sources: list[str]) -> tuple[str, ...]:
        return tuple(arg for a in argv for arg in (sources if a == lang.source_file else [a]))

    compile_argv = None
    if lang.compile is not None:
        compile_argv = swapped(lang.compile, ["-iquote", ".", *units])
    return replace(lang, source_file=entry, run=swapped(lang.run, [entry]), compile=compile_argv)
