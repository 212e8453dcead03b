// The package loads from ESM and CommonJS alike, by file and by its own name, as one set of objects.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import * as esm from 'dapr-rs';
import esmDefault from '../index.mjs';

const require = createRequire(import.meta.url);

test('ESM named exports are the CommonJS exports', () => {
  const cjs = require('dapr-rs');
  for (const name of ['DaprClient', 'DaprServer', 'DaprError', 'CommunicationProtocolEnum', 'DaprPubSubStatusEnum', 'StreamSubscription', 'StreamMessage']) {
    assert.ok(esm[name], `ESM export ${name}`);
    assert.equal(esm[name], cjs[name], `${name} is one object`);
    assert.equal(esmDefault[name], cjs[name]);
  }
  assert.deepEqual(esm.DaprPubSubStatusEnum, { SUCCESS: 'SUCCESS', RETRY: 'RETRY', DROP: 'DROP' });
  assert.deepEqual(esm.CommunicationProtocolEnum, { HTTP: 0, GRPC: 1 });
});
