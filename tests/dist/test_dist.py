"""`make dist`'s artifacts as a user installs them, on a PATH with no cargo or rustc and a home of
their own: the wheel into a fresh venv, the npm tarball into an empty npm project, the .nupkg into a
C# project (nuget and xbuild, as bindings-dotnet's PackageTests) and the jar into a Java project's
local Maven repository, these two with `dapr-rs` from the CLI tarball. Each starts `dapr-rs run`
from what it installed and runs the quickstart of its language (samples/pub_sub, copied out of the
tree) to the last order. Also: the checksums, the version of
every artifact (Cargo.toml's), the wheel's manylinux tag against auditwheel, and what the native
code links. Sizes and times go to the report at the end (conftest.py)."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import time
import tomllib
import zipfile
from pathlib import Path
from typing import Dict, List, Optional

import pytest

from dist_report import SIZES, TIMINGS
from sidecar_harness import free_port, http_status, wait_until

# pytest.ini's deadline, by a signal: on a hang the test fails inside and `launches` still reaps what
# it started (the thread method ends the whole process, teardown and all).
pytestmark = pytest.mark.timeout(300, method="signal")

ROOT = Path(__file__).resolve().parents[2]
DIST = ROOT / "dist"
VERSION = tomllib.loads((ROOT / "Cargo.toml").read_text())["workspace"]["package"]["version"]
SAMPLES = ROOT / "samples" / "pub_sub"
COMPONENTS = ROOT / "samples" / "components"
ORDERS = 10  # the quickstart's own count
# What native code may link: glibc and the GCC runtime, which every Linux has (manylinux's policy);
# OpenSSL and zlib are linked in statically.
SYSTEM_LIBS = {"libc.so.6", "libm.so.6", "libgcc_s.so.1", "ld-linux-x86-64.so.2", "libpthread.so.0", "libdl.so.2", "librt.so.1"}

TGZ = DIST / f"dapr-rs-{VERSION}.tgz"
NUPKG = DIST / f"DaprRs.{VERSION}.nupkg"
CLI = DIST / f"dapr-rs-{VERSION}-x86_64-linux.tar.gz"
JAR = DIST / f"dapr-rs-{VERSION}.jar"
JAR_POM = DIST / f"dapr-rs-{VERSION}.pom"


def the_wheel() -> Path:
    wheels = sorted(DIST.glob(f"dapr_rs-{VERSION}-cp39-abi3-*.whl"))
    assert len(wheels) == 1, f"expected one wheel of {VERSION} in dist/ (make dist), found {wheels}"
    return wheels[0]


def without_rust(path: str) -> str:
    """PATH without any directory that holds cargo or rustc (~/.cargo/bin)."""
    kept = [d for d in path.split(os.pathsep) if d and not any(Path(d, tool).exists() for tool in ("cargo", "rustc"))]
    return os.pathsep.join(kept)


def user_env(home: Path, **extra: str) -> Dict[str, str]:
    """A user's environment: no Rust toolchain on PATH, no venv or npm settings of ours, a home of
    its own (the embedded broker's file, the run registry, npm's and nuget's caches)."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "RUST_LOG", "DAPR_RS_BIN", "CARGO_TARGET_DIR")
           and not k.lower().startswith("npm_")}
    env.update(PATH=without_rust(os.environ.get("PATH", "")), HOME=str(home), npm_config_update_notifier="false", **extra)
    assert shutil.which("cargo", path=env["PATH"]) is None and shutil.which("rustc", path=env["PATH"]) is None
    return env


def run(cmd: List[str], env: Dict[str, str], cwd: Optional[Path] = None, timeout: float = 300) -> str:
    """Runs `cmd` to its end; fails with its output unless it exits 0."""
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{' '.join(map(str, cmd))} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def stat_fields(stat: Path) -> Optional[List[str]]:
    """The fields of a /proc/<pid>/stat after the command name (state, ppid, pgrp, ...), or None
    when the process is gone."""
    try:
        return stat.read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return None


def alive(pid: int) -> bool:
    """A process that runs (not a zombie waiting for its parent)."""
    fields = stat_fields(Path(f"/proc/{pid}/stat"))
    return fields is not None and fields[0] != "Z"


def group_running(pgid: int) -> bool:
    """Whether a process of the process group `pgid` still runs (zombies aside)."""
    running = (stat_fields(stat) for stat in Path("/proc").glob("[0-9]*/stat"))
    return any(fields[0] != "Z" and int(fields[2]) == pgid for fields in running if fields is not None)


class Launch:
    """One `dapr-rs run` of an installed command, in a process group of its own, its output (the
    app's lines too) in a file."""

    def __init__(self, cmd: List[str], cwd: Path, env: Dict[str, str], log: Path) -> None:
        self.log = log
        self.app_pid: Optional[int] = None
        with open(log, "wb") as out:
            self.proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=out,
                                         stderr=subprocess.STDOUT, start_new_session=True)

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def note_app(self) -> None:
        found = re.search(r"app started.*pid=(\d+)", self.output())
        if found:
            self.app_pid = int(found.group(1))

    def stop(self, deadline_s: float = 20.0) -> int:
        """SIGTERM to its process group, as a terminal's Ctrl-C or a process manager stops it (npx
        forwards no signal to the command it runs); its exit code within the deadline, and its app
        gone."""
        self.note_app()
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=deadline_s)
        except subprocess.TimeoutExpired:
            pytest.fail(f"`dapr-rs run` still running {deadline_s}s after SIGTERM:\n{self.output()}")
        # npx exits before the launcher it started (in its group) has stopped the app and sidecar.
        wait_until(lambda: not group_running(self.proc.pid), 10, f"the launcher's process group is gone:\n{self.output()}")
        if self.app_pid is not None:
            wait_until(lambda: not alive(self.app_pid), 10, f"the app is gone:\n{self.output()}")
        return code

    def reap(self) -> None:
        """Whatever happened: the launcher's group and its app's (a group of its own) are gone."""
        self.note_app()
        for group in (self.proc.pid, self.app_pid):
            if group is not None:
                try:
                    os.killpg(group, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        self.proc.wait(timeout=30)


@pytest.fixture
def launches():
    started: List[Launch] = []
    yield started
    failures = []
    for launch in started:  # every launch reaped, even when one of them will not go
        try:
            launch.reap()
        except Exception as e:  # noqa: BLE001 - reported below, after the others
            failures.append(f"{launch.log}: {e!r}")
    assert not failures, failures


def numbers(pattern: str, text: str) -> List[int]:
    return [int(n) for n in re.findall(pattern, text, re.MULTILINE)]


def run_quickstart(language: str, launches: List[Launch], dapr_rs: List[str], project: Path, env: Dict[str, str],
                   sub_cmd: List[str], pub_cmd: List[str], protocol: str, began: float, sub_port: Optional[int] = None,
                   stop_code: Optional[int] = 0) -> None:
    """scripts/quickstart.sh's flow with the installed `dapr-rs`: the subscriber (checkout) under
    `dapr-rs run`, once its subscriptions are in the publisher (orderprocessing), then every order
    published must reach the subscriber. Records the times from `began` (the install's start).
    `stop_code`: the subscriber's exit code on SIGTERM (None when a wrapper such as npx, which the
    signal ends itself, reports it instead of the launcher)."""
    sub_http = free_port()
    sub = Launch([*dapr_rs, "run", "--app-id", "checkout", "--app-port", str(sub_port or free_port()),
                  "--app-protocol", protocol, "--dapr-http-port", str(sub_http), "--metrics-port", str(free_port()),
                  "--resources-path", str(COMPONENTS), "--", *sub_cmd], project, env, project / "sub.log")
    launches.append(sub)
    # 204 once the app's subscriptions are in: the orders published from then on reach it.
    wait_until(lambda: sub.proc.poll() is not None or http_status_or_none(f"http://127.0.0.1:{sub_http}/v1.0/healthz") == 204,
               60, f"the subscriber's sidecar has its subscriptions")
    assert sub.proc.poll() is None, sub.output()

    pub = Launch([*dapr_rs, "run", "--app-id", "orderprocessing", "--app-port", str(free_port()),
                  "--app-protocol", protocol, "--metrics-port", str(free_port()), "--resources-path", str(COMPONENTS),
                  "--", *pub_cmd], project, {**env, "ORDER_COUNT": str(ORDERS), "PUBLISH_INTERVAL_MS": "100"}, project / "pub.log")
    launches.append(pub)
    received = lambda: set(numbers(r'Subscriber received ?: ?(?:\{"orderId": ?)?(\d+)\}?$', sub.output()))  # noqa: E731
    wait_until(lambda: received() or sub.proc.poll() is not None, 120, f"a first order reached the subscriber:\n{sub.output()}")
    assert received(), f"the subscriber's dapr-rs run ended:\n{sub.output()}"
    first = time.monotonic() - began
    try:
        code = pub.proc.wait(timeout=120)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the publisher still runs after 120 s:\n{pub.output()}")
    assert code == 0, f"the publisher's dapr-rs run exited {code}:\n{pub.output()}"
    published = numbers(r'Published data: ?(?:\{"orderId": ?)?(\d+)', pub.output())
    assert published == list(range(1, ORDERS + 1)), pub.output()
    wait_until(lambda: received() >= set(published), 30, f"every order reached the subscriber:\n{sub.output()}")
    TIMINGS[language].update(first_order_s=first, last_order_s=time.monotonic() - began)
    code = sub.stop()
    assert stop_code is None or code == stop_code, f"exit {code}:\n{sub.output()}"
    assert 'stopping every app and sidecar signal="SIGTERM"' in sub.output(), sub.output()
    assert http_status_or_none(f"http://127.0.0.1:{sub_http}/v1.0/healthz") is None, "the subscriber's sidecar still answers"


def http_status_or_none(url: str) -> Optional[int]:
    try:
        return http_status(url, timeout=1.0)
    except OSError:
        return None


def linked_libs(binary: Path) -> set:
    dynamic = subprocess.run(["readelf", "-d", str(binary)], capture_output=True, text=True, timeout=60, check=True).stdout
    return set(re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", dynamic))


def newest_glibc(binary: Path) -> tuple:
    symbols = subprocess.run(["readelf", "--dyn-syms", "-W", str(binary)], capture_output=True, text=True, timeout=60, check=True).stdout
    return max(tuple(int(p) for p in v.split(".")) for v in re.findall(r"@GLIBC_([0-9.]+)", symbols))


# ---- the artifacts themselves ----

def test_every_artifact_is_there_with_its_checksum() -> None:
    for artifact in (the_wheel(), TGZ, NUPKG, CLI, JAR, JAR_POM):
        assert artifact.is_file(), f"{artifact} is missing (make dist)"
        line = Path(f"{artifact}.sha256").read_text()
        assert line == f"{hashlib.sha256(artifact.read_bytes()).hexdigest()}  {artifact.name}\n", f"{artifact}.sha256: {line!r}"
        SIZES.append((artifact.name, artifact.stat().st_size))


def test_the_wheels_manylinux_tag_is_what_auditwheel_finds(tmp_path: Path) -> None:
    wheel = the_wheel()
    auditwheel = Path(sys.executable).parent / "auditwheel"
    assert auditwheel.is_file(), "auditwheel is not in the venv (scripts/install-deps.sh installs it)"
    shown = run([str(auditwheel), "show", str(wheel)], env=dict(os.environ), timeout=120)
    text = " ".join(shown.split())
    found = re.search(r'is consistent with the following platform tag: "([^"]+)"', text)
    assert found, shown
    tag = wheel.name[: -len(".whl")].split("-")[-1]
    assert tag.startswith("manylinux_") and tag == found.group(1), f"{wheel.name} says {tag}, auditwheel {found.group(1)}:\n{shown}"
    assert "external shared libraries are required" not in text, shown
    with zipfile.ZipFile(wheel) as z:
        (module,) = [n for n in z.namelist() if re.fullmatch(r"dapr_rs/_native\.abi3\.so", n)]
        z.extract(module, tmp_path)
    assert linked_libs(tmp_path / module) <= SYSTEM_LIBS


def test_the_cli_and_the_addon_need_only_glibc_as_old_as_the_wheel(tmp_path: Path) -> None:
    """The CLI tarball and the npm addon are the same code as the wheel's module: they need no
    newer glibc than the wheel's tag says, and link nothing but the system's base libraries."""
    glibc = tuple(int(p) for p in re.match(r"manylinux_(\d+)_(\d+)_", the_wheel().name.split("-")[-1]).groups())
    with tarfile.open(CLI) as tar:
        tar.extractall(tmp_path, filter="data")
    with tarfile.open(TGZ) as tar:
        tar.extractall(tmp_path, filter="data")
    for binary in (tmp_path / f"dapr-rs-{VERSION}-x86_64-linux" / "dapr-rs", tmp_path / "package" / "dapr-rs.linux-x64-gnu.node"):
        assert linked_libs(binary) <= SYSTEM_LIBS, f"{binary.name} links {linked_libs(binary) - SYSTEM_LIBS}"
        assert newest_glibc(binary) <= glibc, f"{binary.name} needs glibc {newest_glibc(binary)}, the wheel says {glibc}"


# ---- each language, installed from its artifact alone ----

def test_python_from_the_wheel(tmp_path: Path, launches: List[Launch]) -> None:
    project, home = tmp_path / "project", tmp_path / "home"
    project.mkdir(), home.mkdir()
    for script in ("CheckoutService.py", "OrderProcessingService.py"):
        shutil.copy(SAMPLES / "python" / script, project)
    env = user_env(home)
    began = time.monotonic()
    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", str(venv)], env)
    run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--no-cache-dir", str(the_wheel())], env)
    TIMINGS["python"] = {"install_s": time.monotonic() - began}

    assert run([str(venv / "bin" / "dapr-rs"), "--version"], env) == f"dapr-rs {VERSION}\n"
    assert run([str(venv / "bin" / "python"), "-c", "import dapr_rs; print(dapr_rs.__version__)"], env) == f"{VERSION}\n"
    python = str(venv / "bin" / "python")
    run_quickstart("python", launches, [str(venv / "bin" / "dapr-rs")], project, env,
                   [python, "CheckoutService.py"], [python, "OrderProcessingService.py"], "grpc", began)


def test_javascript_from_the_npm_tarball(tmp_path: Path, launches: List[Launch]) -> None:
    project, home = tmp_path / "project", tmp_path / "home"
    project.mkdir(), home.mkdir()
    (project / "package.json").write_text('{"name": "quickstart", "private": true, "type": "module"}\n')
    for script in ("CheckoutService.js", "OrderProcessingService.js"):
        shutil.copy(SAMPLES / "javascript" / script, project)
    env = user_env(home)
    began = time.monotonic()
    # --offline: the tarball alone, no registry (it has no dependencies to fetch).
    out = run(["npm", "install", str(TGZ), "--offline", "--no-audit", "--no-fund", "--foreground-scripts", "--loglevel=error"], env, project)
    TIMINGS["javascript"] = {"install_s": time.monotonic() - began}
    assert "dapr-rs: using the prebuilt addon dapr-rs.linux-x64-gnu.node" in out, out
    installed = project / "node_modules" / "dapr-rs"
    assert not installed.is_symlink() and not (installed / "Cargo.toml").exists(), "the tarball's package, not the source tree"

    assert run(["npx", "dapr-rs", "--version"], env, project) == f"dapr-rs {VERSION}\n"
    version = "import('dapr-rs').then((m) => console.log(m.version, require('dapr-rs').version))"
    assert run(["node", "-e", version], env, project) == f"{VERSION} {VERSION}\n"
    # The sample's subscriber listens on 6002, its own port.
    run_quickstart("javascript", launches, ["npx", "dapr-rs"], project, env,
                   ["node", "CheckoutService.js"], ["node", "OrderProcessingService.js"], "http", began, sub_port=6002,
                   stop_code=None)


CSPROJ = """<?xml version="1.0" encoding="utf-8"?>
<Project ToolsVersion="4.0" DefaultTargets="Build" xmlns="http://schemas.microsoft.com/developer/msbuild/2003">
  <PropertyGroup>
    <OutputType>Exe</OutputType>
    <AssemblyName>{name}</AssemblyName>
    <TargetFrameworkVersion>v4.6.2</TargetFrameworkVersion>
    <OutputPath>out/</OutputPath>
  </PropertyGroup>
  <ItemGroup>
    <Reference Include="System" />
    <Reference Include="DaprRs"><HintPath>../packages/DaprRs.{version}/lib/net462/DaprRs.dll</HintPath></Reference>
    <Compile Include="*.cs" />
  </ItemGroup>
  <Import Project="$(MSBuildToolsPath)/Microsoft.CSharp.targets" />
  <Import Project="../packages/DaprRs.{version}/build/DaprRs.targets" />
</Project>
"""

ASSEMBLY_VERSION = """using System;
using System.Reflection;
class AssemblyVersion {
    static void Main() {
        var assembly = typeof(DaprRs.DaprClient).Assembly;
        var informational = (AssemblyInformationalVersionAttribute)Attribute.GetCustomAttribute(assembly, typeof(AssemblyInformationalVersionAttribute));
        Console.WriteLine(assembly.GetName().Version + " " + informational.InformationalVersion);
    }
}
"""


def test_csharp_from_the_nupkg_with_the_cli_tarball(tmp_path: Path, launches: List[Launch]) -> None:
    project, home = tmp_path / "project", tmp_path / "home"
    project.mkdir(), home.mkdir()
    env = user_env(home)
    began = time.monotonic()
    with tarfile.open(CLI) as tar:
        tar.extractall(tmp_path / "cli", filter="data")
    dapr_rs = tmp_path / "cli" / f"dapr-rs-{VERSION}-x86_64-linux" / "dapr-rs"
    run(["nuget", "install", "DaprRs", "-Version", VERSION, "-Source", str(DIST), "-OutputDirectory", str(project / "packages"), "-NonInteractive"], env, project)
    for service in ("CheckoutService", "OrderProcessingService"):
        (project / service).mkdir()
        for source in (SAMPLES / "csharp" / service).glob("*.cs"):
            shutil.copy(source, project / service)
        (project / service / f"{service}.csproj").write_text(CSPROJ.format(name=service, version=VERSION))
        run(["xbuild", "/nologo", "/v:minimal", str(project / service / f"{service}.csproj")], env, project)
        assert (project / service / "out" / "libdapr_rs_ffi.so").is_file(), "the package's targets put the native library beside the app"
    TIMINGS["csharp"] = {"install_s": time.monotonic() - began}

    assert run([str(dapr_rs), "--version"], env) == f"dapr-rs {VERSION}\n"
    library = project / "packages" / f"DaprRs.{VERSION}" / "lib" / "net462" / "DaprRs.dll"
    (project / "AssemblyVersion.cs").write_text(ASSEMBLY_VERSION)
    run(["mcs", "-nologo", f"-r:{library}", f"-out:{project / 'CheckoutService' / 'out' / 'AssemblyVersion.exe'}", str(project / "AssemblyVersion.cs")], env)
    numeric = VERSION.split("-")[0]
    assert run(["mono", str(project / "CheckoutService" / "out" / "AssemblyVersion.exe")], env) == f"{numeric}.0 {VERSION}\n"

    run_quickstart("csharp", launches, [str(dapr_rs)], project, env,
                   ["mono", "CheckoutService/out/CheckoutService.exe"], ["mono", "OrderProcessingService/out/OrderProcessingService.exe"],
                   "http", began)


# The user's Maven reads the machine's own local repository before Maven Central, so the test needs
# no network for what `make jvm` already fetched (Kotlin, JNA, the plugins) and still finds anything
# else; dapr-rs itself is installed into the test's fresh local repository from dist/ first, which
# Maven reads before any remote repository.
MAVEN_SETTINGS = """<settings>
  <profiles><profile><id>machine</id>
    <repositories><repository><id>machine</id><url>{url}</url></repository></repositories>
    <pluginRepositories><pluginRepository><id>machine</id><url>{url}</url></pluginRepository></pluginRepositories>
  </profile></profiles>
  <activeProfiles><activeProfile>machine</activeProfile></activeProfiles>
</settings>
"""


def test_jvm_from_the_jar_with_the_cli_tarball(tmp_path: Path, launches: List[Launch]) -> None:
    project, home = tmp_path / "project", tmp_path / "home"
    project.mkdir(), home.mkdir()
    machine_repo = Path(os.environ.get("HOME", str(Path.home()))) / ".m2" / "repository"
    (home / ".m2").mkdir()
    (home / ".m2" / "settings.xml").write_text(MAVEN_SETTINGS.format(url=machine_repo.as_uri()))
    shutil.copy(SAMPLES / "java" / "pom.xml", project)
    shutil.copytree(SAMPLES / "java" / "src", project / "src")
    env = user_env(home)
    # Java's user.home comes from the passwd entry, not HOME: name the user's settings and repository.
    repo = home / ".m2" / "repository"
    mvn = ["mvn", "-B", "-q", "--no-transfer-progress", "-Dstyle.color=never", "-s", str(home / ".m2" / "settings.xml"),
           f"-Dmaven.repo.local={repo}"]
    began = time.monotonic()
    with tarfile.open(CLI) as tar:
        tar.extractall(tmp_path / "cli", filter="data")
    dapr_rs = tmp_path / "cli" / f"dapr-rs-{VERSION}-x86_64-linux" / "dapr-rs"
    run([*mvn, "org.apache.maven.plugins:maven-install-plugin:3.1.4:install-file", f"-Dfile={JAR}", f"-DpomFile={JAR_POM}"], env, project)
    installed = repo / "io" / "dapr-rs" / "dapr-rs" / VERSION / f"dapr-rs-{VERSION}.jar"
    assert installed.read_bytes() == JAR.read_bytes(), "the jar in the user's local repository is dist/'s"
    run([*mvn, f"-Ddapr-rs.version={VERSION}", "compile"], env, project)
    assert (project / "target" / "lib" / f"dapr-rs-{VERSION}.jar").read_bytes() == JAR.read_bytes()
    TIMINGS["java"] = {"install_s": time.monotonic() - began}

    with zipfile.ZipFile(JAR) as z:
        assert "linux-x86-64/libdapr_rs_jvm.so" in z.namelist(), "the native library where JNA loads it"
        properties = z.read("META-INF/maven/io.dapr-rs/dapr-rs/pom.properties").decode()
        assert f"version={VERSION}\n" in properties, properties
        z.extract("linux-x86-64/libdapr_rs_jvm.so", tmp_path)
    native = tmp_path / "linux-x86-64" / "libdapr_rs_jvm.so"
    assert linked_libs(native) <= SYSTEM_LIBS, f"the jar's library links {linked_libs(native) - SYSTEM_LIBS}"
    classpath = "target/classes:target/lib/*"
    run_quickstart("java", launches, [str(dapr_rs)], project, env,
                   ["java", "-cp", classpath, "CheckoutService"], ["java", "-cp", classpath, "OrderProcessingService"],
                   "grpc", began, stop_code=143)  # a JVM stopped by SIGTERM exits 128+15 after its shutdown hooks
