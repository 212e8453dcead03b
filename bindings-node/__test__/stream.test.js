'use strict';
// Streaming subscriptions (client.pubsub.subscribeStream) against a real sidecar with no app:
// answers, redelivery after RETRY, and reconnecting after the sidecar restarts.

const { test } = require('node:test');
const assert = require('node:assert/strict');
const { DaprClient, DaprError } = require('..');
const { Sidecar, resourcesDir } = require('./sidecar.js');

const PUBSUB = 'ps';

async function durableSidecar() {
  const dir = resourcesDir([]);
  const resources = resourcesDir([{ name: PUBSUB, type: 'pubsub.sqlite', metadata: { path: `${dir}/ps.db` } }]);
  return Sidecar.start({ appId: 'streamer', resources });
}

test('a stream delivers events; RETRY brings one back, ack and drop settle them', async () => {
  const sidecar = await durableSidecar();
  const client = new DaprClient(sidecar.clientOptions);
  const stream = await client.pubsub.subscribeStream(PUBSUB, 'stream', { deadLetterTopic: 'stream-dlq' });
  try {
    for (const orderId of [1, 2, 3]) await client.pubsub.publish(PUBSUB, 'stream', { orderId });
    const acked = [];
    let retried = false;
    for await (const message of stream) {
      assert.equal(message.cloudEvent.topic, 'stream');
      assert.equal(message.cloudEvent.source, 'streamer');
      if (message.data.orderId === 2 && !retried) {
        retried = true;
        message.retry();
        continue;
      }
      message.ack();
      acked.push(message.data.orderId);
      if (acked.length === 3) break;
    }
    assert.deepEqual(acked.sort(), [1, 2, 3]);
    assert.equal(await stream.next(), null, 'leaving the loop closed the subscription');
  } finally {
    stream.close();
    await sidecar.stop();
  }
});

test('a stream reconnects after the sidecar restarts', async () => {
  const sidecar = await durableSidecar();
  const client = new DaprClient(sidecar.clientOptions);
  const stream = await client.pubsub.subscribeStream(PUBSUB, 'orders');
  try {
    await client.pubsub.publish(PUBSUB, 'orders', 'before');
    let message = await stream.next();
    assert.equal(message.data, 'before');
    message.ack();
    await sidecar.restart();
    await client.pubsub.publish(PUBSUB, 'orders', 'after');
    message = await stream.next();
    assert.equal(message.data, 'after');
    message.ack();
  } finally {
    stream.close();
    assert.equal(await stream.next(), null, 'a closed stream ends');
    await sidecar.stop();
  }
});

test('a refused subscription rejects with a DaprError', async () => {
  const sidecar = await durableSidecar();
  try {
    const client = new DaprClient(sidecar.clientOptions);
    await assert.rejects(client.pubsub.subscribeStream('nope', 'orders'), (e) => e instanceof DaprError && e.grpcCode > 0);
  } finally {
    await sidecar.stop();
  }
});
