'use strict';
// `npm install` of this package: uses the prebuilt native addon for this platform when one is here
// (the packed package, `make dist`'s dist/dapr-rs-<version>.tgz, carries it at its root, where
// napi-rs' loader binding.js looks first); otherwise, in the source tree only, builds it (a release
// build, with cargo, through @napi-rs/cli). The build honours CARGO_TARGET_DIR, so it shares the
// workspace's target directory with the rest of dapr-rs. DAPR_RS_NODE_REBUILD=1 builds even when
// an addon is present (after Rust changes).

const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');

function prebuiltAddon() {
  if (process.env.DAPR_RS_NODE_REBUILD === '1') return undefined;
  const addons = fs.readdirSync(root).filter((f) => f.startsWith('dapr-rs.') && f.endsWith('.node'));
  for (const addon of addons) {
    try {
      require(path.join(root, addon));
      return addon;
    } catch {
      // another platform's addon, or a broken one: build ours
    }
  }
  return undefined;
}

const found = prebuiltAddon();
if (found) {
  console.log(`dapr-rs: using the prebuilt addon ${found}`);
  process.exit(0);
}
// A packed package has no Rust sources to build from: say so instead of failing inside cargo.
if (!fs.existsSync(path.join(root, 'Cargo.toml'))) {
  console.error(`dapr-rs: this package carries a prebuilt addon for linux-x64-gnu only, none loads on ${process.platform}-${process.arch}; build it from source (bindings-node in the dapr-rs repository)`);
  process.exit(1);
}

/** @napi-rs/cli's entry point, found through its package.json (the only file its exports allow). */
function napiCli() {
  return path.join(path.dirname(require.resolve('@napi-rs/cli/package.json', { paths: [root] })), 'dist', 'cli.js');
}

/** Runs npm (the one running this script, when there is one) in the package directory, free of
 * the settings the outer `npm install` passes down (they point it at the installing project). */
function npm(args) {
  const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.toLowerCase().startsWith('npm_')));
  const execPath = process.env.npm_execpath;
  const [cmd, cmdArgs] = execPath ? [process.execPath, [execPath, ...args]] : ['npm', args];
  const run = spawnSync(cmd, [...cmdArgs, '--prefix', root], { cwd: root, env, stdio: 'inherit' });
  if (run.error) throw run.error;
  if (run.status !== 0) process.exit(run.status ?? 1);
}

let napi;
try {
  napi = napiCli();
} catch {
  // `npm install ./bindings-node` links the folder and does not install the linked package's own
  // dependencies: install the build tool here (a devDependency, so the packed package has none).
  console.log('dapr-rs: installing the build tool (@napi-rs/cli)');
  npm(['install', '--include=dev', '--ignore-scripts', '--no-audit', '--no-fund', '--loglevel=error']);
  napi = napiCli();
}
const args = [napi, 'build', '--platform', '--release', '--js', 'binding.js', '--dts', 'binding.d.ts'];
console.log('dapr-rs: building the native addon (cargo build --release; the first build takes a few minutes)');
const run = spawnSync(process.execPath, args, { cwd: root, stdio: 'inherit' });
if (run.error) throw run.error;
process.exit(run.status ?? 1);
