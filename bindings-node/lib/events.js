'use strict';
// Delivered events as handlers get them, and the dispatcher through which the native side calls
// handlers (bindings-node/src/handler.rs). What a handler returns or throws goes back unchanged:
// what it means (a status, SUCCESS, or a failure answered RETRY) is decided in Rust.

const { inEventContext } = require('./tracing.js');

/** What a subscription handler may return; `undefined` means SUCCESS, a throw means RETRY. */
const DaprPubSubStatusEnum = Object.freeze({ SUCCESS: 'SUCCESS', RETRY: 'RETRY', DROP: 'DROP' });

/**
 * A delivered event as (data, cloudEvent): data decoded by its content type (in core), and
 * `cloudEvent.metadata` the broker message's metadata (a plain object; not enumerable).
 */
function decodeEvent(ev) {
  const data = ev.dataKind === 'json' ? JSON.parse(ev.text) : ev.dataKind === 'text' ? ev.text : ev.bytes;
  const cloudEvent = {
    ...JSON.parse(ev.extensions),
    id: ev.id,
    source: ev.source,
    type: ev.type,
    specversion: ev.specversion,
    datacontenttype: ev.datacontenttype,
    topic: ev.topic,
    pubsubname: ev.pubsubname,
    data,
  };
  // The broker message's metadata rides along, not as one of the CloudEvent's attributes.
  Object.defineProperty(cloudEvent, 'metadata', { value: { ...ev.metadata }, enumerable: false });
  return { data, cloudEvent };
}

/** Calls `handlers[delivery.handler](data, cloudEvent)`; its Promise settles the event's answer. */
function dispatcher(handlers) {
  return async ({ handler, event }) => {
    const { data, cloudEvent } = decodeEvent(event);
    return inEventContext(cloudEvent, () => handlers[handler](data, cloudEvent));
  };
}

module.exports = { DaprPubSubStatusEnum, decodeEvent, dispatcher };
