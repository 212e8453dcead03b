'use strict';
// Test support: the shared sidecar harness (tests/sidecar_harness.js) with this binding's client
// options, and a queue of delivered events.

const { execFileSync } = require('node:child_process');
const shared = require('../../tests/sidecar_harness.js');

/** A sidecar whose client options are this binding's DaprClient options. */
class Sidecar extends shared.Sidecar {
  get clientOptions() {
    return { daprHost: '127.0.0.1', daprPort: this.grpcPort };
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
    await shared.sleep(ms);
    if (this.#items.length > 0) throw new Error(`unexpected events: ${JSON.stringify(this.#items.map((i) => i.data))}`);
  }
}

/** Runs python3 (present wherever the repository's tests run) for what Node 20 cannot do itself. */
function python(code, args = []) {
  return execFileSync('python3', ['-c', code, ...args], { encoding: 'utf8' });
}

module.exports = { Sidecar, Inbox, python, freePort: shared.freePort, resourcesDir: shared.resourcesDir, sqliteResources: shared.sqliteResources, sleep: shared.sleep, ROOT: shared.ROOT };
