"""The durable components the chaos suite covers, one entry each: a later broker is one more
entry here (and, for a new server, one BrokerProcess subclass in brokers.py)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

from brokers import BrokerProcess, KafkaServer, Mosquitto, NatsServer, RabbitMqServer, RedisServer

# What every component faces.
PROCESS_FAULTS = ("app-kill", "sub-sidecar-kill", "pub-sidecar-kill", "sub-sidecar-term")


@dataclass(frozen=True)
class Component:
    type: str
    # Starts the component's own broker in a directory; None for an embedded broker.
    broker: Optional[Callable[[Path], BrokerProcess]]
    # The component's metadata, given its broker (None when embedded) and the case's directory.
    metadata: Callable[[Optional[BrokerProcess], Path], Dict[str, str]]
    faults: Tuple[str, ...]
    # The two faults of the short run inside `make test`.
    short_faults: Tuple[str, str]

    @property
    def name(self) -> str:
        return self.type.split(".", 1)[1]


def _broker_metadata(broker: Optional[BrokerProcess]) -> Dict[str, str]:
    assert broker is not None
    return dict(broker.metadata)  # type: ignore[attr-defined]


# Redelivery timeouts are short (seconds, not daprd's minute) so a message a dead sidecar held
# comes back within the drain window; the settings are otherwise the durable ones production uses.
COMPONENTS: List[Component] = [
    Component(
        "pubsub.sqlite",
        None,
        lambda _, d: {"path": str(d / "pubsub.db"), "processingTimeout": "5s"},
        PROCESS_FAULTS + ("write-lock-kill",),
        ("write-lock-kill", "app-kill"),
    ),
    Component(
        "pubsub.redis",
        RedisServer,
        lambda b, _: {**_broker_metadata(b), "processingTimeout": "5s", "redeliverInterval": "1s"},
        PROCESS_FAULTS + ("broker-restart",),
        ("broker-restart", "sub-sidecar-kill"),
    ),
    Component(
        "pubsub.jetstream",
        NatsServer,
        lambda b, _: {**_broker_metadata(b), "ackWait": "5s"},
        PROCESS_FAULTS + ("broker-restart",),
        ("broker-restart", "sub-sidecar-term"),
    ),
    Component(
        "pubsub.rabbitmq",
        RabbitMqServer,
        # Persistent messages in durable queues that outlive their consumers: what survives a
        # restart of the broker or of the subscriber.
        lambda b, _: {**_broker_metadata(b), "deletedWhenUnused": "false", "deliveryMode": "2", "reconnectWait": "1"},
        PROCESS_FAULTS + ("broker-restart",),
        ("pub-sidecar-kill", "sub-sidecar-kill"),
    ),
    Component(
        "pubsub.mqtt3",
        Mosquitto,
        # A persistent session (Dapr's default): the broker keeps the subscriber's messages while
        # its sidecar is away; clean sessions promise nothing then.
        lambda b, _: {**_broker_metadata(b), "qos": "1", "cleanSession": "false"},
        PROCESS_FAULTS + ("broker-restart",),
        ("broker-restart", "app-kill"),
    ),
    Component(
        "pubsub.kafka",
        KafkaServer,
        # `oldest`: a consumer group that has not committed yet starts at the beginning, so what
        # the subscriber's first sidecar held when it was killed is not skipped by the next one.
        lambda b, _: {**_broker_metadata(b), "initialOffset": "oldest", "backOffDuration": "500ms"},
        PROCESS_FAULTS + ("broker-restart",),
        ("broker-restart", "sub-sidecar-kill"),
    ),
]
