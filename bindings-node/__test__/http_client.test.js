'use strict';
// DaprClient with CommunicationProtocolEnum.HTTP against a real dapr-rs sidecar: calls go to its
// HTTP API on daprPort (default DAPR_HTTP_PORT), whatever the gRPC variables say; streaming
// subscriptions, which only the gRPC API serves, still go to DAPR_GRPC_PORT. (Bulk publish over
// HTTP: client.test.js; a trace it continues: tracing.test.js.)

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { DaprClient, DaprServer, InvalidArgumentError, PubsubNotFoundError, SidecarUnavailableError, CommunicationProtocolEnum } = require('..');
const { Sidecar, Inbox, freePort, resourcesDir } = require('./sidecar.js');

const PUBSUB = 'order_pub_sub';
const { HTTP } = CommunicationProtocolEnum;
const UNAUTHENTICATED = 16;

/** Runs `fn` with the environment variables `vars` set (undefined: unset), then restores them. */
async function withEnv(vars, fn) {
  const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  const set = (values) => {
    for (const [k, v] of Object.entries(values)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  };
  set(vars);
  try {
    return await fn();
  } finally {
    set(saved);
  }
}

let inbox;
let server;
let sidecar;
let deadPort;

before(async () => {
  inbox = new Inbox();
  server = new DaprServer({ serverHost: '127.0.0.1', serverPort: 0 });
  for (const topic of ['orders', 'positional', 'typed']) await server.pubsub.subscribe(PUBSUB, topic, inbox.handler());
  await server.startServer();
  const resources = resourcesDir([{ name: PUBSUB, type: 'pubsub.in-memory' }]);
  sidecar = await Sidecar.start({ appId: 'checkout', resources, appPort: server.port, env: { DAPR_API_TOKEN: 's3cret' } });
  await sidecar.waitHttp('/v1.0/healthz', 204);
  deadPort = await freePort();
});

after(async () => {
  await sidecar?.stop();
  await server?.stop();
});

test('an HTTP client calls DAPR_HTTP_PORT, and a wrong gRPC port or endpoint does not matter', async () => {
  const wrongGrpc = { DAPR_GRPC_PORT: String(deadPort), DAPR_GRPC_ENDPOINT: `http://127.0.0.1:${deadPort}`, DAPR_API_TOKEN: 's3cret' };
  await withEnv({ ...wrongGrpc, DAPR_HTTP_PORT: String(sidecar.httpPort), DAPR_HTTP_ENDPOINT: undefined, DAPR_RUNTIME_HOST: undefined }, async () => {
    const client = new DaprClient({ communicationProtocol: HTTP });
    await client.start();
    assert.equal(await client.health.isHealthy(), true);
    await client.pubsub.publish(PUBSUB, 'orders', { orderId: 1 });
    const [got] = await inbox.take(1);
    assert.deepEqual(got.data, { orderId: 1 });
    assert.equal(got.cloudEvent.datacontenttype, 'application/json');

    // The gRPC client of the same environment proves the gRPC port is indeed wrong.
    assert.equal(await new DaprClient().health.isHealthy(), false);
  });
});

test('the positional form takes the HTTP port given, and DAPR_HTTP_PORT over DAPR_GRPC_PORT', async () => {
  await withEnv({ DAPR_GRPC_PORT: String(deadPort), DAPR_HTTP_PORT: String(deadPort), DAPR_API_TOKEN: 's3cret' }, async () => {
    // As the quickstart publisher: new DaprClient(daprHost, process.env.DAPR_HTTP_PORT, HTTP).
    const client = new DaprClient('127.0.0.1', String(sidecar.httpPort), HTTP);
    await client.pubsub.publish(PUBSUB, 'positional', 42);
    const [got] = await inbox.take(1);
    assert.equal(got.data, 42);
  });
});

test('content type and publish metadata travel over HTTP, percent-encoded', async () => {
  const client = new DaprClient({ daprHost: '127.0.0.1', daprPort: sidecar.httpPort, communicationProtocol: HTTP, daprApiToken: 's3cret' });
  const metadata = { 'cloudevent.id': 'order 7/é&x=y', 'cloudevent.type': 'com.example.order' };
  await client.pubsub.publish(PUBSUB, 'typed', '<order id="7"/>', { contentType: 'application/xml', metadata });
  const [got] = await inbox.take(1);
  assert.equal(got.cloudEvent.datacontenttype, 'application/xml');
  assert.equal(got.cloudEvent.id, 'order 7/é&x=y');
  assert.equal(got.cloudEvent.type, 'com.example.order');
  assert.equal(got.data, '<order id="7"/>');

  await client.pubsub.publish(PUBSUB, 'typed', Buffer.from([0, 1, 255]));
  const [bytes] = await inbox.take(1);
  assert.equal(bytes.cloudEvent.datacontenttype, 'application/octet-stream');
  assert.deepEqual(bytes.data, Buffer.from([0, 1, 255]));
});

test("the sidecar's errors over HTTP are the DaprErrors gRPC gives, with their errorCode", async () => {
  const client = new DaprClient({ daprHost: '127.0.0.1', daprPort: sidecar.httpPort, communicationProtocol: HTTP, daprApiToken: 's3cret' });
  await assert.rejects(client.pubsub.publish('nope', 'orders', 'x'), (e) => {
    assert.ok(e instanceof PubsubNotFoundError, e.stack);
    assert.equal(e.errorCode, 'ERR_PUBSUB_NOT_FOUND');
    assert.match(e.detail, /nope/);
    return true;
  });
  await assert.rejects(client.pubsub.publishBulk('nope', 'orders', ['x']), PubsubNotFoundError);

  const wrongToken = new DaprClient({ daprHost: '127.0.0.1', daprPort: sidecar.httpPort, communicationProtocol: HTTP, daprApiToken: 'wrong' });
  await assert.rejects(wrongToken.pubsub.publish(PUBSUB, 'orders', 'no'), { grpcCode: UNAUTHENTICATED, errorCode: 'ERR_UNAUTHORIZED' });

  const nobody = new DaprClient({ daprHost: '127.0.0.1', daprPort: deadPort, communicationProtocol: HTTP });
  assert.equal(await nobody.health.isHealthy(), false);
  await assert.rejects(nobody.pubsub.publish(PUBSUB, 'orders', 'x'), SidecarUnavailableError);
  assert.throws(() => new DaprClient({ communicationProtocol: 7 }), InvalidArgumentError);
  await inbox.nothingFor(300);
});

test('an HTTP client opens streaming subscriptions on the gRPC API', async () => {
  await withEnv({ DAPR_GRPC_PORT: String(sidecar.grpcPort), DAPR_GRPC_ENDPOINT: undefined, DAPR_RUNTIME_HOST: undefined }, async () => {
    const client = new DaprClient({ daprHost: '127.0.0.1', daprPort: sidecar.httpPort, communicationProtocol: HTTP, daprApiToken: 's3cret' });
    const stream = await client.pubsub.subscribeStream(PUBSUB, 'streamed');
    try {
      await client.pubsub.publish(PUBSUB, 'streamed', 'over http, back over grpc');
      let timer;
      const deadline = new Promise((_, reject) => (timer = setTimeout(() => reject(new Error('no streamed event within 20 s')), 20_000)));
      const message = await Promise.race([stream.next(), deadline]).finally(() => clearTimeout(timer));
      assert.equal(message.data, 'over http, back over grpc');
      message.ack();
    } finally {
      stream.close();
    }
  });
});
