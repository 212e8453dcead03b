// Test support for the JS interop suite: real `dapr-rs` sidecar processes on loopback, component
// files in a temporary directory, and small waiting helpers. The Node twin of tests/sidecar_harness.py.
"use strict";

const { spawn } = require("node:child_process");
const fs = require("node:fs");
const net = require("node:net");
const os = require("node:os");
const path = require("node:path");
const { CommunicationProtocolEnum, LogLevel } = require("@dapr/dapr");

const ROOT = path.resolve(__dirname, "..", "..");

/** The SDK logs every registration at info; the suite keeps only its errors. */
const QUIET_LOGGER = { level: LogLevel.Error };

function sidecarBinary() {
  const target = process.env.CARGO_TARGET_DIR || path.join(ROOT, "target");
  const bin = process.env.DAPR_RS_BIN || path.join(target, "release", "dapr-rs");
  if (!fs.existsSync(bin)) {
    throw new Error(`the dapr-rs sidecar binary is missing at ${bin}: run \`make sidecar\` (or set DAPR_RS_BIN)`);
  }
  return bin;
}

/** A free loopback port, for the sidecar's own listeners (it cannot report ports it bound itself). */
function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** A fresh resources directory holding one pub/sub component per entry of `components`. */
function resourcesDir(components) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "dapr-rs-js-"));
  for (const { name, type, metadata = {} } of components) {
    const lines = ["apiVersion: dapr.io/v1alpha1", "kind: Component", "metadata:", `  name: ${name}`, "spec:", `  type: ${type}`, "  version: v1", "  metadata:"];
    for (const [key, value] of Object.entries(metadata)) {
      lines.push(`  - name: ${key}`, `    value: "${value}"`);
    }
    fs.writeFileSync(path.join(dir, `${name}.yaml`), lines.join("\n") + "\n");
  }
  return dir;
}

/** The embedded durable broker in a fresh file, shared by every sidecar given the same directory. */
function sqliteResources(name = "pubsub") {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "dapr-rs-js-db-"));
  return resourcesDir([{ name, type: "pubsub.sqlite", metadata: { path: path.join(dir, "pubsub.db") } }]);
}

/** The items `current()` returns once there are `count` of them; `what` names them in a failure. */
async function collected(what, current, count) {
  return waitFor(`${count} ${what} (have ${current().length})`, () => {
    const got = current();
    return got.length >= count && got;
  });
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `check` until it returns a truthy value, which it returns; fails after `timeoutMs` saying `what`. */
async function waitFor(what, check, timeoutMs = 20000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(25);
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

/** A `dapr-rs sidecar` process; its log is kept and shown when it fails to come up. */
class Sidecar {
  /** Ports for a sidecar started later, when its app must know them first (a DaprServer's client). */
  static async freePorts() {
    return { httpPort: await freePort(), grpcPort: await freePort() };
  }

  static async start({ appId, resources, appPort, protocol = "http", args = [], ports }) {
    const { httpPort, grpcPort } = ports ?? (await Sidecar.freePorts());
    const sidecar = new Sidecar(appId, httpPort, grpcPort);
    const cmd = ["sidecar", "--app-id", appId, "--app-protocol", protocol, "--resources-path", resources];
    cmd.push("--dapr-http-port", String(sidecar.httpPort), "--dapr-grpc-port", String(sidecar.grpcPort));
    if (appPort) cmd.push("--app-port", String(appPort));
    cmd.push(...args);
    const env = { ...process.env };
    delete env.DAPR_API_TOKEN;
    delete env.APP_API_TOKEN;
    sidecar.proc = spawn(sidecarBinary(), cmd, { env, stdio: ["ignore", "ignore", "pipe"] });
    sidecar.proc.stderr.on("data", (chunk) => sidecar.log.push(chunk.toString()));
    sidecar.exited = new Promise((resolve) => sidecar.proc.once("exit", (code, signal) => resolve(code ?? signal)));
    await sidecar.waitHttp("/v1.0/healthz/outbound", 204);
    return sidecar;
  }

  constructor(appId, httpPort, grpcPort) {
    this.appId = appId;
    this.httpPort = httpPort;
    this.grpcPort = grpcPort;
    this.log = [];
  }

  /** Waits until `path` answers `status` (e.g. /v1.0/healthz 204 once the app's subscriptions are running). */
  async waitHttp(urlPath, status, timeoutMs = 20000) {
    await waitFor(`${urlPath} of sidecar ${this.appId} to answer ${status}`, async () => {
      if (this.proc.exitCode !== null) {
        throw new Error(`sidecar ${this.appId} exited with ${this.proc.exitCode}:\n${this.log.join("")}`);
      }
      return (await httpStatus(`http://127.0.0.1:${this.httpPort}${urlPath}`)) === status;
    }, timeoutMs);
  }

  /** What `dapr run` gives an SDK: the sidecar's port for that protocol (as client options). */
  clientOptions(communicationProtocol) {
    return clientOptions(this, communicationProtocol);
  }

  async stop() {
    if (this.proc.exitCode === null && this.proc.signalCode === null) {
      this.proc.kill("SIGTERM");
      const killer = setTimeout(() => this.proc.kill("SIGKILL"), 15000);
      await this.exited;
      clearTimeout(killer);
    }
    return this.exited;
  }
}

function clientOptions({ httpPort, grpcPort }, communicationProtocol) {
  const grpc = communicationProtocol === CommunicationProtocolEnum.GRPC;
  return { daprHost: "127.0.0.1", daprPort: String(grpc ? grpcPort : httpPort), communicationProtocol, logger: QUIET_LOGGER };
}

/** The port a server listening on port 0 was given (the SDK's DaprServer does not report it). */
async function boundPort(nodeServer) {
  return waitFor("the app server to listen", () => nodeServer.listening && nodeServer.address().port);
}

module.exports = { QUIET_LOGGER, Sidecar, boundPort, clientOptions, collected, freePort, resourcesDir, sqliteResources, sleep, waitFor };
