"""The quickstart's subscriber with an ``async def`` handler (the sidecar calls it over gRPC, as in
CheckoutService.py)."""

import asyncio
import itertools
import logging
import os
from typing import Any

from dapr_rs import App, TopicEvent, TopicEventResponse

app = App()

logging.basicConfig(level=logging.INFO)

EXPECTED_ORDERS = int(os.getenv('EXPECTED_ORDERS', '0'))
received = itertools.count(1)


@app.subscribe(pubsub_name='order_pub_sub', topic='orders')
async def mytopic(event: TopicEvent) -> TopicEventResponse:
    data: Any = event.decoded_data()
    await asyncio.sleep(0)  # e.g. an awaited database write
    logging.info('Subscriber received: %s', data)
    if next(received) == EXPECTED_ORDERS:
        app.stop()
    return TopicEventResponse('success')


app.run(int(os.getenv('APP_PORT', '6002')))
