"""deploy/container/Dockerfile: Docker cannot run here, so this checks what can drift — the runtime
stage's Debian packages and copied Swift runtime libraries against what `ldd` resolves for the built
Warden binary (mapped to packages with `dpkg -S`), and the build stage against the Makefile's packages."""
from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from harness.kustomize import REPO_ROOT

DOCKERFILE = REPO_ROOT / "deploy" / "container" / "Dockerfile"
# Packages the runtime image gets for reasons other than a linked library.
NON_LIBRARY_PACKAGES = {"ca-certificates"}
BASE_PACKAGES = {"libc6"}  # glibc is the image's own base


def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    lines, current = [], ""
    for raw in DOCKERFILE.read_text().splitlines():
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        current += stripped
        instruction, _, rest = current.partition(" ")
        lines.append((instruction.upper(), rest.strip()))
        current = ""
    return lines


def _stages() -> list[list[tuple[str, str]]]:
    stages: list[list[tuple[str, str]]] = []
    for instruction, rest in _instructions():
        if instruction == "FROM":
            stages.append([])
        if stages:
            stages[-1].append((instruction, rest))
    return stages


def _apt_packages(stage) -> list[str]:
    packages = []
    for instruction, rest in stage:
        if instruction != "RUN":
            continue
        for command in rest.split("&&"):
            words = shlex.split(command)
            if "apt-get" in words and "install" in words:
                packages += [w for w in words[words.index("install") + 1:] if not w.startswith("-")]
    return packages


def _copied_swift_libs(stage) -> set[str]:
    libs = set()
    for instruction, rest in stage:
        if instruction == "RUN" and "/usr/lib/swift/linux" in rest:
            libs |= set(re.findall(r"\b(lib[\w+-]*\.so)\b", rest))
    return libs


def _args() -> dict[str, str]:
    return dict(rest.split("=", 1) for instruction, rest in _instructions() if instruction == "ARG" and "=" in rest)


def test_two_stages_swift_builder_debian_slim_runtime():
    build, runtime = _stages()
    args = _args()
    assert re.fullmatch(r"swift:6\.\d+-bookworm", args["SWIFT_IMAGE"])
    assert args["RUNTIME_IMAGE"] == "debian:bookworm-slim"
    assert build[0][1] == "${SWIFT_IMAGE} AS build" and runtime[0][1] == "${RUNTIME_IMAGE}"
    runtime_instructions = [i for i, _ in runtime]
    assert "COPY" in runtime_instructions and not any("swift build" in r for i, r in runtime if i == "RUN")


def test_runtime_runs_warden_serve_as_a_non_root_user():
    _, runtime = _stages()
    user = [rest for instruction, rest in runtime if instruction == "USER"]
    assert user and user[-1].split(":")[0] not in ("0", "root")
    entrypoint = [rest for instruction, rest in runtime if instruction == "ENTRYPOINT"]
    assert entrypoint == ['["/usr/local/bin/warden", "serve"]']
    cmd = [rest for instruction, rest in runtime if instruction == "CMD"][-1]
    for flag in ("--listen", "--admin-listen", "--policy", "--cache-dir"):
        assert f'"{flag}"' in cmd


def test_build_stage_installs_the_makefiles_development_packages():
    makefile = (REPO_ROOT / "Makefile").read_text()
    match = re.search(r"^APT_PACKAGES\s*:=\s*((?:.*\\\n)*.*)$", makefile, re.M)
    wanted = {p for p in match[1].replace("\\", " ").split() if p.endswith("-dev") or p == "pkg-config"}
    build, _ = _stages()
    assert wanted <= set(_apt_packages(build))


# -- against the built binary ---------------------------------------------------------------------------------
def _binary() -> Path:
    path = os.environ.get("WARDEN_BIN") or str(REPO_ROOT / ".build" / "release" / "warden")
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        pytest.skip(f"no built warden binary ({path}); build it: swift build -c release --product warden")
    for tool in ("ldd", "dpkg", "dpkg-query"):
        if not shutil.which(tool):
            pytest.skip(f"{tool} not available")
    return Path(path)


def _resolved_libraries(binary: Path) -> dict[str, Path]:
    """soname → resolved path, for every library ldd loads (transitively)."""
    out = subprocess.run(["ldd", str(binary)], capture_output=True, text=True, timeout=30, check=True).stdout
    libs = {}
    for line in out.splitlines():
        match = re.match(r"\s*(\S+) => (\S+) \(", line)
        if match:
            assert match[2] != "not", f"unresolved library: {line.strip()}"
            libs[match[1]] = Path(match[2])
    return libs


def _needed(binary: Path) -> set[str]:
    out = subprocess.run(["objdump", "-p", str(binary)], capture_output=True, text=True, timeout=30, check=True).stdout
    return set(re.findall(r"^\s*NEEDED\s+(\S+)", out, re.M))


def _packages_of(paths: list[Path]) -> list[str]:
    """The Debian package owning each path (one `dpkg -S` call; /lib paths looked up under /usr too)."""
    candidates = {p: [str(p), str(p.resolve())] + ([] if str(p).startswith("/usr/") else ["/usr" + str(p)]) for p in paths}
    query = sorted({c for cs in candidates.values() for c in cs})
    out = subprocess.run(["dpkg", "-S", *query], capture_output=True, text=True, timeout=60).stdout
    owner = {}
    for line in out.splitlines():
        package, _, path = line.partition(": ")
        owner[path.strip()] = package.split(":")[0].split(",")[0].strip()
    result = []
    for p in paths:
        found = next((owner[c] for c in candidates[p] if c in owner), None)
        assert found, f"no Debian package owns {p}"
        result.append(found)
    return result


def _depends_closure(packages: set[str]) -> set[str]:
    """`packages` and everything they depend on, recursively, as installed on this machine."""
    out = subprocess.run(["dpkg-query", "-W", "-f=${Package}\t${Pre-Depends}, ${Depends}\n"],
                         capture_output=True, text=True, timeout=60, check=True).stdout
    depends = dict(line.split("\t", 1) for line in out.splitlines() if "\t" in line)
    seen: set[str] = set()
    todo = list(packages)
    while todo:
        package = todo.pop()
        if package in seen or package not in depends:
            continue  # done, or not installed here: nothing to follow
        seen.add(package)
        for clause in depends[package].split(","):
            for alternative in clause.split("|"):
                name = re.sub(r"\(.*?\)|:any|:\w+$", "", alternative).strip()
                if name:
                    todo.append(name)
    return seen


def _swift_lib_dir(libs: dict[str, Path]) -> Path:
    assert "libswiftCore.so" in libs, "the binary does not load the Swift runtime dynamically"
    return libs["libswiftCore.so"].parent


def test_every_swift_runtime_library_ldd_loads_is_copied_and_nothing_more():
    binary = _binary()
    libs = _resolved_libraries(binary)
    swift_dir = _swift_lib_dir(libs)
    loaded = {name for name, path in libs.items() if path.parent == swift_dir}
    build, _ = _stages()
    assert _copied_swift_libs(build) == loaded


def test_every_other_library_ldd_loads_comes_from_a_listed_package():
    binary = _binary()
    libs = _resolved_libraries(binary)
    swift_dir = _swift_lib_dir(libs)
    _, runtime = _stages()
    listed = set(_apt_packages(runtime))
    closure = _depends_closure(listed) | BASE_PACKAGES
    others = {name: path for name, path in libs.items() if path.parent != swift_dir}
    owners = dict(zip(others, _packages_of(list(others.values()))))
    missing = {name: pkg for name, pkg in owners.items() if pkg not in closure}
    assert not missing, f"add to the runtime stage's apt-get install: {missing}"
    # Libraries the binary links directly are named explicitly, not left to some package's dependencies.
    direct = {owners[name] for name in _needed(binary) if name in owners}
    assert direct - BASE_PACKAGES <= listed, f"name these explicitly: {sorted(direct - BASE_PACKAGES - listed)}"
    # And nothing is installed that the binary does not load.
    unused = listed - NON_LIBRARY_PACKAGES - set(owners.values())
    assert not unused, f"runtime packages the binary does not load: {sorted(unused)}"
