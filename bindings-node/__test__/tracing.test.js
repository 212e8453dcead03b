'use strict';
// With @opentelemetry/api (and a context manager, as an SDK registers one), a publish continues
// the active span and a handler runs inside its event's trace context; an explicit `traceparent`
// option wins. The sidecar does not trace here, so the CloudEvent carries the publisher's context
// as it was sent, and the handler must see exactly that.

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { AsyncLocalStorage } = require('node:async_hooks');
const otel = require('@opentelemetry/api');
const { DaprClient, DaprServer, CommunicationProtocolEnum } = require('..');
const { Sidecar, Inbox, resourcesDir } = require('./sidecar.js');

const PUBSUB = 'order_pub_sub';

/** The smallest context manager: what @opentelemetry/context-async-hooks does, on AsyncLocalStorage. */
class StorageContextManager {
  #storage = new AsyncLocalStorage();
  active() {
    return this.#storage.getStore() ?? otel.ROOT_CONTEXT;
  }
  with(context, fn, thisArg, ...args) {
    return this.#storage.run(context, () => fn.call(thisArg, ...args));
  }
  bind(context, target) {
    return target;
  }
  enable() {
    return this;
  }
  disable() {
    this.#storage.disable();
    return this;
  }
}

const inbox = new Inbox();
let server;
let sidecar;
let client;

before(async () => {
  otel.context.setGlobalContextManager(new StorageContextManager());
  server = new DaprServer({ serverHost: '127.0.0.1', serverPort: 0, communicationProtocol: CommunicationProtocolEnum.GRPC });
  await server.pubsub.subscribe(PUBSUB, 'traced', async (data, ce) => {
    await new Promise((resolve) => setImmediate(resolve)); // the context survives an await
    inbox.push({ data, traceparent: ce.traceparent, tracestate: ce.tracestate, active: otel.trace.getSpanContext(otel.context.active()) });
  });
  await server.startServer();
  sidecar = await Sidecar.start({ appId: 'traced', resources: resourcesDir([{ name: PUBSUB, type: 'pubsub.in-memory' }]), appPort: server.port, protocol: 'grpc' });
  await sidecar.waitHttp('/v1.0/healthz', 204);
  client = new DaprClient(sidecar.clientOptions);
});

after(async () => {
  await sidecar?.stop();
  await server?.stop();
  otel.context.disable();
});

test('a publish continues the active span and the handler runs in the event context', async () => {
  const sc = { traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: '00f067aa0ba902b7', traceFlags: 1, traceState: otel.createTraceState('vendor=v1') };
  await otel.context.with(otel.trace.setSpanContext(otel.ROOT_CONTEXT, sc), () => client.pubsub.publish(PUBSUB, 'traced', { n: 1 }));
  await client.pubsub.publish(PUBSUB, 'traced', { n: 2 }, { traceparent: '00-11112222333344445555666677778888-9999aaaabbbbcccc-00' });
  await client.pubsub.publish(PUBSUB, 'traced', { n: 3 });
  const got = new Map((await inbox.take(3)).map((g) => [g.data.n, g]));

  assert.equal(got.get(1).traceparent, '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01');
  assert.equal(got.get(1).tracestate, 'vendor=v1');
  assert.equal(got.get(1).active.traceId, sc.traceId);
  assert.equal(got.get(1).active.spanId, sc.spanId);
  assert.equal(got.get(1).active.isRemote, true);
  assert.equal(got.get(1).active.traceState.get('vendor'), 'v1');

  assert.equal(got.get(2).traceparent, '00-11112222333344445555666677778888-9999aaaabbbbcccc-00', 'an explicit traceparent wins');
  assert.equal(got.get(2).active.traceId, '11112222333344445555666677778888');
  assert.equal(got.get(2).active.traceFlags, 0);

  // Outside any span the sidecar starts a trace of its own; the handler runs in it.
  const [, fresh] = /^00-([0-9a-f]{32})-[0-9a-f]{16}-0[01]$/.exec(got.get(3).traceparent) ?? [];
  assert.ok(fresh && fresh !== sc.traceId, got.get(3).traceparent);
  assert.equal(got.get(3).active.traceId, fresh);
});

test('a bulk publish continues the active span or the trace given, over gRPC and HTTP', async () => {
  const traceIdOf = (traceparent) => /^00-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$/.exec(traceparent ?? '')?.[1];
  const active = { traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331', traceFlags: 1, traceState: otel.createTraceState('vendor=bulk') };
  await otel.context.with(otel.trace.setSpanContext(otel.ROOT_CONTEXT, active), () => client.pubsub.publishBulk(PUBSUB, 'traced', [{ n: 10 }, { n: 11 }]));
  const http = new DaprClient({ daprHost: '127.0.0.1', daprPort: sidecar.httpPort, communicationProtocol: CommunicationProtocolEnum.HTTP });
  const given = '00-aaaabbbbccccddddeeeeffff00001111-2222333344445555-01';
  await http.pubsub.publishBulk(PUBSUB, 'traced', [{ n: 12 }], undefined, { traceparent: given, tracestate: 'vendor=http' });
  await otel.context.with(otel.trace.setSpanContext(otel.ROOT_CONTEXT, active), () => http.pubsub.publishBulk(PUBSUB, 'traced', [{ n: 13 }]));
  const got = new Map((await inbox.take(4)).map((g) => [g.data.n, g]));

  for (const n of [10, 11, 13]) {
    assert.equal(traceIdOf(got.get(n).traceparent), active.traceId, `message ${n}: ${got.get(n).traceparent}`);
    assert.equal(got.get(n).tracestate, 'vendor=bulk', `message ${n}`);
    assert.equal(got.get(n).active.traceId, active.traceId, `message ${n}'s handler runs in the trace`);
  }
  assert.equal(traceIdOf(got.get(12).traceparent), 'aaaabbbbccccddddeeeeffff00001111', got.get(12).traceparent);
  assert.equal(got.get(12).tracestate, 'vendor=http');
});
