'use strict';
// Issue 12: no value of an environment variable the client reads may panic. A panic that reaches
// napi aborts the whole Node process (exit 134), so each client is made in a child process and
// its exit observed: a bad DAPR_API_TIMEOUT_SECONDS is ignored and the client is made.

const { test } = require('node:test');
const assert = require('node:assert/strict');
const { spawnSync } = require('node:child_process');
const path = require('node:path');

const PACKAGE = path.join(__dirname, '..');
const MAKE_CLIENT = `
  const { DaprClient } = require(${JSON.stringify(PACKAGE)});
  const client = new DaprClient({ daprHost: '127.0.0.1', daprPort: 1 });
  console.log('made', typeof client.pubsub.publish);
`;

for (const value of ['inf', '-inf', 'NaN', '1e30', '-1', '0', 'soon']) {
  test(`DAPR_API_TIMEOUT_SECONDS=${value} neither aborts nor throws`, () => {
    const child = spawnSync(process.execPath, ['-e', MAKE_CLIENT], {
      env: { ...process.env, DAPR_API_TIMEOUT_SECONDS: value },
      encoding: 'utf8',
      timeout: 60_000,
      killSignal: 'SIGKILL',
    });
    assert.equal(child.error, undefined, `the child did not finish within 60 s: ${child.error}`);
    assert.equal(child.signal, null, `the child was killed by ${child.signal}: ${child.stderr}`);
    assert.equal(child.status, 0, `exit ${child.status}: ${child.stderr}`);
    assert.match(child.stdout, /made function/);
    assert.doesNotMatch(child.stderr, /panick/);
  });
}
