'use strict';
// Test support: real `dapr-rs sidecar` processes on free loopback ports (the binary from
// DAPR_RS_BIN, else $CARGO_TARGET_DIR/release/dapr-rs), component files written per test, and a
// queue of delivered events. The Node twin of tests/sidecar_harness.py.

const { spawn, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..', '..');

function sidecarBinary() {
  const target = process.env.CARGO_TARGET_DIR || path.join(ROOT, 'target');
  const bin = process.env.DAPR_RS_BIN || path.join(target, 'release', 'dapr-rs');
  if (!fs.existsSync(bin)) throw new Error(`the dapr-rs sidecar binary is missing at ${bin}: run \`make sidecar\` (or set DAPR_RS_BIN)`);
  return bin;
}

/** A free loopback port (the sidecar's ports must be named on its command line). */
function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** A temp resources dir with one component per entry of `components` ({ name, type, metadata }). */
function resourcesDir(components) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dapr-rs-node-'));
  for (const { name, type, metadata = {} } of components) {
    const lines = ['apiVersion: dapr.io/v1alpha1', 'kind: Component', 'metadata:', `  name: ${name}`, 'spec:', `  type: ${type}`, '  version: v1', '  metadata:'];
    for (const [k, v] of Object.entries(metadata)) lines.push(`  - name: ${k}`, `    value: "${v}"`);
    fs.writeFileSync(path.join(dir, `${name}.yaml`), lines.join('\n') + '\n');
  }
  return dir;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function httpStatus(url) {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
    return res.status;
  } catch {
    return 0;
  }
}

class Sidecar {
  /** Starts `dapr-rs sidecar`; resolves once its outbound API answers. */
  static async start({ appId, resources, appPort, protocol = 'http', args = [], env = {}, httpPort, grpcPort }) {
    const s = new Sidecar();
    s.appId = appId;
    s.resources = resources;
    s.appPort = appPort;
    s.protocol = protocol;
    s.args = args;
    s.extraEnv = env;
    s.httpPort = httpPort ?? (await freePort());
    s.grpcPort = grpcPort ?? (await freePort());
    await s.#spawn();
    return s;
  }

  async #spawn() {
    const cmd = ['sidecar', '--app-id', this.appId, '--app-protocol', this.protocol, '--resources-path', this.resources,
      '--dapr-http-port', String(this.httpPort), '--dapr-grpc-port', String(this.grpcPort)];
    if (this.appPort) cmd.push('--app-port', String(this.appPort));
    const env = { ...process.env };
    delete env.DAPR_API_TOKEN;
    delete env.APP_API_TOKEN;
    Object.assign(env, this.extraEnv);
    this.proc = spawn(sidecarBinary(), [...cmd, ...this.args], { env, stdio: ['ignore', 'ignore', 'inherit'] });
    this.exited = new Promise((resolve) => this.proc.once('exit', (code, signal) => resolve(code ?? signal)));
    await this.waitHttp('/v1.0/healthz/outbound', 204);
  }

  /** Waits until GET `pathname` of the sidecar's HTTP API answers `status`. */
  async waitHttp(pathname, status, timeoutMs = 20_000) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (this.proc.exitCode !== null) throw new Error(`sidecar ${this.appId} exited with ${this.proc.exitCode} while waiting for ${pathname}`);
      if ((await httpStatus(`http://127.0.0.1:${this.httpPort}${pathname}`)) === status) return;
      if (Date.now() > deadline) throw new Error(`${pathname} of sidecar ${this.appId} did not answer ${status} within ${timeoutMs} ms`);
      await sleep(20);
    }
  }

  /** What `dapr run` gives the app. */
  get env() {
    return { DAPR_HTTP_PORT: String(this.httpPort), DAPR_GRPC_PORT: String(this.grpcPort), APP_ID: this.appId };
  }

  get clientOptions() {
    return { daprHost: '127.0.0.1', daprPort: this.grpcPort };
  }

  async stop() {
    if (this.proc.exitCode === null && this.proc.signalCode === null) {
      this.proc.kill('SIGTERM');
      const timer = setTimeout(() => this.proc.kill('SIGKILL'), 15_000);
      await this.exited;
      clearTimeout(timer);
    }
  }

  /** Stops the sidecar and starts it again on the same ports. */
  async restart() {
    await this.stop();
    await this.#spawn();
  }
}

/** Events delivered to handlers, awaited in arrival order. */
class Inbox {
  #items = [];
  #waiters = [];

  push(item) {
    const w = this.#waiters.shift();
    if (w) w(item);
    else this.#items.push(item);
  }

  /** A handler that keeps (data, cloudEvent) and answers `status`. */
  handler(status) {
    return async (data, cloudEvent) => {
      this.push({ data, cloudEvent });
      return status;
    };
  }

  /** The next `count` items; fails after `timeoutMs` per item. */
  async take(count, timeoutMs = 20_000) {
    const got = [];
    for (let i = 0; i < count; i++) {
      if (this.#items.length > 0) {
        got.push(this.#items.shift());
        continue;
      }
      let timer;
      let waiter;
      const item = await new Promise((resolve, reject) => {
        waiter = resolve;
        this.#waiters.push(waiter);
        timer = setTimeout(() => {
          this.#waiters = this.#waiters.filter((w) => w !== waiter);
          reject(new Error(`received ${got.length} of ${count} events: ${JSON.stringify(got.map((g) => g.data))}`));
        }, timeoutMs);
      });
      clearTimeout(timer);
      got.push(item);
    }
    return got;
  }

  /** Fails if anything arrives within `ms`. */
  async nothingFor(ms) {
    await sleep(ms);
    if (this.#items.length > 0) throw new Error(`unexpected events: ${JSON.stringify(this.#items.map((i) => i.data))}`);
  }
}

/** Runs python3 (present wherever the repository's tests run) for what Node 20 cannot do itself. */
function python(code, args = []) {
  return execFileSync('python3', ['-c', code, ...args], { encoding: 'utf8' });
}

module.exports = { Sidecar, Inbox, freePort, resourcesDir, sleep, python, ROOT };
