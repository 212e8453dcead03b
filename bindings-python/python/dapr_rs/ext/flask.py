"""``DaprApp`` for Flask (``pip install "dapr-rs[flask]"``), shaped like the official
``flask_dapr.DaprApp``: the app serves ``GET /dapr/subscribe`` and a ``POST`` route per
subscription; handlers get a :class:`dapr_rs.TopicEvent` instead of reading ``flask.request``. See
:mod:`dapr_rs.ext`.

::

    from flask import Flask
    from dapr_rs import TopicEvent
    from dapr_rs.ext.flask import DaprApp

    app = Flask(__name__)
    dapr_app = DaprApp(app)

    @dapr_app.subscribe(pubsub="order_pub_sub", topic="orders")
    def orders(event: TopicEvent) -> None:
        print(event.decoded_data())
"""

from __future__ import annotations

import asyncio
import importlib.util
import inspect
from typing import Any, Callable, List, Tuple, Union

from .. import TopicEvent
from ._http import SubscribingApp

if importlib.util.find_spec("flask") is None:
    raise ImportError('dapr_rs.ext.flask needs Flask: pip install "dapr-rs[flask]"')

import flask

__all__ = ["DaprApp"]


def _headers() -> List[Tuple[bytes, bytes]]:
    """The request's headers as the bytes they came as (WSGI decodes them as latin-1)."""
    return [(name.encode("latin-1", "replace"), value.encode("latin-1", "replace")) for name, value in flask.request.headers.items()]


def _response(reply: Tuple[int, str, bytes]) -> flask.Response:
    status, content_type, body = reply
    return flask.Response(body, status=status, content_type=content_type)


def _answer(handler: Callable[..., Any], event: Union[TopicEvent, List[TopicEvent]]) -> Any:
    """What ``handler`` answered ``event`` (or a batch's list of events), or the exception it
    raised; an ``async def`` handler's coroutine runs to completion on an event loop of this
    (worker) thread."""
    try:
        answer = handler(event)
        if inspect.iscoroutine(answer):
            answer = asyncio.run(answer)
        return answer
    except Exception as error:  # core answers it RETRY, and logs it
        return error


class DaprApp(SubscribingApp):
    """Serves Dapr subscriptions on the Flask app ``app_instance``: ``GET /dapr/subscribe`` now, a
    ``POST`` route per :meth:`subscribe`, whose handlers run on the request's thread, a bulk
    delivery's events one after another (or, for a ``bulk=`` subscription, as one list)."""

    def __init__(self, app_instance: flask.Flask) -> None:
        super().__init__()
        self._app = app_instance
        native = self._subscriptions
        app_instance.add_url_rule(
            "/dapr/subscribe", "dapr_rs:/dapr/subscribe", lambda: _response(native.subscribe_reply(_headers())), methods=["GET"]
        )

    def _serve(self, path: str, handler: Callable[..., Any], is_async: bool, batch: bool) -> None:
        native = self._subscriptions

        def deliver() -> flask.Response:
            delivery = native.read_delivery(path, _headers(), flask.request.get_data())
            return _response(delivery.reply([_answer(handler, event) for event in delivery.events]))

        def deliver_batch() -> flask.Response:
            delivery = native.read_delivery(path, _headers(), flask.request.get_data())
            events = delivery.events  # none when core refused the call: the handler is not called
            return _response(delivery.reply_batch(_answer(handler, events) if events else None))

        self._app.add_url_rule(path, f"dapr_rs:{path}", deliver_batch if batch else deliver, methods=["POST"])
