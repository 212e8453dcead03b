'use strict';
// DaprServer: the app side. Subscriptions are laid out here (ServerPubSub) and served by core's
// app server, or by the app's own HTTP server (`serverHttp`, `router()`: lib/http_routes.js) with
// core's HTTP app rules; either calls the handlers through one dispatcher.

const native = require('./native.js');
const { CommunicationProtocolEnum, DaprClient } = require('./client.js');
const { invalid, nativeCall, nativeCallSync } = require('./errors.js');
const { dispatcher } = require('./events.js');
const httpRoutes = require('./http_routes.js');
const { requireName, portNumber, metadataStrings } = require('./values.js');

const DEFAULT_SERVER_HOST = '127.0.0.1';
const DEFAULT_SERVER_PORT = 3000;

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
    if (this.#started()) throw invalid('subscriptions must be made before the server starts (or its router() is made)');
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
        handlers.push(r.handler);
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

/** An Express app, as `serverHttp`: a request listener that mounts middleware with `use`. */
function isHttpApp(app) {
  return typeof app === 'function' && typeof app.use === 'function';
}

/**
 * The app side: the sidecar delivers subscribed events to it over HTTP (the default) or gRPC
 * (`communicationProtocol: CommunicationProtocolEnum.GRPC`, for `--app-protocol grpc`). Over
 * HTTP, core serves them, or the app's Express app does (`serverHttp`, or mounting `router()`).
 */
class DaprServer {
  #native;
  #starting;
  /** The app's own Express app (`serverHttp`), and the http.Server start() listens with. */
  #serverHttp;
  #httpServer;
  /** The middleware serving the routes in the app's own server, once `router()` made it. */
  #router;
  /** A ref'd timer while serving: the server runs on Rust threads, which hold no libuv handle, so
   * without it a process whose only work is serving would exit (as an http.Server's socket keeps
   * it alive). */
  #keepAlive;

  constructor(...args) {
    const options = serverOptions(args);
    this.serverHost = options.serverHost || DEFAULT_SERVER_HOST;
    this.serverPort = portNumber('serverPort', options.serverPort ?? process.env.APP_PORT, { allowZero: true }) ?? DEFAULT_SERVER_PORT;
    this.communicationProtocol = options.communicationProtocol ?? CommunicationProtocolEnum.HTTP;
    if (!Object.values(CommunicationProtocolEnum).includes(this.communicationProtocol)) {
      throw invalid(`communicationProtocol must be CommunicationProtocolEnum.HTTP or GRPC, not ${String(options.communicationProtocol)}`);
    }
    this.client = new DaprClient(options.clientOptions ?? {});
    this.pubsub = new ServerPubSub(() => this.#starting !== undefined || this.#router !== undefined);
    if (options.serverHttp !== undefined && options.serverHttp !== null) {
      if (!isHttpApp(options.serverHttp)) {
        throw invalid(`serverHttp must be an Express app (a request listener with use()), not ${typeof options.serverHttp}`);
      }
      if (this.communicationProtocol !== CommunicationProtocolEnum.HTTP) {
        throw invalid('serverHttp serves the HTTP app protocol; it cannot be given with communicationProtocol GRPC');
      }
      this.#serverHttp = options.serverHttp;
      // Mounted now, so the routes sit where the app made its DaprServer in its middleware chain;
      // they exist once start() has laid them out.
      this.#serverHttp.use((req, res, next) => (this.#router ? this.#router(req, res, next) : next()));
    }
  }

  /**
   * The routes (GET /dapr/subscribe and a POST route per subscription) as a middleware for the
   * app's own HTTP server: `app.use(server.router())`, then the app listens on the sidecar's
   * `--app-port` itself. Subscribing ends here, as it does at start().
   */
  router() {
    if (this.communicationProtocol !== CommunicationProtocolEnum.HTTP) {
      throw invalid('router() serves the HTTP app protocol; this DaprServer was made with communicationProtocol GRPC');
    }
    if (this.#router) return this.#router;
    if (this.#starting && !this.#serverHttp) throw invalid('this DaprServer serves its routes itself (start() without serverHttp); router() cannot serve them too');
    const { subscriptions, handlers } = this.pubsub.layout();
    this.#router = httpRoutes.daprRoutes(nativeCallSync(() => native.httpRoutes(subscriptions, dispatcher(handlers))));
    return this.#router;
  }

  /** Starts serving, then waits for the sidecar. */
  async start() {
    await this.startServer();
    await this.client.start();
  }

  /** Starts serving (without waiting for the sidecar). */
  async startServer() {
    if (this.#starting) throw invalid('this DaprServer has already started');
    if (this.#serverHttp) return this.#listen();
    if (this.#router) throw invalid("this DaprServer's routes are served by router() in the app's own server; listen with that server instead of start()");
    const { subscriptions, handlers } = this.pubsub.layout();
    const protocol = this.communicationProtocol === CommunicationProtocolEnum.GRPC ? 'grpc' : 'http';
    this.#starting = nativeCall(() => native.startAppServer(protocol, this.serverHost, this.serverPort, subscriptions, dispatcher(handlers)));
    try {
      this.#native = await this.#starting;
      this.#keepAlive = setInterval(() => {}, 1 << 30);
    } catch (e) {
      this.#starting = undefined;
      throw e;
    }
  }

  /** Serves `serverHttp`, the routes added, on serverHost:serverPort. */
  async #listen() {
    this.router();
    this.#starting = httpRoutes.listen(this.#serverHttp, this.serverHost, this.serverPort);
    try {
      this.#httpServer = await this.#starting;
    } catch (e) {
      this.#starting = undefined;
      throw e;
    }
  }

  /** The port served (useful with serverPort 0). */
  get port() {
    return this.#native?.port ?? this.#httpServer?.address()?.port;
  }

  /**
   * Stops taking deliveries; resolves once those in flight are answered. With serverHttp, closes
   * the listener start() opened (the app's routes stay mounted on the app).
   */
  async stop() {
    const httpServer = this.#httpServer;
    this.#httpServer = undefined;
    if (httpServer) await httpRoutes.close(httpServer);
    const server = this.#native;
    this.#native = undefined;
    clearInterval(this.#keepAlive);
    this.#keepAlive = undefined;
    if (server) await nativeCall(() => server.stop());
  }
}

module.exports = { DaprServer };
