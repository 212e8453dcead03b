'use strict';
// 10,000 events published with Promise.all in batches of 100: every one is delivered, nothing
// crashes, and memory stays bounded.

const { test } = require('node:test');
const assert = require('node:assert/strict');
const { DaprClient, DaprServer } = require('..');
const { Sidecar, resourcesDir } = require('./sidecar.js');

const PUBSUB = 'order_pub_sub';
const EVENTS = 10_000;
const BATCH = 100;

test(`${EVENTS} events in batches of ${BATCH} all arrive`, { timeout: 180_000 }, async () => {
  const received = new Set();
  let allArrived;
  const done = new Promise((resolve) => (allArrived = resolve));
  const server = new DaprServer({ serverHost: '127.0.0.1', serverPort: 0 });
  await server.pubsub.subscribe(PUBSUB, 'load', async (data) => {
    received.add(data.orderId);
    if (received.size === EVENTS) allArrived();
  });
  await server.startServer();
  const resources = resourcesDir([{ name: PUBSUB, type: 'pubsub.in-memory' }]);
  const sidecar = await Sidecar.start({ appId: 'checkout', resources, appPort: server.port });
  try {
    await sidecar.waitHttp('/v1.0/healthz', 204);
    const client = new DaprClient(sidecar.clientOptions);
    const heapBefore = process.memoryUsage().heapUsed;
    for (let start = 0; start < EVENTS; start += BATCH) {
      const batch = [];
      for (let orderId = start; orderId < start + BATCH; orderId++) batch.push(client.pubsub.publish(PUBSUB, 'load', { orderId }));
      await Promise.all(batch);
    }
    let timer;
    await Promise.race([
      done,
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${received.size} of ${EVENTS} events arrived`)), 120_000);
      }),
    ]);
    clearTimeout(timer);
    assert.equal(received.size, EVENTS);
    global.gc?.();
    const grown = process.memoryUsage().heapUsed - heapBefore;
    assert.ok(grown < 64 * 1024 * 1024, `the JS heap grew by ${Math.round(grown / 1048576)} MiB`);
  } finally {
    await sidecar.stop();
    await server.stop();
  }
});
