// Publish throughput of dapr-rs's Node client and the official @dapr/dapr, in one run against the
// same sidecar: serial (1 in flight) and 100 in flight, the official client over gRPC and HTTP.
// Usage: node publish.mjs --grpc-port G --http-port H [--count N] [--work-us W: the bare core's
// serial publish, for the floor] [--rates-only: dapr-rs's two rates alone, no official client and
// no floor (the bench's interleaved rounds)]. Prints one line per run.
import { DaprClient as OfficialClient, CommunicationProtocolEnum as OfficialProtocol } from '@dapr/dapr';
import { DaprClient } from 'dapr-rs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { 'grpc-port': { type: 'string' }, 'http-port': { type: 'string' }, count: { type: 'string', default: '20000' }, 'work-us': { type: 'string', default: '0' }, 'rates-only': { type: 'boolean', default: false } } });
const grpcPort = values['grpc-port'];
const httpPort = values['http-port'];
const count = Number(values.count);
const workUs = Number(values['work-us']);
const ratesOnly = values['rates-only'];
const PUBSUB = 'order_pub_sub';

/** Publishes `n` events with `inFlight` at a time; events/s. */
async function rate(publish, n, inFlight) {
  let next = 0;
  const started = process.hrtime.bigint();
  const worker = async () => {
    while (next < n) {
      const orderId = next++;
      await publish(orderId);
    }
  };
  await Promise.all(Array.from({ length: inFlight }, worker));
  return n / (Number(process.hrtime.bigint() - started) / 1e9);
}

const clients = [
  ['dapr-rs (gRPC)', new DaprClient({ daprHost: '127.0.0.1', daprPort: grpcPort })],
  ...(ratesOnly ? [] : [
    ['@dapr/dapr (gRPC)', new OfficialClient({ daprHost: '127.0.0.1', daprPort: grpcPort, communicationProtocol: OfficialProtocol.GRPC })],
    ['@dapr/dapr (HTTP)', new OfficialClient({ daprHost: '127.0.0.1', daprPort: httpPort, communicationProtocol: OfficialProtocol.HTTP })],
  ]),
];
const best = {};
for (const inFlight of [1, 100]) {
  const n = inFlight === 1 ? Math.max(1000, count / 5) : count;
  for (const [name, client] of clients) {
    const publish = async (orderId) => {
      const res = await client.pubsub.publish(PUBSUB, 'bench', { orderId });
      if (res?.error) throw res.error; // the official client resolves to { error } on failure
    };
    await rate(publish, 200, inFlight); // warm-up: connections, JIT
    const r = await rate(publish, n, inFlight);
    best[inFlight] ??= {};
    best[inFlight][name] = r;
    console.log(`node publish, ${inFlight} in flight: ${name} ${Math.round(r)} events/s (${n} events)`);
  }
  if (ratesOnly) continue;
  const ours = best[inFlight]['dapr-rs (gRPC)'];
  const official = Math.max(best[inFlight]['@dapr/dapr (gRPC)'], best[inFlight]['@dapr/dapr (HTTP)']);
  console.log(`node publish, ${inFlight} in flight: dapr-rs is ${(ours / official).toFixed(1)}x the official client's best`);
}
if (ratesOnly) process.exit(0);
// The floor under the binding (issue #19): a Promise through napi's runtime and back, the hand-off
// each of its calls makes; serially and 100 in flight (as the publish runs above), best of 3. With
// nothing to do the JS thread is still awake when it settles; with a serial publish's time of work
// on the runtime (--work-us) it has gone idle.
const require = createRequire(import.meta.url);
const binding = require(join(dirname(require.resolve('dapr-rs')), 'binding.js'));
const floorCalls = Math.max(1000, count);
async function floorUs(workUs, inFlight = 1) {
  let best = Infinity;
  for (let round = 0; round < 3; round++) {
    let left = floorCalls;
    const started = process.hrtime.bigint();
    await Promise.all(Array.from({ length: inFlight }, async () => {
      while (left-- > 0) await binding.promiseRoundTrip(workUs);
    }));
    best = Math.min(best, Number(process.hrtime.bigint() - started) / 1e3 / floorCalls);
  }
  return best;
}
console.log(`node promise floor: a Promise through napi's runtime and back with nothing to do takes ${(await floorUs(0)).toFixed(1)} µs (best of 3 x ${floorCalls} calls); ${(await floorUs(0, 100)).toFixed(1)} µs a call, 100 in flight`);
if (workUs > 0) {
  const us = await floorUs(workUs);
  console.log(`node promise floor, caller idle: a Promise napi's runtime settles after ${workUs} µs of work takes ${us.toFixed(1)} µs, ${(us - workUs).toFixed(1)} µs over the work (best of 3 x ${floorCalls} calls)`);
}
for (const [, client] of clients) await client.stop?.();
process.exit(0);
