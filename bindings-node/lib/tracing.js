'use strict';
// OpenTelemetry, when the app has @opentelemetry/api (an optional peer dependency, loaded on first
// use): a publish given no `traceparent` continues the active span, and a handler runs inside its
// event's trace context (the CloudEvent's `traceparent`/`tracestate`), so the spans it starts join
// the publisher's trace. Without the package nothing changes. W3C trace context, as Dapr speaks it.

let api; // the module, or null without it

function otel() {
  if (api === undefined) {
    try {
      api = require('@opentelemetry/api');
    } catch {
      api = null;
    }
  }
  return api;
}

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;

/** `{ traceparent, tracestate }` of a publish: the options', else the active span's. */
function publishContext(options) {
  if (options.traceparent !== undefined && options.traceparent !== null) {
    return { traceparent: String(options.traceparent), tracestate: options.tracestate ?? undefined };
  }
  const sc = otel()?.trace.getSpanContext(otel().context.active());
  if (!sc || !otel().isSpanContextValid(sc)) return { traceparent: undefined, tracestate: options.tracestate ?? undefined };
  const flags = (sc.traceFlags & 0xff).toString(16).padStart(2, '0');
  return { traceparent: `00-${sc.traceId}-${sc.spanId}-${flags}`, tracestate: options.tracestate ?? (sc.traceState?.serialize() || undefined) };
}

/** Runs `fn` inside the trace context of `cloudEvent` (what `fn` returns, a Promise too). */
function inEventContext(cloudEvent, fn) {
  const o = otel();
  const match = o && typeof cloudEvent?.traceparent === 'string' ? TRACEPARENT.exec(cloudEvent.traceparent) : null;
  if (!match || match[1] === 'ff') return fn();
  const sc = { traceId: match[2], spanId: match[3], traceFlags: parseInt(match[4], 16), isRemote: true };
  if (!o.isSpanContextValid(sc)) return fn();
  if (typeof cloudEvent.tracestate === 'string' && cloudEvent.tracestate) sc.traceState = o.createTraceState(cloudEvent.tracestate);
  return o.context.with(o.trace.setSpanContext(o.context.active(), sc), fn);
}

module.exports = { inEventContext, publishContext };
