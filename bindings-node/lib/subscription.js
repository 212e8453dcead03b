'use strict';
// Streaming subscriptions (no app port): pulled one message at a time (StreamSubscription, an
// async iterable whose messages are answered with ack/retry/drop) or served by a handler
// (ServedSubscription, each message answered by core's one rule).

const { nativeCall, nativeCallSync } = require('./errors.js');
const { DaprPubSubStatusEnum, decodeEvent, dispatcher } = require('./events.js');

/** One event of a streaming subscription. */
class StreamMessage {
  #stream;

  constructor(stream, ev) {
    this.#stream = stream;
    const { data, cloudEvent } = decodeEvent(ev);
    this.id = ev.id;
    this.data = data;
    this.cloudEvent = cloudEvent;
  }

  #respond(status) {
    nativeCallSync(() => this.#stream.respond(this.id, status));
  }

  ack() {
    this.#respond(DaprPubSubStatusEnum.SUCCESS);
  }

  retry() {
    this.#respond(DaprPubSubStatusEnum.RETRY);
  }

  drop() {
    this.#respond(DaprPubSubStatusEnum.DROP);
  }
}

class StreamSubscription {
  #stream;

  constructor(stream) {
    this.#stream = stream;
  }

  /** The next message, or null once closed. */
  async next() {
    const ev = await nativeCall(() => this.#stream.next());
    return ev === null ? null : new StreamMessage(this.#stream, ev);
  }

  /** Iterates the messages; leaving the loop (break, return, throw) closes the subscription. */
  async *[Symbol.asyncIterator]() {
    try {
      for (;;) {
        const message = await this.next();
        if (message === null) return;
        yield message;
      }
    } finally {
      this.close();
    }
  }

  /** Ends the subscription; unanswered messages are redelivered to another subscriber. */
  close() {
    this.#stream.close();
  }
}

/**
 * A streaming subscription whose messages go to `handler(data, cloudEvent)`, up to `maxInFlight`
 * at once, until close(). The process stays up while it runs, as it does for a DaprServer.
 */
class ServedSubscription {
  #stream;

  constructor(stream, label, handler, maxInFlight) {
    this.#stream = stream;
    /** Settles once the subscription has ended: resolves after close(), rejects with the DaprError that ended it for good. */
    this.closed = nativeCall(() => stream.serve(dispatcher([handler]), maxInFlight));
    // Said once here, so a failure nobody awaits is neither silent nor an unhandled rejection.
    this.closed.catch((e) => console.error(`dapr-rs: the streaming subscription to ${label} ended:`, e));
  }

  /** Ends the subscription; resolves once the handlers still running have answered. */
  async close() {
    this.#stream.close();
    await this.closed.catch(() => {});
  }
}

module.exports = { StreamMessage, StreamSubscription, ServedSubscription };
