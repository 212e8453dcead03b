'use strict';
// A DaprServer's HTTP app routes in the app's own HTTP server (an Express app, Connect, or a bare
// node:http listener): GET /dapr/subscribe and a POST route per subscription, as one middleware
// `(req, res, next)`. Core reads every call and writes every reply (bindings-node/src/http_routes.rs);
// this file only moves the bytes, and listens and closes when DaprServer owns the listener.

const http = require('node:http');
const { DaprError } = require('./errors.js');

const SUBSCRIBE_PATH = '/dapr/subscribe';
/** How long stop() lets deliveries in flight finish: core's app server's DEFAULT_STOP_GRACE. */
const STOP_GRACE_MS = 5_000;

function send(res, { status, contentType, body }) {
  res.statusCode = status;
  res.setHeader('content-type', contentType);
  res.end(body);
}

/** The path as the sidecar called it: the URL the middleware sees, without its query. */
function pathOf(url) {
  const query = url.indexOf('?');
  return query === -1 ? url : url.slice(0, query);
}

/** Whether something before us (a body parser) already read the request's body. */
function bodyWasRead(req) {
  return req.readableEnded || req.readableFlowing !== null;
}

async function readBody(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return Buffer.concat(chunks);
}

/**
 * The bytes of a delivery a body parser of the app already read, from what it left in `req.body`:
 * a raw Buffer or text as it was; parsed JSON serialized again (`onParsedJson` is told), which
 * is the same JSON but for numbers beyond 2^53, which the app's parser had already rounded.
 */
function bodyLeftBy(req, path, onParsedJson) {
  const { body } = req;
  if (body instanceof Uint8Array) return Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  if (typeof body === 'string') return Buffer.from(body, 'utf8');
  if (body !== null && typeof body === 'object') {
    onParsedJson(path);
    return Buffer.from(JSON.stringify(body), 'utf8');
  }
  throw new DaprError(
    `the body of the Dapr delivery to ${path} was read by a middleware before the Dapr routes, which left no req.body to deliver; ` +
      'mount the DaprServer (or its router()) before that middleware',
  );
}

/** The middleware serving `routes` (a NativeHttpRoutes): calls it does not serve go to `next`. */
function daprRoutes(routes) {
  const paths = new Set(routes.paths);
  let warned = false;
  const onParsedJson = (path) => {
    if (warned) return;
    warned = true;
    process.emitWarning(
      `a body parser of the app parsed the Dapr delivery to ${path} before the Dapr routes; dapr-rs serializes its JSON again, ` +
        'which loses the digits of numbers beyond 2^53. Mount the DaprServer (or its router()) before the body parser to deliver the exact bytes.',
      { code: 'DAPR_RS_PARSED_DELIVERY' },
    );
  };
  return function daprRouter(req, res, next) {
    const path = pathOf(req.url ?? '/');
    if (req.method === 'GET' && path === SUBSCRIBE_PATH) {
      try {
        send(res, routes.subscribeReply(req.rawHeaders));
      } catch (e) {
        next(e);
      }
      return;
    }
    if (req.method !== 'POST' || !paths.has(path)) {
      next();
      return;
    }
    (async () => {
      const body = bodyWasRead(req) ? bodyLeftBy(req, path, onParsedJson) : await readBody(req);
      send(res, await routes.deliver(path, req.rawHeaders, body));
    })().catch(next);
  };
}

/** Serves `app` (a request listener) on host:port; resolves to the listening http.Server. */
function listen(app, host, port) {
  const server = http.createServer(app);
  return new Promise((resolve, reject) => {
    const failed = (e) => reject(new DaprError(`cannot listen on ${host}:${port}: ${e.message}`, { cause: e }));
    server.once('error', failed);
    server.listen(port, host, () => {
      server.off('error', failed);
      resolve(server);
    });
  });
}

/** Stops listening and lets calls in flight finish within STOP_GRACE_MS; then ends their connections. */
async function close(server) {
  const closed = new Promise((resolve) => server.close(() => resolve()));
  server.closeIdleConnections();
  let timer;
  const graceOver = new Promise((resolve) => {
    timer = setTimeout(() => resolve(true), STOP_GRACE_MS);
  });
  if (await Promise.race([closed, graceOver])) {
    server.closeAllConnections();
    await closed;
  }
  clearTimeout(timer);
}

module.exports = { daprRoutes, listen, close };
