'use strict';
// dapr-rs for Node.js: the @dapr/dapr API over the dapr-rs Rust core (binding.js, the napi-rs
// addon). This file only shapes JavaScript values: argument forms, payload serialization,
// handler calls. Every Dapr rule (content types, CloudEvents, statuses, routing) is in Rust.

const native = require('./binding.js');

/** How the app and the sidecar talk (values as in @dapr/dapr). The client always uses gRPC. */
const CommunicationProtocolEnum = Object.freeze({ HTTP: 0, GRPC: 1 });

/** What a subscription handler may return; `undefined` means SUCCESS, a throw means RETRY. */
const DaprPubSubStatusEnum = Object.freeze({ SUCCESS: 'SUCCESS', RETRY: 'RETRY', DROP: 'DROP' });

/** gRPC `INVALID_ARGUMENT`, for mistakes found before anything is sent. */
const INVALID_ARGUMENT = 3;
const SIDECAR_START_TIMEOUT_MS = 60_000;
const HEALTH_PROBE_TIMEOUT_MS = 1_000;
const DEFAULT_SERVER_HOST = '127.0.0.1';
const DEFAULT_SERVER_PORT = 3000;

/** A Dapr call failed: `grpcCode` is the gRPC status code, `errorCode` Dapr's (e.g. ERR_PUBSUB_NOT_FOUND). */
class DaprError extends Error {
  constructor(message, { grpcCode = 2, errorCode, cause } = {}) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = 'DaprError';
    this.grpcCode = grpcCode;
    this.errorCode = errorCode;
  }
}

// The native side sends core's errors as this prefix + JSON (bindings-node/src/errors.rs).
const NATIVE_ERROR_PREFIX = 'DAPR_RS_ERROR:';

function toDaprError(e) {
  if (e instanceof Error && e.message.startsWith(NATIVE_ERROR_PREFIX)) {
    const d = JSON.parse(e.message.slice(NATIVE_ERROR_PREFIX.length));
    return new DaprError(d.message, { grpcCode: d.grpcCode, errorCode: d.errorCode ?? undefined });
  }
  return e;
}

/** Runs a native call, its failure as a DaprError. */
async function nativeCall(fn) {
  try {
    return await fn();
  } catch (e) {
    throw toDaprError(e);
  }
}

function invalid(message) {
  return new DaprError(message, { grpcCode: INVALID_ARGUMENT });
}

function requireName(what, value) {
  if (typeof value !== 'string' || value === '') {
    throw invalid(`${what} must be a non-empty string, not ${JSON.stringify(value) ?? String(value)}`);
  }
  return value;
}

/** A port given as a number or a numeric string (e.g. process.env.DAPR_HTTP_PORT); empty means none. */
function portNumber(what, value, { allowZero = false } = {}) {
  if (value === undefined || value === null || value === '') return undefined;
  const port = typeof value === 'string' ? Number(value.trim()) : value;
  if (!Number.isInteger(port) || port < (allowZero ? 0 : 1) || port > 65535) {
    throw invalid(`${what} must be a port number (${allowZero ? 0 : 1}-65535), not ${JSON.stringify(value)}`);
  }
  return port;
}

/**
 * A payload as the native side takes it: [string | Buffer, isJson]. Strings and bytes go as they
 * are; anything else as JSON.stringify gives it. Core picks the content type from that.
 */
function payload(data) {
  if (data === undefined) return ['', false];
  if (typeof data === 'string' || Buffer.isBuffer(data)) return [data, false];
  if (ArrayBuffer.isView(data)) return [Buffer.from(data.buffer, data.byteOffset, data.byteLength), false];
  if (data instanceof ArrayBuffer) return [Buffer.from(data), false];
  const text = JSON.stringify(data);
  if (text === undefined) throw invalid(`cannot publish a ${typeof data}: it has no JSON form`);
  return [text, true];
}

/** Metadata values as the strings Dapr expects (true → "true", objects as JSON). */
function metadataStrings(metadata) {
  if (metadata === undefined || metadata === null) return undefined;
  const out = {};
  for (const [key, value] of Object.entries(metadata)) {
    if (value === undefined || value === null) continue;
    out[key] = typeof value === 'string' ? value : typeof value === 'object' ? JSON.stringify(value) : String(value);
  }
  return out;
}

/** `(options)` or the positional `(daprHost, daprPort, communicationProtocol, options)`. */
function clientOptions(args) {
  const [first, ...rest] = args;
  if (first !== null && typeof first === 'object') return first;
  const [daprPort, communicationProtocol, options] = rest;
  return { ...(options ?? {}), daprHost: first, daprPort, communicationProtocol };
}

function makeNativeClient(options) {
  // The client speaks gRPC only. With the HTTP protocol the port given is the sidecar's HTTP
  // port, so the gRPC one comes from the environment (DAPR_GRPC_PORT, set by `dapr run`).
  const grpcPort = options.communicationProtocol === CommunicationProtocolEnum.HTTP ? undefined : portNumber('daprPort', options.daprPort);
  const host = options.daprHost === undefined || options.daprHost === null ? undefined : String(options.daprHost);
  try {
    return new native.NativeClient(host, grpcPort, options.daprApiToken, options.timeoutMs);
  } catch (e) {
    throw toDaprError(e);
  }
}

/** A delivered event as (data, cloudEvent): data decoded by its content type (in core). */
function decodeEvent(ev) {
  const data = ev.dataKind === 'json' ? JSON.parse(ev.text) : ev.dataKind === 'text' ? ev.text : ev.bytes;
  const cloudEvent = {
    ...JSON.parse(ev.extensions),
    id: ev.id,
    source: ev.source,
    type: ev.type,
    specversion: ev.specversion,
    datacontenttype: ev.datacontenttype,
    topic: ev.topic,
    pubsubname: ev.pubsubname,
    data,
  };
  return { data, cloudEvent };
}

class PubSubClient {
  #native;

  constructor(nativeClient) {
    this.#native = nativeClient;
  }

  /**
   * Publishes one event. Without `contentType`, a string goes as text/plain, a Buffer or
   * Uint8Array as application/octet-stream, a CloudEvent-shaped object as
   * application/cloudevents+json and anything else as application/json.
   */
  async publish(pubSubName, topic, data, options = {}) {
    requireName('pubSubName', pubSubName);
    requireName('topic', topic);
    const [body, isJson] = payload(data);
    const n = this.#native;
    await nativeCall(() => n.publish(pubSubName, topic, body, isJson, options.contentType, metadataStrings(options.metadata)));
    return {};
  }

  /**
   * Publishes many events in one call. A message is a value, or `{ entryID, event, contentType,
   * metadata }`. Resolves to the messages the sidecar could not publish.
   */
  async publishBulk(pubSubName, topic, messages, metadata) {
    requireName('pubSubName', pubSubName);
    requireName('topic', topic);
    if (!Array.isArray(messages)) throw invalid('messages must be an array');
    const byId = new Map();
    const entries = messages.map((message, i) => {
      const isEntry = message !== null && typeof message === 'object' && !ArrayBuffer.isView(message) && 'event' in message;
      const entryId = isEntry && message.entryID !== undefined ? String(message.entryID) : String(i);
      if (byId.has(entryId)) throw invalid(`two bulk messages have the entryID ${JSON.stringify(entryId)}`);
      byId.set(entryId, message);
      const [data, isJson] = payload(isEntry ? message.event : message);
      return {
        entryId,
        data,
        isJson,
        contentType: isEntry ? message.contentType : undefined,
        metadata: isEntry ? metadataStrings(message.metadata) : undefined,
      };
    });
    const n = this.#native;
    const failed = await nativeCall(() => n.publishBulk(pubSubName, topic, entries, metadataStrings(metadata)));
    return {
      failedMessages: failed.map((f) => ({ message: byId.get(f.entryId), entryID: f.entryId, error: new DaprError(f.error) })),
    };
  }

  /**
   * A streaming subscription (no app port needed): an async iterable of messages, each to be
   * answered with ack(), retry() or drop(). It reconnects by itself after a sidecar restart.
   */
  async subscribeStream(pubSubName, topic, options = {}) {
    requireName('pubSubName', pubSubName);
    requireName('topic', topic);
    const n = this.#native;
    const stream = await nativeCall(() => n.subscribeStream(pubSubName, topic, options.deadLetterTopic, metadataStrings(options.metadata)));
    return new StreamSubscription(stream);
  }
}

/** One event of a streaming subscription. */
class StreamMessage {
  #stream;

  constructor(stream, ev) {
    this.#stream = stream;
    const { data, cloudEvent } = decodeEvent(ev);
    this.id = ev.id;
    this.data = data;
    this.cloudEvent = cloudEvent;
  }

  #respond(status) {
    try {
      this.#stream.respond(this.id, status);
    } catch (e) {
      throw toDaprError(e);
    }
  }

  ack() {
    this.#respond(DaprPubSubStatusEnum.SUCCESS);
  }

  retry() {
    this.#respond(DaprPubSubStatusEnum.RETRY);
  }

  drop() {
    this.#respond(DaprPubSubStatusEnum.DROP);
  }
}

class StreamSubscription {
  #stream;

  constructor(stream) {
    this.#stream = stream;
  }

  /** The next message, or null once closed. */
  async next() {
    const ev = await nativeCall(() => this.#stream.next());
    return ev === null ? null : new StreamMessage(this.#stream, ev);
  }

  /** Iterates the messages; leaving the loop (break, return, throw) closes the subscription. */
  async *[Symbol.asyncIterator]() {
    try {
      for (;;) {
        const message = await this.next();
        if (message === null) return;
        yield message;
      }
    } finally {
      this.close();
    }
  }

  /** Ends the subscription; unanswered messages are redelivered to another subscriber. */
  close() {
    this.#stream.close();
  }
}

class HealthClient {
  #native;

  constructor(nativeClient) {
    this.#native = nativeClient;
  }

  /** Whether the sidecar answers now. */
  async isHealthy() {
    const n = this.#native;
    return nativeCall(() => n.isHealthy(HEALTH_PROBE_TIMEOUT_MS));
  }
}

/**
 * A client of the Dapr sidecar: `new DaprClient({ daprHost, daprPort, daprApiToken })` or
 * `new DaprClient(daprHost, daprPort, communicationProtocol)`. Defaults come from
 * DAPR_GRPC_ENDPOINT, DAPR_RUNTIME_HOST / DAPR_GRPC_PORT and DAPR_API_TOKEN. Clients of one
 * sidecar share one connection; nothing connects until the first call.
 */
class DaprClient {
  #native;

  constructor(...args) {
    this.options = clientOptions(args);
    this.#native = makeNativeClient(this.options);
    this.pubsub = new PubSubClient(this.#native);
    this.health = new HealthClient(this.#native);
  }

  /** Resolves once the sidecar answers (rejects after 60 s). */
  async start() {
    const n = this.#native;
    await nativeCall(() => n.waitForSidecar(SIDECAR_START_TIMEOUT_MS));
  }

  /** Nothing to release: the connection is shared and closes with the process. */
  async stop() {}

  /** Asks the sidecar to shut down. */
  async shutdown() {
    const n = this.#native;
    await nativeCall(() => n.shutdown());
  }
}

/** Turns `route` (a path, or `{ default, rules: [{ match, path }] }`) into [{ path, match, priority }]. */
function routesOf(route) {
  if (route === undefined || route === null || route === '') return [{ path: undefined }];
  if (typeof route === 'string') return [{ path: route }];
  if (typeof route !== 'object') throw invalid(`route must be a string or { default, rules }, not ${typeof route}`);
  const routes = (route.rules ?? []).map((rule, priority) => {
    if (typeof rule?.match !== 'string' || typeof rule?.path !== 'string') {
      throw invalid('each route rule needs a match (a CEL expression) and a path');
    }
    return { path: rule.path, match: rule.match, priority };
  });
  if (route.default) routes.push({ path: route.default });
  return routes;
}

function routeKey(path) {
  return path === undefined ? '' : `/${path.replace(/^\/+/, '')}`;
}

/** The subscriptions of a DaprServer, laid out per pubsub/topic and route until it starts. */
class ServerPubSub {
  #topics = new Map();
  #started = () => false;

  constructor(isStarted) {
    this.#started = isStarted;
  }

  #topicOf(pubsubName, topic) {
    return this.#topics.get(`${pubsubName}\u0000${topic}`);
  }

  #register(pubsubName, topic, options, bulk) {
    requireName('pubsubName', pubsubName);
    requireName('topic', topic);
    if (this.#started()) throw invalid('subscriptions must be made before the server starts');
    if (this.#topicOf(pubsubName, topic)) {
      throw invalid(`${pubsubName}/${topic} is already subscribed; there can only be one subscription per topic`);
    }
    const entry = {
      pubsubName,
      topic,
      deadLetterTopic: options.deadLetterTopic,
      metadata: metadataStrings(options.metadata),
      bulk,
      routes: new Map(routesOf(options.route).map((r) => [routeKey(r.path), { ...r, handler: undefined }])),
    };
    this.#topics.set(`${pubsubName}\u0000${topic}`, entry);
    if (options.callback !== undefined) this.subscribeToRoute(pubsubName, topic, options.route, options.callback);
    if (options.deadLetterCallback !== undefined) {
      const deadLetterTopic = options.deadLetterTopic || 'deadletter';
      entry.deadLetterTopic = deadLetterTopic;
      this.#register(pubsubName, deadLetterTopic, { callback: options.deadLetterCallback }, undefined);
    }
  }

  /** Subscribes `cb(data, cloudEvent)` to `topic`, at `route` (a path or `{ default, rules }`). */
  async subscribe(pubsubName, topic, cb, route, metadata) {
    this.#register(pubsubName, topic, { callback: cb, route, metadata }, undefined);
  }

  /** `{ callback, route, metadata, deadLetterTopic, deadLetterCallback }`. */
  async subscribeWithOptions(pubsubName, topic, options = {}) {
    this.#register(pubsubName, topic, options, undefined);
  }

  /** Gives the route `route` of a subscribed topic (each path of a `{ default, rules }`) its handler. */
  subscribeToRoute(pubsubName, topic, route, cb) {
    const entry = this.#topicOf(pubsubName, topic);
    if (!entry) throw invalid(`${pubsubName}/${topic} is not subscribed; subscribe before giving its routes handlers`);
    if (typeof cb !== 'function') throw invalid(`the handler of ${pubsubName}/${topic} must be a function`);
    for (const { path } of routesOf(route)) {
      const r = entry.routes.get(routeKey(path));
      if (!r) throw invalid(`${pubsubName}/${topic} has no route ${path}`);
      if (r.handler) throw invalid(`route ${routeKey(path) || '(default)'} of ${pubsubName}/${topic} already has a handler`);
      r.handler = cb;
    }
  }

  /**
   * The sidecar delivers `topic` in batches; `cb` still gets one event at a time.
   * `options`: `{ maxMessagesCount, maxAwaitDurationMs, route, metadata, deadLetterTopic }`.
   */
  async subscribeBulk(pubsubName, topic, cb, options = {}) {
    const bulk = { maxMessagesCount: options.maxMessagesCount, maxAwaitDurationMs: options.maxAwaitDurationMs };
    this.#register(pubsubName, topic, { ...options, callback: cb }, bulk);
  }

  /** @dapr/dapr's names for subscribeBulk. */
  async bulkSubscribeWithDefaultConfig(pubsubName, topic, cb, route, metadata) {
    await this.subscribeBulk(pubsubName, topic, cb, { route, metadata });
  }

  async bulkSubscribeWithConfig(pubsubName, topic, cb, maxMessagesCount, maxAwaitDurationMs, route, metadata) {
    await this.subscribeBulk(pubsubName, topic, cb, { maxMessagesCount, maxAwaitDurationMs, route, metadata });
  }

  /** What is subscribed: { [pubsubName]: { [topic]: { routes, deadLetterTopic, metadata } } }. */
  getSubscriptions() {
    const out = {};
    for (const t of this.#topics.values()) {
      out[t.pubsubName] ??= {};
      out[t.pubsubName][t.topic] = { routes: [...t.routes.keys()], deadLetterTopic: t.deadLetterTopic, metadata: t.metadata };
    }
    return out;
  }

  /** The native subscriptions and the handler table they index. */
  layout() {
    const subscriptions = [];
    const handlers = [];
    const routeOwners = new Map(); // an HTTP route serves one subscription
    for (const t of this.#topics.values()) {
      for (const [key, r] of t.routes) {
        if (!r.handler) throw invalid(`route ${key || '(default)'} of ${t.pubsubName}/${t.topic} has no handler`);
        const owner = `${t.pubsubName}/${t.topic}`;
        if (key && routeOwners.has(key)) throw invalid(`route ${key} is used by both ${routeOwners.get(key)} and ${owner}`);
        routeOwners.set(key, owner);
        handlers.push(handlerCall(r.handler, `${t.pubsubName}/${t.topic}${key ? ` ${key}` : ''}`));
        subscriptions.push({
          pubsubName: t.pubsubName,
          topic: t.topic,
          handler: handlers.length - 1,
          route: r.path,
          match: r.match,
          priority: r.priority,
          deadLetterTopic: t.deadLetterTopic,
          metadata: t.metadata,
          bulk: t.bulk !== undefined,
          maxMessagesCount: t.bulk?.maxMessagesCount,
          maxAwaitDurationMs: t.bulk?.maxAwaitDurationMs,
        });
      }
    }
    return { subscriptions, handlers };
  }
}

/** Calls a user handler with (data, cloudEvent); its status word, or undefined for SUCCESS. */
function handlerCall(cb, label) {
  return async (ev) => {
    try {
      const { data, cloudEvent } = decodeEvent(ev);
      const result = await cb(data, cloudEvent);
      if (typeof result !== 'string') return undefined; // @dapr/dapr ignores other return values
      if (!(result.toUpperCase() in DaprPubSubStatusEnum)) {
        throw new TypeError(`a handler must return SUCCESS, RETRY or DROP (DaprPubSubStatusEnum), not ${JSON.stringify(result)}`);
      }
      return result;
    } catch (e) {
      console.error(`dapr-rs: the handler of ${label} failed on event ${ev.id}; asking for redelivery (RETRY):`, e);
      throw e;
    }
  };
}

/** `(options)` or the positional `(serverHost, serverPort, daprHost, daprPort, communicationProtocol, clientOptions)`. */
function serverOptions(args) {
  const [first, ...rest] = args;
  if (first !== null && typeof first === 'object') return first;
  const [serverPort, daprHost, daprPort, communicationProtocol, clientOpts] = rest;
  return {
    serverHost: first,
    serverPort,
    communicationProtocol,
    clientOptions: { ...(clientOpts ?? {}), daprHost, daprPort, communicationProtocol },
  };
}

/**
 * The app side: the sidecar delivers subscribed events to it over HTTP (the default) or gRPC
 * (`communicationProtocol: CommunicationProtocolEnum.GRPC`, for `--app-protocol grpc`).
 */
class DaprServer {
  #native;
  #starting;

  constructor(...args) {
    const options = serverOptions(args);
    this.serverHost = options.serverHost || DEFAULT_SERVER_HOST;
    this.serverPort = portNumber('serverPort', options.serverPort ?? process.env.APP_PORT, { allowZero: true }) ?? DEFAULT_SERVER_PORT;
    this.communicationProtocol = options.communicationProtocol ?? CommunicationProtocolEnum.HTTP;
    if (!Object.values(CommunicationProtocolEnum).includes(this.communicationProtocol)) {
      throw invalid(`communicationProtocol must be CommunicationProtocolEnum.HTTP or GRPC, not ${String(options.communicationProtocol)}`);
    }
    this.client = new DaprClient(options.clientOptions ?? {});
    this.pubsub = new ServerPubSub(() => this.#starting !== undefined);
  }

  /** Starts serving, then waits for the sidecar. */
  async start() {
    await this.startServer();
    await this.client.start();
  }

  /** Starts serving (without waiting for the sidecar). */
  async startServer() {
    if (this.#starting) throw invalid('this DaprServer has already started');
    const { subscriptions, handlers } = this.pubsub.layout();
    const protocol = this.communicationProtocol === CommunicationProtocolEnum.GRPC ? 'grpc' : 'http';
    const dispatch = (delivery) => handlers[delivery.handler](delivery.event);
    this.#starting = nativeCall(() => native.startAppServer(protocol, this.serverHost, this.serverPort, subscriptions, dispatch));
    try {
      this.#native = await this.#starting;
    } catch (e) {
      this.#starting = undefined;
      throw e;
    }
  }

  /** The port served (useful with serverPort 0). */
  get port() {
    return this.#native?.port;
  }

  /** Stops taking deliveries; resolves once those in flight are answered. */
  async stop() {
    const server = this.#native;
    this.#native = undefined;
    if (server) await nativeCall(() => server.stop());
  }
}

module.exports = {
  CommunicationProtocolEnum,
  DaprClient,
  DaprError,
  DaprPubSubStatusEnum,
  DaprServer,
  StreamMessage,
  StreamSubscription,
};
