"""A Java program built only against the installed dapr-rs jar (Maven's local repository, as a user's
project gets it: `make jvm` installed it) publishes to a Python subscriber through two sidecars
sharing the embedded broker. Run by `make test-jvm` after the JUnit suite."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

from sidecar_harness import ROOT, Sidecar, free_port, write_component

ORDERS = 5


def _version() -> str:
    return subprocess.run(["make", "-s", "version"], cwd=ROOT, capture_output=True, text=True, check=True, timeout=30).stdout.strip()


def test_java_publisher_reaches_python_subscriber(tmp_path):
    # A copy outside the repository: the build can only find dapr-rs in the local Maven repository.
    project = tmp_path / "java"
    shutil.copytree(ROOT / "samples" / "pub_sub" / "java", project, ignore=shutil.ignore_patterns("target"))
    build = subprocess.run(
        ["mvn", "-q", "-B", "--no-transfer-progress", "-Dstyle.color=never", f"-Ddapr-rs.version={_version()}", "compile"],
        cwd=project, capture_output=True, text=True, timeout=300,
    )
    assert build.returncode == 0, build.stdout + build.stderr
    jars = sorted(p.name for p in (project / "target" / "lib").iterdir())
    assert any(re.fullmatch(r"dapr-rs-.*\.jar", j) for j in jars), jars

    resources = tmp_path / "resources"
    resources.mkdir()
    write_component(resources, "order_pub_sub", "pubsub.sqlite", {"path": str(tmp_path / "pubsub.db")})

    app_port = free_port()
    sub_log = tmp_path / "subscriber.log"
    sub_env = dict(os.environ, APP_PORT=str(app_port), EXPECTED_ORDERS=str(ORDERS))
    with open(sub_log, "wb") as log:
        subscriber = subprocess.Popen(
            [sys.executable, "CheckoutService.py"], cwd=ROOT / "samples" / "pub_sub" / "python", env=sub_env, stdout=log, stderr=log
        )
    sidecars: list[Sidecar] = []
    try:
        sidecars.append(Sidecar("checkout", resources, app_port=app_port, protocol="grpc"))
        sidecars[0].wait_http("/v1.0/healthz", 204)  # the subscriber's subscriptions run
        publisher_sidecar = Sidecar("orderprocessing", resources)
        sidecars.append(publisher_sidecar)

        env = dict(os.environ, **publisher_sidecar.env, ORDER_COUNT=str(ORDERS), PUBLISH_INTERVAL_MS="0")
        pub = subprocess.run(
            ["java", "-cp", "target/classes:target/lib/*", "OrderProcessingService"],
            cwd=project, env=env, capture_output=True, text=True, timeout=120,
        )
        assert pub.returncode == 0, pub.stdout + pub.stderr
        published = re.findall(r'Published data: \{"orderId":(\d+)\}', pub.stdout)
        assert published == [str(n) for n in range(1, ORDERS + 1)], pub.stdout

        # The subscriber exits by itself once it has every order.
        subscriber.wait(timeout=60)
        output = sub_log.read_text()
        received = re.findall(r"Subscriber received: \{'orderId': (\d+)\}", output)
        assert sorted(set(received), key=int) == published, output
    finally:
        for sidecar in sidecars:
            sidecar.stop()
        if subscriber.poll() is None:
            subscriber.kill()
        subscriber.wait()
