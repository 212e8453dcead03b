"""Drop-in for ``cloudevents.sdk.event.v1``: handlers annotated ``event: v1.Event`` get a
:class:`dapr_rs.TopicEvent`, which has ``Data()``, ``EventID()``, ``ContentType()`` and the other
v1 getters."""

from ._native import TopicEvent as Event

__all__ = ["Event"]
