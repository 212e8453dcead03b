'use strict';
// DaprClient: publishing, streaming subscriptions and the sidecar's health, over the native
// client (core's: one shared gRPC channel, or HTTP connection pool, per sidecar).

const native = require('./native.js');
const { DaprError, invalid, nativeCall, nativeCallSync } = require('./errors.js');
const { StreamSubscription, ServedSubscription } = require('./subscription.js');
const { requireName, portNumber, payload, metadataStrings } = require('./values.js');
const { publishContext } = require('./tracing.js');

/** How the app and the sidecar talk (values as in @dapr/dapr). */
const CommunicationProtocolEnum = Object.freeze({ HTTP: 0, GRPC: 1 });

const SIDECAR_START_TIMEOUT_MS = 60_000;
const HEALTH_PROBE_TIMEOUT_MS = 1_000;

/** `(options)` or the positional `(daprHost, daprPort, communicationProtocol, options)`. */
function clientOptions(args) {
  const [first, ...rest] = args;
  if (first !== null && typeof first === 'object') return first;
  const [daprPort, communicationProtocol, options] = rest;
  return { ...(options ?? {}), daprHost: first, daprPort, communicationProtocol };
}

/** The native client's protocol word: gRPC unless HTTP is asked for (@dapr/dapr defaults to HTTP; see README). */
function protocolName(communicationProtocol) {
  if (communicationProtocol === undefined || communicationProtocol === null || communicationProtocol === CommunicationProtocolEnum.GRPC) return 'grpc';
  if (communicationProtocol === CommunicationProtocolEnum.HTTP) return 'http';
  throw invalid(`communicationProtocol must be CommunicationProtocolEnum.HTTP or GRPC, not ${String(communicationProtocol)}`);
}

function makeNativeClient(options) {
  // daprPort is the port of the API the protocol names: DAPR_HTTP_PORT's or DAPR_GRPC_PORT's.
  const protocol = protocolName(options.communicationProtocol);
  const port = portNumber('daprPort', options.daprPort);
  const host = options.daprHost === undefined || options.daprHost === null ? undefined : String(options.daprHost);
  return nativeCallSync(() => new native.NativeClient(host, port, options.daprApiToken, options.timeoutMs, protocol));
}

class PubSubClient {
  #native;

  constructor(nativeClient) {
    this.#native = nativeClient;
  }

  /**
   * Publishes one event. Without `contentType`, a string goes as text/plain, a Buffer or
   * Uint8Array as application/octet-stream, a CloudEvent-shaped object as
   * application/cloudevents+json and anything else as application/json. `traceparent` /
   * `tracestate` (W3C) are the trace it continues; with @opentelemetry/api, the active span's.
   */
  async publish(pubSubName, topic, data, options = {}) {
    requireName('pubSubName', pubSubName);
    requireName('topic', topic);
    const [body, isJson] = payload(data);
    const { traceparent, tracestate } = publishContext(options);
    const n = this.#native;
    await nativeCall(() => n.publish(pubSubName, topic, body, isJson, options.contentType, metadataStrings(options.metadata), traceparent, tracestate));
    return {};
  }

  /**
   * Publishes many events in one call. A message is a value, or `{ entryID, event, contentType,
   * metadata }`. Resolves to the messages the sidecar could not publish. `options.traceparent` /
   * `tracestate` are the trace every message continues, as for publish (by default the active
   * span's, with @opentelemetry/api).
   */
  async publishBulk(pubSubName, topic, messages, metadata, options = {}) {
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
    const { traceparent, tracestate } = publishContext(options ?? {});
    const n = this.#native;
    const failed = await nativeCall(() => n.publishBulk(pubSubName, topic, entries, metadataStrings(metadata), traceparent, tracestate));
    return {
      failedMessages: failed.map((f) => ({ message: byId.get(f.entryId), entryID: f.entryId, error: new DaprError(f.error) })),
    };
  }

  /**
   * A streaming subscription (no app port needed): an async iterable of messages, each to be
   * answered with ack(), retry() or drop(). It reconnects by itself after a sidecar restart.
   */
  async subscribeStream(pubSubName, topic, options = {}) {
    return new StreamSubscription(await this.#openStream(pubSubName, topic, options));
  }

  /**
   * A streaming subscription served by `handler(data, cloudEvent)`, which answers as a DaprServer
   * handler does: SUCCESS, RETRY or DROP (`undefined` is SUCCESS; a throw is RETRY). Up to
   * `options.maxInFlight` (default 1) messages are handled at once. Resolves once the sidecar
   * has taken the subscription.
   */
  async subscribeStreamWithHandler(pubSubName, topic, handler, options = {}) {
    if (typeof handler !== 'function') throw invalid(`the handler of ${pubSubName}/${topic} must be a function`);
    const maxInFlight = options.maxInFlight ?? 1;
    if (!Number.isInteger(maxInFlight) || maxInFlight < 1 || maxInFlight > 2 ** 32 - 1) {
      throw invalid(`maxInFlight must be a positive integer, not ${JSON.stringify(options.maxInFlight)}`);
    }
    const stream = await this.#openStream(pubSubName, topic, options);
    return new ServedSubscription(stream, `${pubSubName}/${topic}`, handler, maxInFlight);
  }

  async #openStream(pubSubName, topic, options) {
    requireName('pubSubName', pubSubName);
    requireName('topic', topic);
    const n = this.#native;
    return nativeCall(() => n.subscribeStream(pubSubName, topic, options.deadLetterTopic, metadataStrings(options.metadata)));
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
 * A client of the Dapr sidecar: `new DaprClient({ daprHost, daprPort, communicationProtocol,
 * daprApiToken })` or `new DaprClient(daprHost, daprPort, communicationProtocol)`. gRPC (the
 * default) takes its defaults from DAPR_GRPC_ENDPOINT, DAPR_RUNTIME_HOST / DAPR_GRPC_PORT; HTTP
 * from DAPR_HTTP_ENDPOINT, DAPR_RUNTIME_HOST / DAPR_HTTP_PORT (else 3500), and its streaming
 * subscriptions still go to the gRPC API, which only Dapr's gRPC API serves. Clients of one
 * sidecar share their connections; nothing connects until the first call.
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

module.exports = { CommunicationProtocolEnum, DaprClient };
