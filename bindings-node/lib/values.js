'use strict';
// Argument shapes shared by the client and the server: names, ports, payloads and metadata as
// the native side takes them.

const { invalid } = require('./errors.js');

function requireName(what, value) {
  if (typeof value !== 'string' || value === '') {
    throw invalid(`${what} must be a non-empty string, not ${JSON.stringify(value) ?? String(value)}`);
  }
  return value;
}

/** A port given as a number or a numeric string (e.g. process.env.DAPR_HTTP_PORT); empty means none. */
function portNumber(what, value, { allowZero = false } = {}) {
  if (value === undefined || value === null || value === '') return undefined;
  const port = typeof value === 'string' ? Number(value.trim()) : value;
  if (!Number.isInteger(port) || port < (allowZero ? 0 : 1) || port > 65535) {
    throw invalid(`${what} must be a port number (${allowZero ? 0 : 1}-65535), not ${JSON.stringify(value)}`);
  }
  return port;
}

/**
 * A payload as the native side takes it: [string | Buffer, isJson]. Strings and bytes go as they
 * are; anything else as JSON.stringify gives it. Core picks the content type from that.
 */
function payload(data) {
  if (data === undefined) return ['', false];
  if (typeof data === 'string' || Buffer.isBuffer(data)) return [data, false];
  if (ArrayBuffer.isView(data)) return [Buffer.from(data.buffer, data.byteOffset, data.byteLength), false];
  if (data instanceof ArrayBuffer) return [Buffer.from(data), false];
  const text = JSON.stringify(data);
  if (text === undefined) throw invalid(`cannot publish a ${typeof data}: it has no JSON form`);
  return [text, true];
}

/** Metadata values as the strings Dapr expects (true → "true", objects as JSON). */
function metadataStrings(metadata) {
  if (metadata === undefined || metadata === null) return undefined;
  const out = {};
  for (const [key, value] of Object.entries(metadata)) {
    if (value === undefined || value === null) continue;
    out[key] = typeof value === 'string' ? value : typeof value === 'object' ? JSON.stringify(value) : String(value);
  }
  return out;
}

module.exports = { requireName, portNumber, payload, metadataStrings };
