'use strict';
// DaprServer over HTTP and gRPC app protocols, each behind a real dapr-rs sidecar: subscribe,
// statuses, thrown errors, routing rules, dead letters and bulk delivery.

const { test, describe, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { DaprClient, DaprServer, DaprError, InvalidArgumentError, DaprPubSubStatusEnum, CommunicationProtocolEnum } = require('..');
const { Sidecar, Inbox, resourcesDir } = require('./sidecar.js');
const { randomUUID } = require('node:crypto');

const PUBSUB = 'order_pub_sub';

for (const [name, protocol, sidecarProtocol] of [
  ['HTTP', CommunicationProtocolEnum.HTTP, 'http'],
  ['gRPC', CommunicationProtocolEnum.GRPC, 'grpc'],
]) {
  describe(`DaprServer, ${name} app protocol`, () => {
    const inbox = new Inbox();
    const attempts = new Map(); // event id → deliveries seen
    const seen = (topic, cloudEvent) => {
      const key = `${topic}/${cloudEvent.id}`;
      attempts.set(key, (attempts.get(key) ?? 0) + 1);
      return attempts.get(key);
    };
    let server;
    let sidecar;
    let client;

    before(async () => {
      server = new DaprServer({ serverHost: '127.0.0.1', serverPort: 0, communicationProtocol: protocol });
      await server.pubsub.subscribe(PUBSUB, 'orders', async (data, ce) => {
        inbox.push({ topic: 'orders', data, cloudEvent: ce });
      });
      // Throws on the first delivery: a thrown error is a RETRY, never a SUCCESS.
      await server.pubsub.subscribe(PUBSUB, 'flaky', (data, ce) => {
        if (seen('flaky', ce) === 1) throw new Error('not yet');
        inbox.push({ topic: 'flaky', data, attempt: attempts.get(`flaky/${ce.id}`) });
      });
      // Answers RETRY, then a status word that is none of the three (also a retry), then SUCCESS.
      await server.pubsub.subscribe(PUBSUB, 'retried', async (data, ce) => {
        const n = seen('retried', ce);
        if (n === 1) return DaprPubSubStatusEnum.RETRY;
        if (n === 2) return 'PERHAPS';
        inbox.push({ topic: 'retried', data, attempt: n });
        return DaprPubSubStatusEnum.SUCCESS;
      });
      await server.pubsub.subscribeWithOptions(PUBSUB, 'dropped', {
        callback: async () => DaprPubSubStatusEnum.DROP,
        deadLetterTopic: 'dropped-dlq',
        deadLetterCallback: async (data) => inbox.push({ topic: 'dropped-dlq', data }),
      });
      await server.pubsub.subscribeWithOptions(PUBSUB, 'routed', {
        route: { rules: [{ match: 'event.type == "widget"', path: '/widgets' }], default: '/other' },
      });
      server.pubsub.subscribeToRoute(PUBSUB, 'routed', '/widgets', async (data) => inbox.push({ topic: 'routed', route: 'widgets', data }));
      server.pubsub.subscribeToRoute(PUBSUB, 'routed', '/other', async (data) => inbox.push({ topic: 'routed', route: 'other', data }));
      await server.pubsub.subscribeBulk(PUBSUB, 'batched', async (data) => inbox.push({ topic: 'batched', data }), {
        maxMessagesCount: 10,
        maxAwaitDurationMs: 50,
      });
      await server.startServer();
      const resources = resourcesDir([{ name: PUBSUB, type: 'pubsub.in-memory' }]);
      sidecar = await Sidecar.start({ appId: 'checkout', resources, appPort: server.port, protocol: sidecarProtocol });
      await sidecar.waitHttp('/v1.0/healthz', 204);
      client = new DaprClient(sidecar.clientOptions);
    });

    after(async () => {
      await sidecar?.stop();
      await server?.stop();
    });

    test('a subscribed handler gets the data and the CloudEvent', async () => {
      await client.pubsub.publish(PUBSUB, 'orders', { orderId: 1 });
      const [got] = await inbox.take(1);
      assert.deepEqual(got, { topic: 'orders', data: { orderId: 1 }, cloudEvent: got.cloudEvent });
      assert.equal(got.cloudEvent.topic, 'orders');
      assert.equal(got.cloudEvent.datacontenttype, 'application/json');
      assert.deepEqual(got.cloudEvent.data, { orderId: 1 });
    });

    test('a thrown error is retried', async () => {
      await client.pubsub.publish(PUBSUB, 'flaky', 'f');
      const [got] = await inbox.take(1);
      assert.deepEqual(got, { topic: 'flaky', data: 'f', attempt: 2 });
    });

    test('RETRY and an unknown status word are retried', async () => {
      await client.pubsub.publish(PUBSUB, 'retried', 'r');
      const [got] = await inbox.take(1);
      assert.deepEqual(got, { topic: 'retried', data: 'r', attempt: 3 });
    });

    test('DROP sends the event to the dead-letter topic', async () => {
      await client.pubsub.publish(PUBSUB, 'dropped', { orderId: 5 });
      const [got] = await inbox.take(1);
      assert.deepEqual(got, { topic: 'dropped-dlq', data: { orderId: 5 } });
    });

    test('routing rules pick the handler, the default takes the rest', async () => {
      const widget = { specversion: '1.0', id: 'w1', source: 'test', type: 'widget', datacontenttype: 'text/plain', data: 'w' };
      await client.pubsub.publish(PUBSUB, 'routed', widget);
      await client.pubsub.publish(PUBSUB, 'routed', 'plain');
      const got = await inbox.take(2);
      assert.deepEqual(
        got.sort((a, b) => a.route.localeCompare(b.route)),
        [
          { topic: 'routed', route: 'other', data: 'plain' },
          { topic: 'routed', route: 'widgets', data: 'w' },
        ],
      );
    });

    test('a bulk subscription hands over each event of a batch', async () => {
      const res = await client.pubsub.publishBulk(PUBSUB, 'batched', [1, 2, 3, 4, 5]);
      assert.deepEqual(res.failedMessages, []);
      const got = await inbox.take(5);
      assert.deepEqual(got.map((g) => g.data).sort(), [1, 2, 3, 4, 5]);
    });
  });
}

for (const [name, protocol, sidecarProtocol] of [
  ['HTTP', CommunicationProtocolEnum.HTTP, 'http'],
  ['gRPC', CommunicationProtocolEnum.GRPC, 'grpc'],
]) {
  test(`a handler reads the broker's metadata (Kafka's record key and headers), ${name} app protocol`, async () => {
    const pubsub = 'kafka_pub_sub';
    const topic = `node-metadata-${randomUUID()}`; // a topic and consumer group of this run only
    const inbox = new Inbox();
    const server = new DaprServer({ serverHost: '127.0.0.1', serverPort: 0, communicationProtocol: protocol });
    await server.pubsub.subscribe(pubsub, topic, async (data, ce) => inbox.push({ data, metadata: ce.metadata, attributes: Object.keys(ce) }));
    await server.startServer();
    const kafka = { brokers: '127.0.0.1:9092', authType: 'none', initialOffset: 'oldest', consumerGroup: topic };
    let sidecar;
    try {
      sidecar = await Sidecar.start({ appId: 'kafka-metadata', resources: resourcesDir([{ name: pubsub, type: 'pubsub.kafka', metadata: kafka }]), appPort: server.port, protocol: sidecarProtocol });
      await sidecar.waitHttp('/v1.0/healthz', 204);
      const client = new DaprClient(sidecar.clientOptions);
      await client.pubsub.publish(pubsub, topic, { orderId: 7 }, { metadata: { partitionKey: 'order-7', 'X-Tenant': 'acme' } });
      const [got] = await inbox.take(1, 60_000);
      assert.deepEqual(got.data, { orderId: 7 });
      assert.equal(got.metadata.__key, 'order-7');
      assert.equal(got.metadata.__topic, topic);
      assert.match(got.metadata.__partition, /^\d+$/);
      assert.equal(got.metadata['x-tenant'], 'acme', 'a publish metadata key is a record header, delivered lowercased');
      assert.equal(got.metadata.pubsubname, pubsub);
      assert.ok(!got.attributes.includes('metadata'), 'metadata is not one of the CloudEvent attributes');
    } finally {
      await sidecar?.stop();
      await server.stop();
    }
  });
}

test('subscriptions are checked when made and when the server starts', async () => {
  const server = new DaprServer({ serverPort: 0 });
  await server.pubsub.subscribe(PUBSUB, 'a', async () => {});
  await assert.rejects(server.pubsub.subscribe(PUBSUB, 'a', async () => {}), /already subscribed/);
  await assert.rejects(server.pubsub.subscribe('', 'a', async () => {}), (e) => e instanceof InvalidArgumentError && e instanceof DaprError && e.grpcCode === 3);
  await server.pubsub.subscribeWithOptions(PUBSUB, 'b', { route: { rules: [{ match: 'true', path: '/b1' }] } });
  await assert.rejects(server.startServer(), /route \/b1 of order_pub_sub\/b has no handler/);
  assert.throws(() => server.pubsub.subscribeToRoute(PUBSUB, 'b', '/nope', async () => {}), /has no route \/nope/);
  server.pubsub.subscribeToRoute(PUBSUB, 'b', '/b1', async () => {});
  assert.throws(() => server.pubsub.subscribeToRoute(PUBSUB, 'b', '/b1', async () => {}), /already has a handler/);
  assert.deepEqual(server.pubsub.getSubscriptions()[PUBSUB].b.routes, ['/b1']);
  await server.startServer();
  try {
    assert.ok(server.port > 0);
    await assert.rejects(server.startServer(), /already started/);
    await assert.rejects(server.pubsub.subscribe(PUBSUB, 'c', async () => {}), /before the server starts/);
  } finally {
    await server.stop();
  }
});

test('one route serves one subscription', async () => {
  const server = new DaprServer({ serverPort: 0 });
  await server.pubsub.subscribe(PUBSUB, 'b', async () => {}, '/shared');
  await server.pubsub.subscribe(PUBSUB, 'c', async () => {}, 'shared');
  await assert.rejects(server.startServer(), /route \/shared is used by both order_pub_sub\/b and order_pub_sub\/c/);
});

test('a port in use is a DaprError', async () => {
  const first = new DaprServer({ serverHost: '127.0.0.1', serverPort: 0 });
  await first.startServer();
  try {
    const second = new DaprServer({ serverHost: '127.0.0.1', serverPort: first.port });
    await assert.rejects(second.startServer(), (e) => e instanceof DaprError && /cannot listen/.test(e.message));
  } finally {
    await first.stop();
  }
  assert.throws(() => new DaprServer({ serverPort: 'x' }), /serverPort must be a port number/);
  assert.throws(() => new DaprServer({ communicationProtocol: 7 }), /communicationProtocol/);
});
