"""The quickstart's subscriber as a streaming subscription: no app port, the app pulls orders from
its sidecar and answers each (the stream reconnects by itself if the sidecar restarts). Run it
with `dapr-rs run --app-id checkout -- python3 CheckoutServiceStreaming.py` (no --app-port)."""

import logging
import os

from dapr_rs import DaprClient

logging.basicConfig(level=logging.INFO)

EXPECTED_ORDERS = int(os.getenv('EXPECTED_ORDERS', '0'))

with DaprClient() as client:
    client.wait_for_sidecar(60)
    with client.subscribe(pubsub_name='order_pub_sub', topic='orders') as subscription:
        for count, message in enumerate(subscription, start=1):
            logging.info('Subscriber received: %s', message.data())
            message.respond_success()
            if count == EXPECTED_ORDERS:
                break
