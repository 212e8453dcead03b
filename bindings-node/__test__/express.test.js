'use strict';
// DaprServer's HTTP routes in the app's own Express app: `serverHttp` (start() listens with the
// app) and `router()` (the app mounts and listens itself), each behind a real dapr-rs sidecar on
// the embedded broker: the quickstart's orders, RETRY and DROP, the app's own routes and body
// parsers. Then calls made straight to the app, answered by core's HTTP app rules.

const { test, describe, before, after } = require('node:test');
const assert = require('node:assert/strict');
const http = require('node:http');
const path = require('node:path');
const { spawn } = require('node:child_process');
const express = require('express');
const { CommunicationProtocolEnum, DaprClient, DaprError, DaprPubSubStatusEnum, DaprServer, InvalidArgumentError } = require('..');
const { Sidecar, Inbox, freePort, sqliteResources } = require('./sidecar.js');

const PUBSUB = 'order_pub_sub';
const ORDERS = Array.from({ length: 10 }, (_, i) => i + 1);

/** The quickstart's publisher: orders 1 to 10 over the sidecar's HTTP API. */
async function publishOrders(sidecar, topic = 'orders') {
  const client = new DaprClient('127.0.0.1', String(sidecar.httpPort), CommunicationProtocolEnum.HTTP);
  for (const orderId of ORDERS) await client.pubsub.publish(PUBSUB, topic, orderId);
}

const sorted = (items) => items.map((i) => i.data).sort((a, b) => a - b);

/** Listens with `app` on a free loopback port, as an app serving router() does itself. */
function appListen(app) {
  return new Promise((resolve, reject) => {
    const server = http.createServer(app);
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve(server));
  });
}

async function get(port, urlPath, headers = {}) {
  const res = await fetch(`http://127.0.0.1:${port}${urlPath}`, { headers, signal: AbortSignal.timeout(10_000) });
  return { status: res.status, type: res.headers.get('content-type'), text: await res.text() };
}

/** A POST straight to the app (node:http, so header values may carry any byte). */
function post(port, urlPath, body, headers = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: urlPath, method: 'POST', headers, timeout: 10_000 }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, type: res.headers['content-type'], text: Buffer.concat(chunks).toString() }));
    });
    req.on('timeout', () => req.destroy(new Error(`POST ${urlPath} got no answer in 10 s`)));
    req.on('error', reject);
    req.end(body);
  });
}

const cloudEvent = (data, extra = {}) =>
  JSON.stringify({ specversion: '1.0', id: `ce-${Math.random()}`, source: 'test', type: 'order', topic: 'orders', pubsubname: PUBSUB, datacontenttype: 'application/json', data, ...extra });
const CE_HEADERS = { 'content-type': 'application/cloudevents+json' };

describe('serverHttp: start() serves the subscriptions with the app\'s Express app', () => {
  const inbox = new Inbox();
  const attempts = new Map(); // topic/event id → deliveries seen
  const seen = (topic, ce) => {
    const key = `${topic}/${ce.id}`;
    attempts.set(key, (attempts.get(key) ?? 0) + 1);
    return attempts.get(key);
  };
  let server;
  let sidecar;
  let appPort;

  before(async () => {
    const app = express();
    app.get('/hello', (req, res) => res.send('hello from the app'));
    const ports = await Sidecar.freePorts();
    appPort = await freePort();
    server = new DaprServer({ serverHost: '127.0.0.1', serverPort: appPort, serverHttp: app, clientOptions: { daprHost: '127.0.0.1', daprPort: ports.grpcPort } });
    await server.pubsub.subscribe(PUBSUB, 'orders', async (data, ce) => inbox.push({ topic: 'orders', data, cloudEvent: ce }));
    await server.pubsub.subscribe(PUBSUB, 'flaky', (data, ce) => {
      const attempt = seen('flaky', ce);
      if (attempt === 1) throw new Error('not yet');
      inbox.push({ topic: 'flaky', data, attempt });
    });
    await server.pubsub.subscribe(PUBSUB, 'dropped', (data, ce) => {
      inbox.push({ topic: 'dropped', data, attempt: seen('dropped', ce) });
      return DaprPubSubStatusEnum.DROP;
    });
    // The sidecar first, as `dapr run` starts it: it waits for the app port to open.
    sidecar = await Sidecar.start({ appId: 'checkout', resources: sqliteResources(PUBSUB), appPort, ports });
    // As the quickstart: start() listens, then waits for the sidecar.
    await server.start();
    await sidecar.waitHttp('/v1.0/healthz', 204);
  });

  after(async () => {
    await sidecar?.stop();
    await server?.stop();
  });

  test("the quickstart's 10 orders arrive through the sidecar", async () => {
    assert.equal(server.port, appPort);
    await publishOrders(sidecar);
    const got = await inbox.take(ORDERS.length);
    assert.deepEqual(sorted(got), ORDERS);
    assert.ok(got.every((g) => g.topic === 'orders' && g.cloudEvent.topic === 'orders' && g.cloudEvent.pubsubname === PUBSUB));
  });

  test("the app's own route keeps working beside GET /dapr/subscribe, which core answers", async () => {
    assert.deepEqual(await get(appPort, '/hello'), { status: 200, type: 'text/html; charset=utf-8', text: 'hello from the app' });
    const document = await get(appPort, '/dapr/subscribe');
    assert.equal(document.status, 200);
    assert.equal(document.type, 'application/json');
    const topics = JSON.parse(document.text).map((s) => [s.pubsubname, s.topic, s.routes.default]);
    assert.deepEqual(topics.sort(), [
      [PUBSUB, 'dropped', `/events/${PUBSUB}/dropped`],
      [PUBSUB, 'flaky', `/events/${PUBSUB}/flaky`],
      [PUBSUB, 'orders', `/events/${PUBSUB}/orders`],
    ]);
    assert.equal((await get(appPort, '/nowhere')).status, 404);
  });

  test('a handler that throws gets the event again (RETRY)', async () => {
    await sidecar.waitHttp('/v1.0/healthz', 204);
    await new DaprClient(sidecar.clientOptions).pubsub.publish(PUBSUB, 'flaky', { orderId: 11 });
    const [got] = await inbox.take(1);
    assert.deepEqual(got, { topic: 'flaky', data: { orderId: 11 }, attempt: 2 });
  });

  test('an event answered DROP is not delivered again', async () => {
    await new DaprClient(sidecar.clientOptions).pubsub.publish(PUBSUB, 'dropped', { orderId: 12 });
    const [got] = await inbox.take(1);
    assert.deepEqual(got, { topic: 'dropped', data: { orderId: 12 }, attempt: 1 });
    // A RETRY comes back well within this (in ~0.1 s: the throwing handler's test above).
    await inbox.nothingFor(2_000);
  });

  test('stop() closes the listener it opened', async () => {
    await server.stop();
    await assert.rejects(get(appPort, '/hello'), /fetch failed/);
  });
});

describe("router(): the app mounts the routes after its own JSON body parser, and listens itself", () => {
  const inbox = new Inbox();
  const warnings = [];
  const onWarning = (w) => warnings.push(w);
  let server;
  let sidecar;
  let httpServer;

  before(async () => {
    process.on('warning', onWarning);
    const app = express();
    // Parses the single deliveries (application/cloudevents+json) and bulk ones (application/json).
    app.use(express.json({ type: ['application/json', 'application/*+json'] }));
    app.post('/echo', (req, res) => res.json({ echoed: req.body }));
    const ports = await Sidecar.freePorts();
    server = new DaprServer({ clientOptions: { daprHost: '127.0.0.1', daprPort: ports.grpcPort } });
    await server.pubsub.subscribe(PUBSUB, 'orders', async (data, ce) => inbox.push({ topic: 'orders', data, cloudEvent: ce }));
    await server.pubsub.subscribeBulk(PUBSUB, 'batched', async (data) => inbox.push({ topic: 'batched', data }), { maxMessagesCount: 10, maxAwaitDurationMs: 50 });
    app.use(server.router());
    httpServer = await appListen(app);
    sidecar = await Sidecar.start({ appId: 'checkout', resources: sqliteResources(PUBSUB), appPort: httpServer.address().port, ports });
    await sidecar.waitHttp('/v1.0/healthz', 204);
  });

  after(async () => {
    process.off('warning', onWarning);
    await sidecar?.stop();
    httpServer?.closeAllConnections();
    await new Promise((resolve) => (httpServer ? httpServer.close(resolve) : resolve()));
  });

  test("the quickstart's 10 orders arrive, their JSON parsed by the app first", async () => {
    await publishOrders(sidecar);
    const got = await inbox.take(ORDERS.length);
    assert.deepEqual(sorted(got), ORDERS);
    // The parsed body was serialized again for core, and the app told why that can lose digits.
    assert.deepEqual(warnings.filter((w) => w.code === 'DAPR_RS_PARSED_DELIVERY').length, 1);
  });

  test('a bulk delivery parsed by the app hands over each event', async () => {
    const res = await new DaprClient(sidecar.clientOptions).pubsub.publishBulk(PUBSUB, 'batched', [1, 2, 3, 4, 5]);
    assert.deepEqual(res.failedMessages, []);
    const got = await inbox.take(5);
    assert.deepEqual(sorted(got), [1, 2, 3, 4, 5]);
  });

  test("the app's own routes keep its body parser", async () => {
    const echoed = await post(httpServer.address().port, '/echo', JSON.stringify({ a: 1 }), { 'content-type': 'application/json' });
    assert.deepEqual({ status: echoed.status, body: JSON.parse(echoed.text) }, { status: 200, body: { echoed: { a: 1 } } });
  });

  test('subscribing ends at router(), and the routes are not served twice', async () => {
    assert.equal(server.router(), server.router());
    await assert.rejects(server.pubsub.subscribe(PUBSUB, 'late', () => undefined), InvalidArgumentError);
    await assert.rejects(server.startServer(), (e) => e instanceof InvalidArgumentError && /router\(\)/.test(e.message));
  });
});

describe('calls straight to the app, answered by core', () => {
  /** An Express app serving a DaprServer's subscriptions (serverHttp): `setup` runs on it before
   * the DaprServer is made, `finish` after. */
  async function serve(setup, subscribe, finish = () => {}) {
    const app = express();
    setup(app);
    const server = new DaprServer({ serverHost: '127.0.0.1', serverPort: 0, serverHttp: app });
    finish(app);
    await subscribe(server);
    await server.startServer();
    return server;
  }

  test('statuses, a throw and a body that is no CloudEvent, after a text body parser', async () => {
    const got = [];
    const server = await serve(
      (app) => app.use(express.text({ type: '*/*' })),
      async (s) => {
        await s.pubsub.subscribe(PUBSUB, 'orders', (data, ce) => {
          got.push({ data, metadata: ce.metadata });
          return data.answer;
        });
        await s.pubsub.subscribe(PUBSUB, 'broken', () => {
          throw new Error('handler bug');
        });
      },
    );
    try {
      const route = `/events/${PUBSUB}/orders`;
      const reply = async (body, headers = CE_HEADERS) => {
        const r = await post(server.port, route, body, headers);
        return { status: r.status, type: r.type, text: r.text };
      };
      const json = (status) => ({ status: 200, type: 'application/json', text: JSON.stringify({ status }) });
      assert.deepEqual(await reply(cloudEvent({ orderId: 1 })), json('SUCCESS'));
      assert.deepEqual(await reply(cloudEvent({ answer: 'drop' })), json('DROP'));
      assert.deepEqual(await reply(cloudEvent({ answer: 'PERHAPS' })), json('RETRY'));
      const thrown = await post(server.port, `/events/${PUBSUB}/broken`, cloudEvent(1), CE_HEADERS);
      assert.deepEqual(JSON.parse(thrown.text), { status: 'RETRY' });
      const refused = await reply('not json');
      assert.deepEqual([refused.status, refused.text], [400, 'the body is not a CloudEvent JSON object']);
      // A header's UTF-8 bytes (as Node's client sends 'é') reach the metadata as they were sent,
      // though Node's server reads each byte as a character.
      await reply(cloudEvent({ orderId: 2 }), { ...CE_HEADERS, 'x-tenant': 'café' });
      assert.deepEqual(got.map((g) => g.data), [{ orderId: 1 }, { answer: 'drop' }, { answer: 'PERHAPS' }, { orderId: 2 }]);
      assert.equal(got[3].metadata['x-tenant'], 'café');
    } finally {
      await server.stop();
    }
  });

  test('APP_API_TOKEN is required on every call once set', async () => {
    process.env.APP_API_TOKEN = 'app-secret';
    let server;
    try {
      server = await serve(() => {}, (s) => s.pubsub.subscribe(PUBSUB, 'orders', () => undefined));
    } finally {
      delete process.env.APP_API_TOKEN;
    }
    try {
      assert.equal((await get(server.port, '/dapr/subscribe')).status, 401);
      assert.equal((await get(server.port, '/dapr/subscribe', { 'dapr-api-token': 'app-secret' })).status, 200);
      assert.equal((await post(server.port, `/events/${PUBSUB}/orders`, cloudEvent(1), CE_HEADERS)).status, 401);
      const allowed = await post(server.port, `/events/${PUBSUB}/orders`, cloudEvent(1), { ...CE_HEADERS, 'dapr-api-token': 'app-secret' });
      assert.deepEqual(JSON.parse(allowed.text), { status: 'SUCCESS' });
    } finally {
      await server.stop();
    }
  });

  test('a middleware that read the body and left none gets a clear error', async () => {
    let delivered = false;
    const server = await serve(
      (app) => app.use((req, res, next) => req.resume().on('end', () => next())),
      (s) => s.pubsub.subscribe(PUBSUB, 'orders', () => (delivered = true)),
      // The app's error handler, after the routes, gets what they passed to next().
      (app) => app.use((err, req, res, next) => res.status(500).send(`${err.name}: ${err.message}`)),
    );
    try {
      const res = await post(server.port, `/events/${PUBSUB}/orders`, cloudEvent(1), CE_HEADERS);
      assert.equal(res.status, 500);
      assert.match(res.text, /^DaprError: the body of the Dapr delivery to \/events\/order_pub_sub\/orders was read by a middleware/);
      assert.match(res.text, /mount the DaprServer \(or its router\(\)\) before that middleware$/);
      assert.equal(delivered, false);
    } finally {
      await server.stop();
    }
  });

  test('bad serverHttp and the gRPC protocol are refused', () => {
    assert.throws(() => new DaprServer({ serverHttp: {} }), (e) => e instanceof InvalidArgumentError && /serverHttp must be an Express app/.test(e.message));
    assert.throws(
      () => new DaprServer({ serverHttp: express(), communicationProtocol: CommunicationProtocolEnum.GRPC }),
      (e) => e instanceof InvalidArgumentError && /GRPC/.test(e.message),
    );
    assert.throws(() => new DaprServer({ communicationProtocol: CommunicationProtocolEnum.GRPC }).router(), InvalidArgumentError);
  });

  test('a port already taken fails start() with a DaprError', async () => {
    const taken = await appListen(express());
    try {
      const server = new DaprServer({ serverHost: '127.0.0.1', serverPort: taken.address().port, serverHttp: express() });
      await assert.rejects(server.startServer(), (e) => e instanceof DaprError && /cannot listen on 127\.0\.0\.1:\d+: .*EADDRINUSE/.test(e.message));
    } finally {
      await new Promise((resolve) => taken.close(resolve));
    }
  });

  test('a process serving router() ends once its own server closes', async () => {
    // Handlers are called through a dispatcher that must not keep the event loop alive by itself.
    const script = `
      const express = require('express');
      const { DaprServer } = require(${JSON.stringify(path.resolve(__dirname, '..'))});
      const server = new DaprServer();
      server.pubsub.subscribe('ps', 'orders', () => undefined).then(() => {
        const app = express();
        app.use(server.router());
        const listening = app.listen(0, '127.0.0.1', async () => {
          const res = await fetch('http://127.0.0.1:' + listening.address().port + '/events/ps/orders', {
            method: 'POST', headers: { 'content-type': 'application/cloudevents+json' }, body: JSON.stringify({ id: '1', data: 1 }),
          });
          console.log(await res.text());
          listening.close();
        });
      });`;
    const child = spawn(process.execPath, ['-e', script], { cwd: path.resolve(__dirname, '..'), stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c) => (out += c));
    child.stderr.on('data', (c) => (out += c));
    const exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
    let timer;
    const deadline = new Promise((resolve) => {
      timer = setTimeout(() => resolve('still running after 15 s'), 15_000);
    });
    const code = await Promise.race([exited, deadline]);
    clearTimeout(timer);
    if (typeof code === 'string') {
      child.kill('SIGKILL');
      await exited;
    }
    assert.deepEqual({ code, out: out.trim() }, { code: 0, out: '{"status":"SUCCESS"}' });
  });
});
