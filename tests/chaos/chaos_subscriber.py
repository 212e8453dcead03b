"""The chaos suite's subscriber app: a dapr_rs App that records every delivery before answering
SUCCESS, so the record survives kill -9 of this process or of its sidecar.

Usage: chaos_subscriber.py APP_PORT PUBSUB TOPIC EVIDENCE_FILE
Each delivery appends "<id> <unix time>" to EVIDENCE_FILE.
"""

from __future__ import annotations

import os
import sys
import time

from dapr_rs import App, TopicEvent


def main(app_port: int, pubsub: str, topic: str, evidence: str) -> None:
    # One O_APPEND write per line: atomic between handler threads, and in the kernel (so it
    # survives kill -9) before the handler returns and the sidecar acknowledges the message.
    fd = os.open(evidence, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    app = App()

    @app.subscribe(pubsub_name=pubsub, topic=topic)
    def record(event: TopicEvent) -> None:
        os.write(fd, b"%d %.6f\n" % (int(event.data), time.time()))

    app.run(app_port, "127.0.0.1")


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4])
