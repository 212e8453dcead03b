'use strict';
// DaprClient against a real dapr-rs sidecar, delivering to a real DaprServer (HTTP app channel).

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const net = require('node:net');
const {
  DaprClient,
  DaprServer,
  DaprError,
  DaprTimeoutError,
  InvalidArgumentError,
  PubsubNotFoundError,
  SidecarUnavailableError,
  TopicForbiddenError,
  CommunicationProtocolEnum,
} = require('..');
const { Sidecar, Inbox, freePort, resourcesDir, python, sleep } = require('./sidecar.js');

const PUBSUB = 'order_pub_sub';
const INVALID_ARGUMENT = 3;
const UNAUTHENTICATED = 16;
const UNAVAILABLE = 14;
const DEADLINE_EXCEEDED = 4;

/** A check for assert.rejects/throws: `e` is an `ErrorClass`, so a DaprError and an Error, with `fields`. */
function isDaprError(ErrorClass, fields = {}) {
  return (e) => {
    assert.ok(e instanceof ErrorClass && e instanceof DaprError && e instanceof Error, `${e?.name} is no ${ErrorClass.name}: ${e?.stack}`);
    assert.equal(e.name, ErrorClass.name);
    for (const [key, value] of Object.entries(fields)) assert.equal(e[key], value, key);
    return true;
  };
}

/** An HTTP app subscribed to `topics` behind a sidecar (in-memory broker); `raw` asks for raw payloads. */
async function subscribedApp(topics, { sidecarEnv } = {}) {
  const inbox = new Inbox();
  const server = new DaprServer({ serverHost: '127.0.0.1', serverPort: 0 });
  for (const topic of topics) {
    await server.pubsub.subscribe(PUBSUB, topic, inbox.handler(), undefined, topic === 'raw' ? { rawPayload: true } : undefined);
  }
  await server.startServer();
  const resources = resourcesDir([{ name: PUBSUB, type: 'pubsub.in-memory' }]);
  const sidecar = await Sidecar.start({ appId: 'checkout', resources, appPort: server.port, protocol: 'http', env: sidecarEnv });
  // 204 once the sidecar has read the app's subscriptions.
  await sidecar.waitHttp('/v1.0/healthz', 204);
  const client = new DaprClient(sidecar.clientOptions);
  return { inbox, server, sidecar, client, stop: async () => (await sidecar.stop(), await server.stop()) };
}

let app;
before(async () => {
  app = await subscribedApp(['bytes', 'text', 'json', 'number', 'ce', 'custom', 'raw', 'bulk']);
});
after(async () => {
  await app?.stop();
});

test('start() waits for the sidecar and health.isHealthy() says it is up', async () => {
  await app.client.start();
  assert.equal(await app.client.health.isHealthy(), true);
  const nobody = new DaprClient({ daprHost: '127.0.0.1', daprPort: await freePort() });
  assert.equal(await nobody.health.isHealthy(), false);
});

test('the content type is inferred from the data, and named ones win', async () => {
  const { client, inbox } = app;
  await client.pubsub.publish(PUBSUB, 'bytes', Buffer.from([0, 1, 255]));
  let [got] = await inbox.take(1);
  assert.equal(got.cloudEvent.datacontenttype, 'application/octet-stream');
  assert.deepEqual(got.data, Buffer.from([0, 1, 255]));

  await client.pubsub.publish(PUBSUB, 'text', 'héllo');
  [got] = await inbox.take(1);
  assert.equal(got.cloudEvent.datacontenttype, 'text/plain');
  assert.equal(got.data, 'héllo');

  await client.pubsub.publish(PUBSUB, 'json', { orderId: 2, big: 12345678901234567890 });
  [got] = await inbox.take(1);
  assert.equal(got.cloudEvent.datacontenttype, 'application/json');
  assert.deepEqual(got.data, { orderId: 2, big: 12345678901234567890 });
  assert.equal(got.cloudEvent.topic, 'json');
  assert.equal(got.cloudEvent.pubsubname, PUBSUB);
  assert.equal(got.cloudEvent.source, 'checkout');
  assert.equal(got.cloudEvent.type, 'com.dapr.event.sent');
  assert.match(got.cloudEvent.traceparent, /^00-/, 'extensions reach the handler');

  await client.pubsub.publish(PUBSUB, 'number', 7); // the quickstart publishes a bare number
  [got] = await inbox.take(1);
  assert.equal(got.data, 7);

  await client.pubsub.publish(PUBSUB, 'custom', '<order id="3"/>', { contentType: 'application/xml' });
  [got] = await inbox.take(1);
  assert.equal(got.cloudEvent.datacontenttype, 'application/xml');
  assert.equal(got.data, '<order id="3"/>');
});

test('a CloudEvent-shaped object is published as the envelope itself', async () => {
  const { client, inbox } = app;
  const ce = { specversion: '1.0', id: 'order-9', source: 'shop', type: 'order.created', datacontenttype: 'application/json', data: { orderId: 9 } };
  await client.pubsub.publish(PUBSUB, 'ce', ce);
  const [got] = await inbox.take(1);
  assert.equal(got.cloudEvent.id, 'order-9');
  assert.equal(got.cloudEvent.source, 'shop');
  assert.equal(got.cloudEvent.type, 'order.created');
  assert.deepEqual(got.data, { orderId: 9 });
});

test('publish metadata reaches the sidecar: rawPayload sends the bytes unwrapped', async () => {
  const { client, inbox } = app;
  await client.pubsub.publish(PUBSUB, 'raw', Buffer.from('raw bytes'), { metadata: { rawPayload: true } });
  const [got] = await inbox.take(1);
  assert.deepEqual(Buffer.from(got.data), Buffer.from('raw bytes'));
  await assert.rejects(client.pubsub.publish(PUBSUB, 'raw', 'x', { metadata: { rawPayload: 'sometimes' } }), (e) => {
    assert.ok(e instanceof DaprError);
    assert.equal(e.errorCode, 'ERR_PUBSUB_REQUEST_METADATA');
    return true;
  });
});

test('publishBulk delivers each message in its own CloudEvent', async () => {
  const { client, inbox } = app;
  const res = await client.pubsub.publishBulk(PUBSUB, 'bulk', [
    'text 0',
    { orderId: 1 },
    { entryID: 'b', event: Buffer.from('bytes 2'), contentType: 'application/x-bin' },
  ]);
  assert.deepEqual(res.failedMessages, []);
  const got = await inbox.take(3);
  const byType = Object.fromEntries(got.map((g) => [g.cloudEvent.datacontenttype, g.data]));
  assert.deepEqual(byType['text/plain'], 'text 0');
  assert.deepEqual(byType['application/json'], { orderId: 1 });
  assert.deepEqual(Buffer.from(byType['application/x-bin']), Buffer.from('bytes 2'));
  assert.deepEqual((await client.pubsub.publishBulk(PUBSUB, 'bulk', [])).failedMessages, []);
});

test('sidecar errors are DaprErrors with the gRPC code and Dapr errorCode; an unknown pubsub is a PubsubNotFoundError', async () => {
  await assert.rejects(app.client.pubsub.publish('nope', 'orders', 'x'), (e) => {
    isDaprError(PubsubNotFoundError)(e);
    assert.equal(e.grpcCode, INVALID_ARGUMENT);
    assert.equal(e.errorCode, 'ERR_PUBSUB_NOT_FOUND');
    assert.match(e.message, /nope/);
    assert.ok(e.message.includes(e.detail), `the message ${e.message} has the detail ${e.detail}`);
    assert.doesNotMatch(e.detail, /ERR_PUBSUB_NOT_FOUND/);
    return true;
  });
  await assert.rejects(app.client.pubsub.publishBulk('nope', 'orders', ['x']), isDaprError(PubsubNotFoundError, { errorCode: 'ERR_PUBSUB_NOT_FOUND' }));
});

test('a topic outside the component\'s allowedTopics is a TopicForbiddenError', async () => {
  const resources = resourcesDir([{ name: PUBSUB, type: 'pubsub.in-memory', metadata: { allowedTopics: 'orders' } }]);
  const sidecar = await Sidecar.start({ appId: 'scoped', resources });
  try {
    const client = new DaprClient(sidecar.clientOptions);
    await client.pubsub.publish(PUBSUB, 'orders', 'allowed');
    await assert.rejects(client.pubsub.publish(PUBSUB, 'secrets', 'x'), isDaprError(TopicForbiddenError, { errorCode: 'ERR_PUBSUB_FORBIDDEN' }));
  } finally {
    await sidecar.stop();
  }
});

test('bad arguments are refused before anything is sent', async () => {
  const { client } = app;
  await assert.rejects(client.pubsub.publish('', 'orders', 'x'), isDaprError(InvalidArgumentError, { grpcCode: INVALID_ARGUMENT }));
  await assert.rejects(client.pubsub.publish(PUBSUB, 'orders', () => 1), /no JSON form/);
  await assert.rejects(client.pubsub.publish(PUBSUB, 'orders', { n: 1n }), TypeError);
  await assert.rejects(client.pubsub.publishBulk(PUBSUB, 'orders', [{ entryID: 'a', event: 1 }, { entryID: 'a', event: 2 }]), /entryID "a"/);
  assert.throws(() => new DaprClient({ daprPort: 'eighty' }), isDaprError(InvalidArgumentError, { grpcCode: INVALID_ARGUMENT }));
  assert.throws(() => new DaprClient('127.0.0.1', 70000), /daprPort must be a port number/);
  // Found by core, thrown by the addon: the same class.
  assert.throws(() => new DaprClient({ daprHost: 'not a host', daprPort: 50001 }), isDaprError(InvalidArgumentError, { grpcCode: INVALID_ARGUMENT }));
  const unresolvable = new DaprServer({ serverHost: 'no such host', serverPort: 0 });
  await assert.rejects(unresolvable.startServer(), isDaprError(InvalidArgumentError, { grpcCode: INVALID_ARGUMENT }));
});

test('an unreachable sidecar: publish rejects UNAVAILABLE, a SidecarUnavailableError', async () => {
  const client = new DaprClient('127.0.0.1', String(await freePort()), CommunicationProtocolEnum.GRPC, { timeoutMs: 2000 });
  await assert.rejects(client.pubsub.publish(PUBSUB, 'orders', 'x'), isDaprError(SidecarUnavailableError, { grpcCode: UNAVAILABLE }));
});

// tonic ends a call past its deadline as CANCELLED "Timeout expired"; core reports it as a timeout.
test('a sidecar that never answers: publish rejects after timeoutMs, a DaprTimeoutError', async () => {
  const accepted = [];
  const blackhole = net.createServer((socket) => accepted.push(socket));
  await new Promise((resolve) => blackhole.listen(0, '127.0.0.1', resolve));
  try {
    const client = new DaprClient({ daprHost: '127.0.0.1', daprPort: blackhole.address().port, timeoutMs: 500 });
    await assert.rejects(client.pubsub.publish(PUBSUB, 'orders', 'x'), isDaprError(DaprTimeoutError, { grpcCode: DEADLINE_EXCEEDED }));
  } finally {
    blackhole.close();
    for (const socket of accepted) socket.destroy();
  }
});

test('calls do not block the event loop', async () => {
  // A peer that accepts connections and never answers: the health probe waits its full second.
  const accepted = [];
  const blackhole = net.createServer((socket) => accepted.push(socket));
  await new Promise((resolve) => blackhole.listen(0, '127.0.0.1', resolve));
  try {
    const client = new DaprClient({ daprHost: '127.0.0.1', daprPort: blackhole.address().port });
    let ticks = 0;
    const timer = setInterval(() => ticks++, 10);
    const started = Date.now();
    const healthy = await client.health.isHealthy();
    clearInterval(timer);
    const waited = Date.now() - started;
    assert.equal(healthy, false);
    assert.ok(waited >= 900, `the probe gave up after ${waited} ms`);
    assert.ok(ticks >= waited / 10 / 2, `the event loop ran ${ticks} timers in ${waited} ms`);
  } finally {
    blackhole.close();
    for (const socket of accepted) socket.destroy();
  }
});

test('the API token is sent', async () => {
  const tokenApp = await subscribedApp(['t'], { sidecarEnv: { DAPR_API_TOKEN: 's3cret' } });
  try {
    await new DaprClient({ ...tokenApp.sidecar.clientOptions, daprApiToken: 's3cret' }).pubsub.publish(PUBSUB, 't', 'with the token');
    const [got] = await tokenApp.inbox.take(1);
    assert.equal(got.data, 'with the token');
    await assert.rejects(new DaprClient({ ...tokenApp.sidecar.clientOptions, daprApiToken: 'wrong' }).pubsub.publish(PUBSUB, 't', 'no'), {
      grpcCode: UNAUTHENTICATED,
    });
    await tokenApp.inbox.nothingFor(300);
  } finally {
    await tokenApp.stop();
  }
});

for (const [name, protocol] of [['gRPC', CommunicationProtocolEnum.GRPC], ['HTTP', CommunicationProtocolEnum.HTTP]]) {
  test(`entries the broker refuses come back as failed messages (${name})`, async () => {
    const dir = resourcesDir([]);
    const db = `${dir}/pubsub.db`;
    const resources = resourcesDir([{ name: PUBSUB, type: 'pubsub.sqlite', metadata: { path: db } }]);
    const sidecar = await Sidecar.start({ appId: 'orderprocessing', resources });
    try {
      // A real broker that refuses some messages: a trigger rejects payloads containing "reject".
      python(
        `import sqlite3, sys
with sqlite3.connect(sys.argv[1], timeout=5) as c:
    c.execute("CREATE TRIGGER refuse BEFORE INSERT ON messages WHEN instr(CAST(NEW.data AS TEXT), 'reject') > 0 "
              "BEGIN SELECT RAISE(ABORT, 'refused by the broker'); END")`,
        [db],
      );
      const daprPort = protocol === CommunicationProtocolEnum.HTTP ? sidecar.httpPort : sidecar.grpcPort;
      const client = new DaprClient({ daprHost: '127.0.0.1', daprPort, communicationProtocol: protocol });
      const messages = ['keep 0', 'reject 1', { n: 2 }, { entryID: 'r3', event: 'reject 3', contentType: 'text/plain' }, Buffer.from([0, 255])];
      const res = await client.pubsub.publishBulk(PUBSUB, 'orders', messages);
      assert.deepEqual(res.failedMessages.map((f) => f.entryID).sort(), ['1', 'r3']);
      assert.deepEqual(res.failedMessages.map((f) => f.message).sort(), ['reject 1', messages[3]].sort());
      for (const f of res.failedMessages) {
        assert.ok(f.error instanceof DaprError);
        assert.match(f.error.message, /refused by the broker/);
      }
      assert.deepEqual((await client.pubsub.publishBulk(PUBSUB, 'orders', ['keep 5', { n: 6 }])).failedMessages, []);
    } finally {
      await sidecar.stop();
    }
  });
}

test("the bench's floor call resolves with nothing", async () => {
  // bench/node measures each publish against it: its loss would only show in `make bench`.
  const binding = require('../binding.js');
  assert.equal(await binding.promiseRoundTrip(), undefined);
  // With work on the runtime first (the caller-idle floor), it still resolves with nothing.
  assert.equal(await binding.promiseRoundTrip(200), undefined);
});

// Promises settle through one threadsafe function per JS thread (src/settle.rs), which holds the
// event loop open only while one of them is pending.
test('a pending call keeps the process alive, and a settled one lets it exit', { timeout: 30_000 }, () => {
  const { spawnSync } = require('node:child_process');
  const script = `
    const binding = require(${JSON.stringify(require.resolve('../binding.js'))});
    binding.promiseRoundTrip(10000).then(() => console.log('settled'));
    process.on('exit', () => console.log('exit'));`;
  const run = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 20_000 });
  assert.equal(run.error, undefined, 'the process did not exit within 20 s');
  assert.equal(run.status, 0, run.stderr);
  assert.deepEqual(run.stdout.trim().split('\n'), ['settled', 'exit']);
});

test('a worker thread that exits with calls pending leaves the others working', { timeout: 60_000 }, async () => {
  const { Worker } = require('node:worker_threads');
  const bindingPath = require.resolve('../binding.js');
  for (let round = 0; round < 3; round++) {
    const worker = new Worker(
      `const binding = require(${JSON.stringify(bindingPath)});
       for (let i = 0; i < 500; i++) binding.promiseRoundTrip(100);
       setTimeout(() => process.exit(0), 1);`,
      { eval: true },
    );
    assert.equal(await new Promise((resolve) => worker.on('exit', resolve)), 0);
  }
  const binding = require('../binding.js');
  const results = await Promise.all(Array.from({ length: 200 }, () => binding.promiseRoundTrip()));
  assert.equal(results.length, 200);
  assert.ok(results.every((r) => r === undefined));
});
