#!/usr/bin/env node
'use strict';
// The package's `dapr-rs` command (`npx dapr-rs run ...`): the dapr-rs binary's own command line,
// compiled into the addon (src/cli.rs), so installing the package gives the same program with no
// Rust toolchain. It runs on this thread until the command ends; its own SIGINT and SIGTERM
// handlers, in place of Node's, stop the apps and sidecars within the grace period.

const { runCli } = require('../binding.js');

process.exitCode = runCli(['dapr-rs', ...process.argv.slice(2)]);
