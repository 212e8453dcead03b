'use strict';
// Streaming subscriptions (client.pubsub.subscribeStream, subscribeStreamWithHandler) against a
// real sidecar with no app: answers, redelivery after RETRY, reconnecting after the sidecar
// restarts, and a handler's answers taken by core's one rule.

const { test } = require('node:test');
const assert = require('node:assert/strict');
const { DaprClient, DaprError, DaprPubSubStatusEnum, PubsubNotFoundError } = require('..');
const { Sidecar, Inbox, resourcesDir } = require('./sidecar.js');

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
      assert.deepEqual(message.cloudEvent.metadata, {}, 'daprd sends a stream no broker metadata');
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
    const refused = (e) => e instanceof PubsubNotFoundError && e instanceof DaprError && e.errorCode === 'ERR_PUBSUB_NOT_FOUND';
    await assert.rejects(client.pubsub.subscribeStreamWithHandler('nope', 'orders', async () => {}), refused);
  } finally {
    await sidecar.stop();
  }
});

test('a handler serves a stream: its statuses are answered, a throw or an unknown word is a RETRY', async () => {
  const sidecar = await durableSidecar();
  const client = new DaprClient(sidecar.clientOptions);
  const inbox = new Inbox();
  const attempts = new Map(); // event id → deliveries seen
  const handler = async (data, cloudEvent) => {
    const attempt = (attempts.get(cloudEvent.id) ?? 0) + 1;
    attempts.set(cloudEvent.id, attempt);
    if (attempt === 1 && data === 'throws') throw new Error('not yet');
    if (attempt === 1 && data === 'unknown word') return 'PERHAPS';
    if (attempt === 1 && data === 'retry') return DaprPubSubStatusEnum.RETRY;
    if (data === 'drop') return DaprPubSubStatusEnum.DROP;
    inbox.push({ data, attempt });
    return data === 'no answer' ? undefined : DaprPubSubStatusEnum.SUCCESS;
  };
  const served = await client.pubsub.subscribeStreamWithHandler(PUBSUB, 'served', handler, { deadLetterTopic: 'served-dlq', maxInFlight: 4 });
  const deadLetters = await client.pubsub.subscribeStream(PUBSUB, 'served-dlq');
  try {
    for (const data of ['success', 'no answer', 'throws', 'unknown word', 'retry', 'drop']) await client.pubsub.publish(PUBSUB, 'served', data);
    const got = await inbox.take(5);
    const attemptsOf = Object.fromEntries(got.map((g) => [g.data, g.attempt]));
    assert.deepEqual(attemptsOf, { success: 1, 'no answer': 1, throws: 2, 'unknown word': 2, retry: 2 });
    const dropped = await deadLetters.next();
    assert.equal(dropped.data, 'drop');
    dropped.ack();
    await inbox.nothingFor(300);
  } finally {
    deadLetters.close();
    await served.close();
    await served.closed;
    await sidecar.stop();
  }
});

test('a served stream ends when closed, and no handler runs after', async () => {
  const sidecar = await durableSidecar();
  const client = new DaprClient(sidecar.clientOptions);
  const inbox = new Inbox();
  const served = await client.pubsub.subscribeStreamWithHandler(PUBSUB, 'closing', inbox.handler());
  try {
    await client.pubsub.publish(PUBSUB, 'closing', 'before');
    assert.deepEqual((await inbox.take(1)).map((g) => g.data), ['before']);
    await served.close();
    await served.closed;
    await client.pubsub.publish(PUBSUB, 'closing', 'after');
    await inbox.nothingFor(500);
  } finally {
    await sidecar.stop();
  }
  await assert.rejects(client.pubsub.subscribeStreamWithHandler(PUBSUB, 'closing', 'not a function'), /must be a function/);
  await assert.rejects(client.pubsub.subscribeStreamWithHandler(PUBSUB, 'closing', inbox.handler(), { maxInFlight: 0 }), /maxInFlight/);
});
