"""The chaos suite's publisher app: publishes ids 0..N-1 through its sidecar from a few threads
and records each outcome as the caller saw it, so the record survives kill -9 of the sidecar.

Usage: chaos_publisher.py GRPC_PORT PUBSUB TOPIC N THREADS RATE EVIDENCE_FILE
RATE is publishes per second over all threads (0: as fast as they go). Appends "A <id> <time>"
once a publish returned OK and "F <id> <time>" once it raised; a failed id is not published again
(the next id is), as a caller that gave up would.
"""

from __future__ import annotations

import itertools
import os
import sys
import threading
import time

from dapr_rs import DaprClient

# After a failure, pause before the next publish so a sidecar that is restarting does not use up
# every id as a failure in a few milliseconds.
FAILURE_PAUSE_S = 0.05
# A publish that neither succeeds nor fails within this is a failure the caller sees.
CALL_TIMEOUT_S = 10.0


def publish_all(port: int, pubsub: str, topic: str, n: int, threads: int, rate: float, evidence: str) -> None:
    fd = os.open(evidence, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    client = DaprClient(f"127.0.0.1:{port}", timeout=CALL_TIMEOUT_S)
    client.wait_for_sidecar(30)
    ids = itertools.count()
    ids_lock = threading.Lock()
    start = time.monotonic()

    def next_id() -> int:
        with ids_lock:
            return next(ids)

    def worker() -> None:
        while (i := next_id()) < n:
            if rate > 0:
                # Paced on the id, so the stream keeps its rate whatever the thread count.
                delay = start + i / rate - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            try:
                client.publish_event(pubsub, topic, str(i), data_content_type="text/plain")
            except Exception as e:  # every error the binding raises is a failure the caller saw
                os.write(fd, b"F %d %.6f %s\n" % (i, time.time(), type(e).__name__.encode()))
                time.sleep(FAILURE_PAUSE_S)
            else:
                os.write(fd, b"A %d %.6f\n" % (i, time.time()))

    workers = [threading.Thread(target=worker) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()


if __name__ == "__main__":
    port, pubsub, topic, n, threads, rate, evidence = sys.argv[1:8]
    publish_all(int(port), pubsub, topic, int(n), int(threads), float(rate), evidence)
