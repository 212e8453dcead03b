from time import sleep
import logging
import json
import os
from dapr_rs import DaprClient

logging.basicConfig(level = logging.INFO)

ORDER_COUNT = int(os.getenv('ORDER_COUNT', '10'))
PUBLISH_INTERVAL_S = int(os.getenv('PUBLISH_INTERVAL_MS', '200')) / 1000

with DaprClient() as client:
    client.wait_for_sidecar(60)

for orderId in range(1, ORDER_COUNT + 1):
    PUBSUB_NAME = 'order_pub_sub'
    TOPIC_NAME = 'orders'
    with DaprClient() as client:
        client.publish_event(
            pubsub_name=PUBSUB_NAME,
            topic_name=TOPIC_NAME,
            data=json.dumps(orderId),
            data_content_type='application/json',
        )
    logging.info('Published data: ' + str(orderId))
    sleep(PUBLISH_INTERVAL_S)
