"""The quickstart's publisher in its asyncio flavour: every order in flight at once on one
dapr_rs.aio.DaprClient (one connection), each a dataclass sent as JSON."""

import asyncio
import logging
import os
from dataclasses import dataclass

from dapr_rs.aio import DaprClient

logging.basicConfig(level=logging.INFO)

ORDER_COUNT = int(os.getenv('ORDER_COUNT', '10'))
PUBSUB_NAME = 'order_pub_sub'
TOPIC_NAME = 'orders'


@dataclass
class Order:
    orderId: int


async def main() -> None:
    async with DaprClient() as client:
        await client.wait_for_sidecar(60)
        await asyncio.gather(
            *(client.publish_event(PUBSUB_NAME, TOPIC_NAME, Order(order_id)) for order_id in range(1, ORDER_COUNT + 1))
        )
    logging.info('Published %d orders', ORDER_COUNT)


if __name__ == '__main__':
    asyncio.run(main())
