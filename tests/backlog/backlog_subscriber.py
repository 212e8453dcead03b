"""The backlog test's subscriber app in Python: a dapr_rs App subscribed to PREFIX-0 …
PREFIX-(COUNT-1), recording every delivery before answering SUCCESS.

Usage: backlog_subscriber.py APP_PORT PUBSUB PREFIX COUNT DELIVERIES_FILE
Each delivery appends "<topic> <data>" to DELIVERIES_FILE.
"""

from __future__ import annotations

import os
import sys
from typing import Callable

from dapr_rs import App, TopicEvent


def main(app_port: int, pubsub: str, prefix: str, count: int, deliveries: str) -> None:
    # One O_APPEND write per line: whole lines between handler threads, in the kernel before the
    # handler returns and the sidecar acknowledges the message.
    fd = os.open(deliveries, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    app = App()

    def recorder(topic: str) -> Callable[[TopicEvent], None]:
        line_start = topic.encode() + b" "

        def record(event: TopicEvent) -> None:
            os.write(fd, line_start + event.data + b"\n")

        return record

    for i in range(count):
        topic = f"{prefix}-{i}"
        app.subscribe(pubsub_name=pubsub, topic=topic)(recorder(topic))
    app.run(app_port, "127.0.0.1")


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5])
