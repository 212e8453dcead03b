'use strict';
// The package alone gives the `dapr-rs` command: `npm install <bindings-node>` into an empty
// project, by an npm that sees no Rust toolchain (the prebuilt addon is used, cargo never runs),
// puts `dapr-rs` (the binary's own command line inside the addon) in node_modules/.bin; it prints
// the binary's version, runs the pub/sub quickstart under `npx dapr-rs run` (the samples
// unchanged), and stops on SIGTERM and SIGINT as the binary does. Needs the addon built (`make
// node`) and the binary, whose --version it compares (`make sidecar`, or DAPR_RS_BIN).

const assert = require('node:assert');
const { execFileSync, spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { after, before, test } = require('node:test');
const { ROOT, freePort, sidecarBinary, waitFor } = require('../../tests/sidecar_harness.js');

const PACKAGE = path.resolve(__dirname, '..');
const SAMPLES = path.join(ROOT, 'samples', 'pub_sub', 'javascript');
const COMPONENTS = path.join(ROOT, 'samples', 'components');
const ORDERS = 5;
// The sidecar's default grace period (5 s), the app's own stop and the exit deadline's slack.
const STOP_DEADLINE_MS = 20_000;

/** PATH without any directory that holds cargo or rustc (~/.cargo/bin). */
function withoutRust(pathValue) {
  const hasRust = (dir) => ['cargo', 'rustc'].some((tool) => fs.existsSync(path.join(dir, tool)));
  return pathValue.split(path.delimiter).filter((dir) => dir && !hasRust(dir)).join(path.delimiter);
}

/** A user's environment: no Rust toolchain on PATH, and a home of its own (the embedded broker's
 * file and the run registry live under ~/.dapr-rs: other tests' apps named `checkout` do not
 * share them; npm's cache and config too). */
function userEnv(home, extra = {}) {
  const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.toLowerCase().startsWith('npm_') && key !== 'RUST_LOG'));
  return { ...env, PATH: withoutRust(process.env.PATH ?? ''), HOME: home, npm_config_update_notifier: 'false', ...extra };
}

let project;
let home;
const launched = [];

before(() => {
  project = fs.mkdtempSync(path.join(os.tmpdir(), 'dapr-rs-npm-user-'));
  home = fs.mkdtempSync(path.join(os.tmpdir(), 'dapr-rs-npm-home-'));
  fs.writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'quickstart', private: true, type: 'module' }));
  for (const script of ['CheckoutService.js', 'OrderProcessingService.js']) fs.copyFileSync(path.join(SAMPLES, script), path.join(project, script));
  const env = userEnv(home);
  assert.ok(!['cargo', 'rustc'].some((tool) => env.PATH.split(path.delimiter).some((dir) => fs.existsSync(path.join(dir, tool)))));
  const output = execFileSync('npm', ['install', PACKAGE, '--no-audit', '--no-fund', '--foreground-scripts', '--loglevel=error'], {
    cwd: project, env, encoding: 'utf8', timeout: 300_000, stdio: ['ignore', 'pipe', 'pipe'],
  });
  assert.match(output, /dapr-rs: using the prebuilt addon/, output);
  assert.ok(fs.existsSync(path.join(project, 'node_modules', '.bin', 'dapr-rs')), 'npm put no dapr-rs in node_modules/.bin');
});

after(() => {
  for (const run of launched) run.reap();
  fs.rmSync(project, { recursive: true, force: true });
  fs.rmSync(home, { recursive: true, force: true });
});

/** A process that runs (not a zombie waiting for its parent to reap it). */
function alive(pid) {
  try {
    return fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ').at(-1).split(' ')[0] !== 'Z';
  } catch {
    return false;
  }
}

/** The parent of `pid`. */
function parentOf(pid) {
  return Number(fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ').at(-1).split(' ')[1]);
}

/** `command` (npx, or the installed bin) in the project, in a process group of its own, its
 * output (the app's lines too) kept. */
class Launch {
  constructor(command, args, extraEnv = {}) {
    this.output = '';
    this.appPid = undefined;
    this.proc = spawn(command, args, { cwd: project, env: userEnv(home, extraEnv), detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    this.exited = new Promise((resolve) => this.proc.once('exit', (code, signal) => resolve({ code, signal })));
    for (const stream of [this.proc.stdout, this.proc.stderr]) stream.on('data', (chunk) => { this.output += chunk; });
    launched.push(this);
  }

  async appStarted() {
    const found = await waitFor(`the app started:\n${this.output}`, () => /app started.*pid=(\d+)/.exec(this.output), 30_000);
    this.appPid = Number(found[1]);
    return this.appPid;
  }

  /** The exit, or a failure with the output after `ms`. */
  async exit(ms) {
    let timer;
    const timeout = new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`still running after ${ms} ms:\n${this.output}`)), ms);
    });
    try {
      return await Promise.race([this.exited, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Whatever happened: its process group and its app's (a group of its own) are gone. */
  reap() {
    for (const group of [this.proc.pid, this.appPid]) {
      try {
        if (group) process.kill(-group, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
}

function npxRun(appId, script, flags, env) {
  return new Launch('npx', ['dapr-rs', 'run', '--app-id', appId, '--app-protocol', 'http', '--resources-path', COMPONENTS, ...flags, '--', 'node', script], env);
}

async function sidecarAnswers(httpPort) {
  try {
    const res = await fetch(`http://127.0.0.1:${httpPort}/v1.0/healthz`, { signal: AbortSignal.timeout(1000) });
    await res.arrayBuffer();
    return res.status;
  } catch {
    return undefined;
  }
}

/** The subscriber (its port is the sample's own, 6002), once its subscriptions are in. */
async function subscriber(launch, httpPort) {
  const run = launch('checkout', 'CheckoutService.js', ['--app-port', '6002', '--dapr-http-port', String(httpPort), '--metrics-port', String(await freePort())]);
  await run.appStarted();
  // 204 once the app's subscriptions are in: the orders published from then on reach it.
  await waitFor(`the subscriber's sidecar has its subscriptions:\n${run.output}`, async () => run.proc.exitCode !== null || (await sidecarAnswers(httpPort)) === 204, 60_000);
  assert.strictEqual(run.proc.exitCode, null, run.output);
  return run;
}

test('the installed command is the binary', () => {
  const run = (args) => execFileSync('npx', ['dapr-rs', ...args], { cwd: project, env: userEnv(home), encoding: 'utf8', timeout: 60_000 });
  const version = run(['--version']);
  assert.strictEqual(version, execFileSync(sidecarBinary(), ['--version'], { encoding: 'utf8', timeout: 60_000 }));
  assert.match(version, /^dapr-rs /);
  const usage = run(['--help']);
  assert.ok(usage.includes('run') && usage.includes('sidecar'), usage);
  assert.throws(() => execFileSync(path.join(project, 'node_modules', '.bin', 'dapr-rs'), ['sidecar', '--no-such-flag'], { env: userEnv(home), stdio: 'pipe', timeout: 60_000 }),
    (e) => e.status === 2 && String(e.stderr).includes('--no-such-flag'));
});

test('the quickstart runs under npx dapr-rs run, and stops with its process group', async () => {
  const httpPort = await freePort();
  const sub = await subscriber(npxRun, httpPort);
  const publisher = npxRun('orderprocessing', 'OrderProcessingService.js', ['--app-port', String(await freePort())], { ORDER_COUNT: String(ORDERS), PUBLISH_INTERVAL_MS: '50' });
  const published = await publisher.exit(120_000);
  assert.deepStrictEqual(published, { code: 0, signal: null }, publisher.output);
  const orders = [...publisher.output.matchAll(/Published data: ?(\d+)/g)].map((m) => Number(m[1]));
  assert.deepStrictEqual(orders, Array.from({ length: ORDERS }, (_, i) => i + 1), publisher.output);
  const received = () => new Set([...sub.output.matchAll(/Subscriber received ?: ?(\d+)$/gm)].map((m) => Number(m[1])));
  await waitFor(`every order reached the subscriber:\n${sub.output}`, () => orders.every((n) => received().has(n)), 30_000);

  // A stop of the whole `npx` (a terminal's Ctrl-C, a process manager's SIGTERM to the group)
  // reaches the launcher itself: npm forwards a signal only to the `sh -c` it runs the bin under.
  const launcher = parentOf(sub.appPid);
  const began = Date.now();
  process.kill(-sub.proc.pid, 'SIGTERM');
  await sub.exit(STOP_DEADLINE_MS);
  await waitFor('the launcher and its app are gone', () => !alive(launcher) && !alive(sub.appPid), STOP_DEADLINE_MS);
  assert.ok(Date.now() - began < STOP_DEADLINE_MS);
  assert.ok(sub.output.includes('stopping every app and sidecar signal="SIGTERM"'), sub.output);
  assert.strictEqual(await sidecarAnswers(httpPort), undefined, 'the sidecar still answers');
});

for (const signal of ['SIGTERM', 'SIGINT']) {
  test(`the installed dapr-rs run stops its app and sidecar on ${signal} and exits 0`, async () => {
    const httpPort = await freePort();
    const bin = path.join(project, 'node_modules', '.bin', 'dapr-rs');
    const sub = await subscriber((appId, script, flags) => new Launch(bin, ['run', '--app-id', appId, '--app-protocol', 'http', '--resources-path', COMPONENTS, ...flags, '--', 'node', script]), httpPort);
    const began = Date.now();
    sub.proc.kill(signal);
    // The app stopped on the SIGTERM the launcher sent it, as under the binary: exit 0.
    assert.deepStrictEqual(await sub.exit(STOP_DEADLINE_MS), { code: 0, signal: null }, sub.output);
    await waitFor('the app is gone', () => !alive(sub.appPid), 5_000);
    assert.ok(Date.now() - began < STOP_DEADLINE_MS);
    assert.ok(sub.output.includes(`stopping every app and sidecar signal="${signal}"`), sub.output);
    assert.strictEqual(await sidecarAnswers(httpPort), undefined, 'the sidecar still answers');
  });
}
