'use strict';
// `npm install` of this package: builds the native addon (a release build, with cargo, through
// @napi-rs/cli) unless a prebuilt one for this platform is already here. The build honours
// CARGO_TARGET_DIR, so it shares the workspace's target directory with the rest of dapr-rs.
// DAPR_RS_NODE_REBUILD=1 builds even when an addon is present (after Rust changes).

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

// The CLI's entry point, found through its package.json (the only file its exports allow).
const napi = path.join(path.dirname(require.resolve('@napi-rs/cli/package.json')), 'dist', 'cli.js');
const args = [napi, 'build', '--platform', '--release', '--js', 'binding.js', '--dts', 'binding.d.ts'];
console.log('dapr-rs: building the native addon (cargo build --release; the first build takes a few minutes)');
const run = spawnSync(process.execPath, args, { cwd: root, stdio: 'inherit' });
if (run.error) throw run.error;
process.exit(run.status ?? 1);
