from dapr_rs import App, v1
import itertools
import logging
import os

import json

app = App()

logging.basicConfig(level = logging.INFO)

# Set by `make quickstart`: exit once this many orders have arrived (0: run until stopped).
EXPECTED_ORDERS = int(os.getenv('EXPECTED_ORDERS', '0'))
received = itertools.count(1)

@app.subscribe(pubsub_name='order_pub_sub', topic='orders')
def mytopic(event: v1.Event) -> None:
    data = json.loads(event.Data())
    logging.info('Subscriber received: ' + str(data))
    if next(received) == EXPECTED_ORDERS:
        app.stop()

app.run(int(os.getenv('APP_PORT', '6002')))
