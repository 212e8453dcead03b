"""``DaprApp`` for FastAPI (``pip install "dapr-rs[fastapi]"``), shaped like the official
``dapr.ext.fastapi.DaprApp``: the app serves ``GET /dapr/subscribe`` and a ``POST`` route per
subscription; handlers get a :class:`dapr_rs.TopicEvent`. See :mod:`dapr_rs.ext`.

::

    from fastapi import FastAPI
    from dapr_rs import TopicEvent
    from dapr_rs.ext.fastapi import DaprApp

    app = FastAPI()
    dapr_app = DaprApp(app)

    @dapr_app.subscribe(pubsub="order_pub_sub", topic="orders")
    async def orders(event: TopicEvent) -> None:
        print(event.decoded_data())
"""

# No `from __future__ import annotations`: FastAPI reads the endpoints' annotations at runtime.

import asyncio
import importlib.util
import inspect
from enum import Enum
from typing import Any, Callable, List, Optional, Sequence, Tuple, Union

from .. import TopicEvent
from ._http import SubscribingApp

if importlib.util.find_spec("fastapi") is None:
    raise ImportError('dapr_rs.ext.fastapi needs FastAPI: pip install "dapr-rs[fastapi]"')

from fastapi import FastAPI, Request, Response
from fastapi.concurrency import run_in_threadpool

__all__ = ["DaprApp"]


def _response(reply: Tuple[int, str, bytes]) -> Response:
    status, content_type, body = reply
    return Response(content=body, status_code=status, media_type=content_type)


async def _answer(handler: Callable[..., Any], is_async: bool, event: Union[TopicEvent, List[TopicEvent]]) -> Any:
    """What ``handler`` answered ``event`` (or a batch's list of events), or the exception it
    raised: an ``async def`` handler is awaited on the app's event loop, any other runs on the
    threadpool, as FastAPI runs endpoints."""
    try:
        answer = handler(event) if is_async else await run_in_threadpool(handler, event)
        if inspect.isawaitable(answer):
            answer = await answer
        return answer
    except Exception as error:  # core answers it RETRY, and logs it
        return error


class DaprApp(SubscribingApp):
    """Serves Dapr subscriptions on the FastAPI app ``app_instance``: ``GET /dapr/subscribe`` now,
    a ``POST`` route per :meth:`subscribe`, whose handlers FastAPI awaits on its event loop
    (``async def``) or runs on its threadpool, a bulk delivery's events at once (or, for a
    ``bulk=`` subscription, as one list). ``router_tags`` tag those routes in the OpenAPI document
    (None: no tag)."""

    def __init__(self, app_instance: FastAPI, router_tags: Optional[Sequence[str]] = ("PubSub",)) -> None:
        super().__init__()
        self._app = app_instance
        self._router_tags: Optional[List[Union[str, Enum]]] = None if router_tags is None else list(router_tags)
        app_instance.add_api_route(
            "/dapr/subscribe", self._subscribe_document, methods=["GET"], tags=self._router_tags, name="dapr_subscribe"
        )

    async def _subscribe_document(self, request: Request) -> Response:
        return _response(self._subscriptions.subscribe_reply(request.headers.raw))

    def _serve(self, path: str, handler: Callable[..., Any], is_async: bool, batch: bool) -> None:
        native = self._subscriptions

        async def deliver(request: Request) -> Response:
            delivery = native.read_delivery(path, request.headers.raw, await request.body())
            answers = await asyncio.gather(*(_answer(handler, is_async, event) for event in delivery.events))
            return _response(delivery.reply(list(answers)))

        async def deliver_batch(request: Request) -> Response:
            delivery = native.read_delivery(path, request.headers.raw, await request.body())
            events = delivery.events  # none when core refused the call: the handler is not called
            return _response(delivery.reply_batch(await _answer(handler, is_async, events) if events else None))

        endpoint = deliver_batch if batch else deliver
        self._app.add_api_route(path, endpoint, methods=["POST"], tags=self._router_tags, name=f"dapr_rs:{path}")
