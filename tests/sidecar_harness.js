'use strict';
// Test support shared by the Node suites (bindings-node/__test__ and tests/interop-js): real
// `dapr-rs sidecar` processes on free loopback ports (the binary from DAPR_RS_BIN, else
// $CARGO_TARGET_DIR/release/dapr-rs), component files written per test, and waiting helpers.
// The Node twin of tests/sidecar_harness.py. Plain Node, no dependencies: both suites require it.

const { spawn } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..');

function sidecarBinary() {
  const target = process.env.CARGO_TARGET_DIR || path.join(ROOT, 'target');
  const bin = process.env.DAPR_RS_BIN || path.join(target, 'release', 'dapr-rs');
  if (!fs.existsSync(bin)) throw new Error(`the dapr-rs sidecar binary is missing at ${bin}: run \`make sidecar\` (or set DAPR_RS_BIN)`);
  return bin;
}

/** A free loopback port: the sidecar's ports must be named on its command line. */
function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** A fresh resources directory holding one component per entry of `components` ({ name, type, metadata }). */
function resourcesDir(components) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dapr-rs-node-'));
  for (const { name, type, metadata = {} } of components) {
    const lines = ['apiVersion: dapr.io/v1alpha1', 'kind: Component', 'metadata:', `  name: ${name}`, 'spec:', `  type: ${type}`, '  version: v1', '  metadata:'];
    for (const [key, value] of Object.entries(metadata)) lines.push(`  - name: ${key}`, `    value: "${value}"`);
    fs.writeFileSync(path.join(dir, `${name}.yaml`), lines.join('\n') + '\n');
  }
  return dir;
}

/** The embedded durable broker in a fresh file, shared by every sidecar given the same directory. */
function sqliteResources(name = 'pubsub') {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dapr-rs-node-db-'));
  return resourcesDir([{ name, type: 'pubsub.sqlite', metadata: { path: path.join(dir, 'pubsub.db') } }]);
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `check` until it returns a truthy value, which it returns; fails after `timeoutMs` saying `what`. */
async function waitFor(what, check, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(20);
  }
}

async function httpStatus(url) {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
    await res.arrayBuffer();
    return res.status;
  } catch {
    return 0;
  }
}

/** A `dapr-rs sidecar` process; its log is kept and shown when it fails to come up. Suites subclass it
 * to add the client options their SDK takes. */
class Sidecar {
  /** Ports for a sidecar started later, when its app must know them first. */
  static async freePorts() {
    return { httpPort: await freePort(), grpcPort: await freePort() };
  }

  /** Starts `dapr-rs sidecar`; resolves once its outbound API answers. */
  static async start({ appId, resources, appPort, protocol = 'http', args = [], env = {}, ports }) {
    const { httpPort, grpcPort } = ports ?? (await Sidecar.freePorts());
    const sidecar = new this();
    Object.assign(sidecar, { appId, resources, appPort, protocol, args, extraEnv: env, httpPort, grpcPort, log: [] });
    await sidecar.#spawn();
    return sidecar;
  }

  async #spawn() {
    const cmd = ['sidecar', '--app-id', this.appId, '--app-protocol', this.protocol, '--resources-path', this.resources,
      '--dapr-http-port', String(this.httpPort), '--dapr-grpc-port', String(this.grpcPort)];
    // Metrics on a free port: several sidecars run at once, and the default 9090 may be taken.
    if (!this.args.some((a) => a.startsWith('--metrics-port'))) cmd.push('--metrics-port', '0');
    if (this.appPort) cmd.push('--app-port', String(this.appPort));
    const env = { ...process.env };
    delete env.DAPR_API_TOKEN;
    delete env.APP_API_TOKEN;
    Object.assign(env, this.extraEnv);
    this.proc = spawn(sidecarBinary(), [...cmd, ...this.args], { env, stdio: ['ignore', 'ignore', 'pipe'] });
    this.proc.stderr.on('data', (chunk) => this.log.push(chunk.toString()));
    this.exited = new Promise((resolve) => this.proc.once('exit', (code, signal) => resolve(code ?? signal)));
    await this.waitHttp('/v1.0/healthz/outbound', 204);
  }

  /** Waits until GET `urlPath` of the sidecar's HTTP API answers `status` (e.g. /v1.0/healthz 204 once
   * the app's subscriptions run). */
  async waitHttp(urlPath, status, timeoutMs = 20_000) {
    await waitFor(`${urlPath} of sidecar ${this.appId} to answer ${status}`, async () => {
      if (this.proc.exitCode !== null) throw new Error(`sidecar ${this.appId} exited with ${this.proc.exitCode}:\n${this.log.join('')}`);
      return (await httpStatus(`http://127.0.0.1:${this.httpPort}${urlPath}`)) === status;
    }, timeoutMs);
  }

  /** What `dapr run` gives the app. */
  get env() {
    return { DAPR_HTTP_PORT: String(this.httpPort), DAPR_GRPC_PORT: String(this.grpcPort), APP_ID: this.appId };
  }

  async stop() {
    if (this.proc.exitCode === null && this.proc.signalCode === null) {
      this.proc.kill('SIGTERM');
      const killer = setTimeout(() => this.proc.kill('SIGKILL'), 15_000);
      await this.exited;
      clearTimeout(killer);
    }
    return this.exited;
  }

  /** Stops the sidecar and starts it again on the same ports. */
  async restart() {
    await this.stop();
    this.log = [];
    await this.#spawn();
  }
}

module.exports = { ROOT, Sidecar, freePort, resourcesDir, sidecarBinary, sqliteResources, sleep, waitFor };
