"""The installed package: an abi3 extension, py.typed and stubs that match the native module
(stubtest) and type-check the samples (mypy --strict); a lazily made runtime that a forked child
remakes; and no leaks when clients, streams and apps are made and closed many times."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import dapr_rs
from dapr_rs import _native
from sidecar_harness import Sidecar

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = Path(dapr_rs.__file__).parent


def run(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=timeout, cwd=ROOT)


def test_one_abi3_wheel_with_typing_files() -> None:
    assert Path(_native.__file__).name.endswith(".abi3.so"), _native.__file__
    assert (PACKAGE / "py.typed").is_file()
    assert (PACKAGE / "_native.pyi").is_file()


def test_stubs_match_the_native_module() -> None:
    done = run("-m", "mypy.stubtest", "dapr_rs", "--ignore-missing-stub")
    assert done.returncode == 0, done.stdout + done.stderr


def test_samples_and_package_pass_mypy_strict() -> None:
    samples = sorted(str(p) for p in (ROOT / "samples" / "pub_sub" / "python").glob("*.py"))
    assert len(samples) >= 5
    for target in (["-p", "dapr_rs"], samples):
        done = run("-m", "mypy", "--strict", "--no-incremental", *target)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "Success" in done.stdout


def threads_of_a_fresh_interpreter(code: str) -> dict:
    done = run("-c", textwrap.dedent(code), timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc")
def test_importing_and_making_clients_starts_no_thread() -> None:
    out = threads_of_a_fresh_interpreter(
        """
        import json
        def threads():
            return next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("Threads:"))
        before = threads()
        import dapr_rs, dapr_rs.aio
        imported = threads()
        client = dapr_rs.DaprClient("127.0.0.1:1")  # makes the runtime: its workers start
        made = threads()
        print(json.dumps({"before": before, "imported": imported, "made": made}))
        """
    )
    assert out["imported"] == out["before"], "importing dapr_rs started threads"
    assert out["made"] > out["imported"]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_aio_and_streams_work_in_a_forked_child(subscribed, tmp_path: Path) -> None:
    """The parent's runtime is busy (an aio client, a stream); the child remakes its own."""
    s = subscribed(["fork-aio"])
    code = textwrap.dedent(
        f"""
        import asyncio, os, sys
        import dapr_rs, dapr_rs.aio
        client = dapr_rs.aio.DaprClient({s.address!r})
        asyncio.run(client.publish_event("order_pub_sub", "fork-aio", b"parent"))
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                asyncio.run(client.publish_event("order_pub_sub", "fork-aio", b"child"))
                dapr_rs.DaprClient({s.address!r}).publish_event("order_pub_sub", "fork-aio", b"child-sync")
                code = 0
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        sys.exit(os.waitstatus_to_exitcode(status))
        """
    )
    done = run("-c", code, timeout=60)
    assert done.returncode == 0, done.stderr
    assert sorted(e.data for e in s.received(3)) == [b"child", b"child-sync", b"parent"]


LEAK_PROGRAM = """
import asyncio, gc, json, sys
import dapr_rs, dapr_rs.aio

address = sys.argv[1]

def status(key):
    return next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith(key + ":"))

def round_():
    for _ in range(100):
        with dapr_rs.DaprClient(address) as c:
            c.publish_event("order_pub_sub", "leak", b"x")
    async def aio():
        for _ in range(50):
            async with dapr_rs.aio.DaprClient(address) as c:
                await asyncio.gather(*(c.publish_event("order_pub_sub", "leak", b"y") for _ in range(4)))
    asyncio.run(aio())
    with dapr_rs.DaprClient(address) as c:
        for _ in range(5):
            with c.subscribe("order_pub_sub", "leak-stream") as sub:
                sub.next_message(0.01)
            close = c.subscribe_with_handler("order_pub_sub", "leak-stream", lambda m: None)
            close()
    for _ in range(5):
        app = dapr_rs.App()
        app.subscribe("order_pub_sub", "leak-app")(lambda e: None)
        app.start(0, "127.0.0.1")
        app.stop()
    gc.collect()

for _ in range(3):
    round_()  # warm-up: runtime, channel, allocator pools, blocking threads
base = (status("VmRSS"), status("Threads"))
for _ in range(15):
    round_()
end = (status("VmRSS"), status("Threads"))
print(json.dumps({"rss_kb": [base[0], end[0]], "threads": [base[1], end[1]]}))
"""


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc")
def test_no_leak_when_clients_streams_and_apps_come_and_go(sidecar: Sidecar) -> None:
    done = run("-c", LEAK_PROGRAM, f"127.0.0.1:{sidecar.grpc_port}", timeout=240)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.strip().splitlines()[-1])
    (rss_base, rss_end), (threads_base, threads_end) = out["rss_kb"], out["threads"]
    # 15 rounds made 2,250 clients, 150 streams and 75 apps: a leak of one object per client
    # or a task per stream would show; allocator noise stays well under this.
    assert rss_end - rss_base < 4 * 1024, out  # measured: ~0.1 MB
    assert threads_end <= threads_base + 2, out


def test_the_bench_floor_calls_complete_with_nothing() -> None:
    # bench/python measures each publish against these: their loss would only show in `make bench`.
    import asyncio

    assert _native._round_trip() is None
    # With work on the runtime first (the caller-idle floor) too.
    assert _native._round_trip(200) is None

    async def awaited() -> object:
        assert await _native._round_trip_async(200) is None
        return await _native._round_trip_async()

    # None, as `_native.pyi` says, not pyo3's `()` for a unit result.
    assert asyncio.run(asyncio.wait_for(awaited(), timeout=10)) is None
