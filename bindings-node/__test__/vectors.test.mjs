// The shared vectors of tests/vectors/ through this binding's public API: content types and
// envelopes published through a real sidecar and received by a DaprServer, handler answers as the
// sidecar's HTTP delivery gets them, errors as the DaprErrors rejected, routing as the handler each
// event reaches. The expectations are the vectors'; nothing here restates a rule.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import * as dapr from '../index.mjs';

const { CommunicationProtocolEnum, DaprClient, DaprError, DaprPubSubStatusEnum, DaprServer } = dapr;

const require = createRequire(import.meta.url);
const { Sidecar, freePort, resourcesDir, sleep, ROOT } = require('./sidecar.js');

const LANGUAGE = 'node';
const load = (name) => JSON.parse(fs.readFileSync(path.join(ROOT, 'tests', 'vectors', name), 'utf8'));
const CONTENT_TYPES = load('content_types.json');
const ENVELOPES = load('envelopes.json');
const ANSWERS = load('handler_answers.json');
const ERRORS = load('errors.json');
const ROUTING = load('routing.json');

const PUBSUB = 'order_pub_sub';
const RAW = { rawPayload: 'true' };
const forNode = (c) => (c.languages ?? [LANGUAGE]).includes(LANGUAGE);

/** The bytes of a data form: utf8, base64, or json (as JSON.stringify writes it). */
function bytesOf(form) {
  if ('utf8' in form) return Buffer.from(form.utf8, 'utf8');
  if ('base64' in form) return Buffer.from(form.base64, 'base64');
  return Buffer.from(JSON.stringify(form.json), 'utf8');
}

/**
 * A delivered payload (core decoded it by its content type: a Buffer, a string, or a JSON value)
 * against a data form: `json` as a value, `utf8` and `base64` byte for byte.
 */
function assertData(data, form, what) {
  const isBytes = Buffer.isBuffer(data) || data instanceof Uint8Array;
  if ('json' in form) {
    assert.deepEqual(isBytes ? JSON.parse(Buffer.from(data).toString('utf8')) : data, form.json, what);
    return;
  }
  assert.ok(isBytes || typeof data === 'string', `${what}: bytes or text expected, got ${JSON.stringify(data)}`);
  assert.equal(Buffer.from(data).toString('base64'), bytesOf(form).toString('base64'), what);
}

/** The CloudEvent attributes of a delivered cloudEvent, data aside; core's attributes that are "" were absent. */
function attributesOf(cloudEvent) {
  const core = new Set(['id', 'source', 'type', 'specversion', 'datacontenttype']);
  return Object.fromEntries(Object.entries(cloudEvent).filter(([k, v]) => k !== 'data' && !(core.has(k) && v === '')));
}

/** Each expected attribute exactly, by {shape} or {same_as}; no attribute more. */
function assertAttributes(actual, expected, shapes, what) {
  assert.deepEqual(Object.keys(actual).sort(), Object.keys(expected).sort(), `${what}: attributes ${JSON.stringify(actual)}`);
  for (const [key, want] of Object.entries(expected)) {
    const got = actual[key];
    if (want !== null && typeof want === 'object' && 'shape' in want) {
      assert.match(String(got), new RegExp(shapes[want.shape]), `${what}: ${key} is no ${want.shape}`);
    } else if (want !== null && typeof want === 'object' && 'same_as' in want) {
      assert.equal(got, actual[want.same_as], `${what}: ${key} must equal ${want.same_as}`);
    } else {
      assert.deepEqual(got, want, `${what}: ${key}`);
    }
  }
}

/** Deliveries per topic, taken in arrival order; each wait has a deadline and says what it waited for. */
class Inboxes {
  #queues = new Map();

  #queue(topic) {
    if (!this.#queues.has(topic)) this.#queues.set(topic, { items: [], waiters: [] });
    return this.#queues.get(topic);
  }

  handler(topic, label) {
    const q = this.#queue(topic);
    return async (data, cloudEvent) => {
      const item = { label, data, cloudEvent };
      const waiter = q.waiters.shift();
      if (waiter) waiter(item);
      else q.items.push(item);
    };
  }

  async take(topic, timeoutMs = 20_000) {
    const q = this.#queue(topic);
    if (q.items.length > 0) return q.items.shift();
    let timer;
    let waiter;
    try {
      return await new Promise((resolve, reject) => {
        waiter = resolve;
        q.waiters.push(waiter);
        timer = setTimeout(() => reject(new Error(`nothing reached topic ${topic} within ${timeoutMs} ms`)), timeoutMs);
      });
    } finally {
      clearTimeout(timer);
      q.waiters = q.waiters.filter((w) => w !== waiter);
    }
  }

  left(topic) {
    return this.#queue(topic).items.splice(0);
  }
}

/** A DaprServer (gRPC app protocol) behind a real sidecar on the in-memory broker, and a client of it. */
async function startBench(appId, pubsub, subscribe) {
  const server = new DaprServer({ serverHost: '127.0.0.1', serverPort: 0, communicationProtocol: CommunicationProtocolEnum.GRPC });
  await subscribe(server);
  await server.startServer();
  let sidecar;
  try {
    sidecar = await Sidecar.start({ appId, resources: resourcesDir([{ name: pubsub, type: 'pubsub.in-memory' }]), appPort: server.port, protocol: 'grpc' });
    await sidecar.waitHttp('/v1.0/healthz', 204); // the app's subscriptions run
  } catch (e) {
    await sidecar?.stop();
    await server.stop();
    throw e;
  }
  const client = new DaprClient(sidecar.clientOptions);
  return { client, stop: async () => { await sidecar.stop(); await server.stop(); } };
}

describe('content_types.json', () => {
  const [PLAIN, RAW_TOPIC] = ['content-types', 'content-types-raw'];
  const inboxes = new Inboxes();
  let bench;
  before(async () => {
    bench = await startBench('checkout', PUBSUB, async (server) => {
      await server.pubsub.subscribe(PUBSUB, PLAIN, inboxes.handler(PLAIN));
      await server.pubsub.subscribe(PUBSUB, RAW_TOPIC, inboxes.handler(RAW_TOPIC), undefined, RAW);
    });
  });
  after(async () => bench?.stop());

  for (const c of CONTENT_TYPES.cases) {
    test(c.name, async () => {
      const expected = { ...c, ...(c.by_language?.[LANGUAGE] ?? {}) };
      const sent = expected.sent;
      const delivered = expected.delivered ?? sent;
      const value = 'json' in c.value ? c.value.json : Buffer.from(c.value.bytes, 'base64');
      const options = c.content_type === undefined ? {} : { contentType: c.content_type };

      // Published raw to a raw subscriber, the bytes arrive exactly as core sent them.
      await bench.client.pubsub.publish(PUBSUB, RAW_TOPIC, value, { ...options, metadata: RAW });
      assertData((await inboxes.take(RAW_TOPIC)).data, sent.data, 'bytes sent');

      await bench.client.pubsub.publish(PUBSUB, PLAIN, value, options);
      const { data, cloudEvent } = await inboxes.take(PLAIN);
      assert.equal(cloudEvent.datacontenttype, delivered.content_type);
      assertData(data, delivered.data, 'data delivered');
      for (const [name, want] of Object.entries(delivered.attributes ?? {})) assert.equal(cloudEvent[name], want, name);
    });
  }
});

describe('envelopes.json', () => {
  const { context, shapes } = ENVELOPES;
  const inboxes = new Inboxes();
  let bench;
  before(async () => {
    const rawByTopic = new Map(ENVELOPES.cases.map((c) => [c.publish.topic ?? context.topic, c.subscriber?.rawPayload ?? false]));
    bench = await startBench(context.app_id, context.pubsub_name, async (server) => {
      for (const [topic, raw] of rawByTopic) {
        await server.pubsub.subscribe(context.pubsub_name, topic, inboxes.handler(topic), undefined, raw ? RAW : undefined);
      }
    });
  });
  after(async () => bench?.stop());

  for (const c of ENVELOPES.cases) {
    test(c.name, async () => {
      const topic = c.publish.topic ?? context.topic;
      await bench.client.pubsub.publish(context.pubsub_name, topic, bytesOf(c.publish.data), {
        contentType: c.publish.content_type,
        metadata: c.publish.metadata,
      });
      const { data, cloudEvent } = await inboxes.take(topic);
      const expected = Object.fromEntries(Object.entries(c.envelope).filter(([k]) => k !== 'data' && k !== 'data_base64'));
      assertAttributes(attributesOf(cloudEvent), expected, shapes, c.name);
      assertData(data, c.delivered_data, 'data delivered');
    });
  }
});

describe('handler_answers.json', () => {
  const cases = ANSWERS.cases.filter(forNode);
  let server;

  /** A handler giving the case's answer in JavaScript's forms. */
  function handlerFor(c) {
    const { answer } = c;
    const answerNow = () => {
      if ('nothing' in answer) return undefined;
      if ('status' in answer) return DaprPubSubStatusEnum[answer.status];
      if ('word' in answer) return answer.word;
      if ('value' in answer) return answer.value;
      if ('throws' in answer) throw new Error(answer.throws);
      throw new Error(`${c.name}: no JavaScript form for ${JSON.stringify(answer)}`);
    };
    return c.async ? async () => answerNow() : () => answerNow();
  }

  before(async () => {
    // The HTTP app protocol: each answer is the reply the sidecar reads.
    server = new DaprServer({ serverHost: '127.0.0.1', serverPort: 0, communicationProtocol: CommunicationProtocolEnum.HTTP });
    for (const [i, c] of cases.entries()) await server.pubsub.subscribe(PUBSUB, `answers-${i}`, handlerFor(c), `/answers/${i}`);
    await server.startServer();
  });
  after(async () => server?.stop());

  for (const [i, c] of cases.entries()) {
    test(c.name, async () => {
      const event = { specversion: '1.0', id: `answer-${i}`, source: 'checkout', type: 'com.dapr.event.sent', datacontenttype: 'text/plain', data: 'x', topic: `answers-${i}`, pubsubname: PUBSUB };
      const res = await fetch(`http://127.0.0.1:${server.port}/answers/${i}`, {
        method: 'POST',
        headers: { 'content-type': 'application/cloudevents+json' },
        body: JSON.stringify(event),
        signal: AbortSignal.timeout(20_000),
      });
      assert.equal(res.status, 200);
      const expected = c.status_by_language?.[LANGUAGE]?.status ?? c.status;
      assert.deepEqual(await res.json(), { status: expected });
    });
  }
});

describe('errors.json', () => {
  const started = new Map();
  /** The class this binding raises for each of core's kinds. */
  const CLASS_OF_KIND = {
    pubsub_not_found: dapr.PubsubNotFoundError,
    topic_forbidden: dapr.TopicForbiddenError,
    invalid_argument: dapr.InvalidArgumentError,
    sidecar_unavailable: dapr.SidecarUnavailableError,
    timeout: dapr.DaprTimeoutError,
    other: DaprError,
  };

  /** Client options for a sidecar started (once) as `sidecars[setup]` says; for "none", an address nothing listens on. */
  async function clientOptions(setup) {
    if (setup === 'none') return { daprHost: '127.0.0.1', daprPort: await freePort() };
    if (!started.has(setup)) {
      const spec = ERRORS.sidecars[setup];
      started.set(setup, await Sidecar.start({ appId: ERRORS.app_id, resources: resourcesDir(spec.components), env: spec.env }));
    }
    return started.get(setup).clientOptions;
  }
  after(async () => {
    for (const s of started.values()) await s.stop();
  });

  for (const c of ERRORS.cases.filter((c) => !(LANGUAGE in (c.skip_by_language ?? {})))) {
    test(c.name, async () => {
      const { cause, raised } = c;
      assert.ok(cause.publish, `${c.name}: the only cause the public API can make here is a publish`);
      const client = new DaprClient({ ...(await clientOptions(cause.sidecar)), daprApiToken: cause.api_token });
      const p = cause.publish;
      await assert.rejects(client.pubsub.publish(p.pubsub_name, p.topic, bytesOf(p.data), { contentType: p.content_type, metadata: p.metadata }), (e) => {
        assert.ok(e instanceof DaprError, String(e));
        assert.equal(e.kind, raised.kind);
        assert.equal(e.constructor, CLASS_OF_KIND[raised.kind], `${e.name} for kind ${raised.kind}`);
        assert.equal(e.grpcCode, raised.grpc_code);
        assert.equal(e.errorCode ?? null, raised.error_code);
        return true;
      });
    });
  }
});

describe('routing.json', () => {
  const sets = ROUTING.rule_sets.filter(forNode);
  // After the last routed event arrived, how long an event no rule matched has to show up anyway.
  const STRAY_WAIT_MS = 500;
  const inboxes = new Inboxes();
  let bench;
  before(async () => {
    bench = await startBench(ROUTING.app_id, ROUTING.pubsub_name, async (server) => {
      for (const set of sets) {
        const rules = set.rules.filter((r) => r.match !== '');
        const defaults = set.rules.filter((r) => r.match === '');
        assert.ok(defaults.length === 0 || set.rules.at(-1).match === '', 'a binding\'s default route comes last');
        await server.pubsub.subscribeWithOptions(ROUTING.pubsub_name, set.topic, { route: { rules, default: defaults[0]?.path } });
        for (const r of set.rules) server.pubsub.subscribeToRoute(ROUTING.pubsub_name, set.topic, r.path, inboxes.handler(set.topic, r.path));
      }
    });
  });
  after(async () => bench?.stop());

  for (const set of sets) {
    test(set.name, async () => {
      // Those no rule matches go first, so one that arrived anyway shows before the wait ends.
      const ordered = [...set.events].sort((a, b) => Number(a.path !== null) - Number(b.path !== null));
      for (const c of ordered) {
        await bench.client.pubsub.publish(ROUTING.pubsub_name, set.topic, c.event, { contentType: 'application/cloudevents+json' });
      }
      const routed = set.events.filter((c) => c.path !== null);
      const got = {};
      for (let i = 0; i < routed.length; i++) {
        const { label, cloudEvent } = await inboxes.take(set.topic);
        got[cloudEvent.id] = label;
      }
      await sleep(STRAY_WAIT_MS);
      for (const { label, cloudEvent } of inboxes.left(set.topic)) got[cloudEvent.id] = label;
      assert.deepEqual(got, Object.fromEntries(routed.map((c) => [c.event.id, c.path])));
    });
  }
});
