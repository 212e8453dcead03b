'use strict';
// DaprError and its subclasses. Which class a native error becomes is decided once, in core
// (`ErrorKind`); the native side sends its name as `kind`, and KIND_CLASSES maps it to the class.

/** gRPC `UNKNOWN`: the code of a DaprError made without one. */
const UNKNOWN = 2;
/** gRPC `INVALID_ARGUMENT`, for mistakes found before anything is sent. */
const INVALID_ARGUMENT = 3;

/**
 * A Dapr call failed: `grpcCode` is the gRPC status code, `errorCode` Dapr's (e.g.
 * ERR_PUBSUB_NOT_FOUND) when the sidecar sent one, `detail` the message without code decorations,
 * `kind` core's name for what happened (the class's, as KIND_CLASSES pairs them).
 */
class DaprError extends Error {
  constructor(message, { grpcCode = UNKNOWN, errorCode, detail, cause } = {}) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = new.target.name;
    this.kind = kindOf(new.target);
    this.grpcCode = grpcCode;
    this.errorCode = errorCode;
    this.detail = detail ?? message;
  }
}

/** The sidecar has no pubsub component of that name (ERR_PUBSUB_NOT_FOUND). */
class PubsubNotFoundError extends DaprError {}

/** The pubsub component's scopes do not allow this app the topic (ERR_PUBSUB_FORBIDDEN). */
class TopicForbiddenError extends DaprError {}

/** A bad argument, found here or by the sidecar (INVALID_ARGUMENT). */
class InvalidArgumentError extends DaprError {
  constructor(message, options = {}) {
    super(message, { grpcCode: INVALID_ARGUMENT, ...options });
  }
}

/** The sidecar could not be reached (not started, wrong address, gone). */
class SidecarUnavailableError extends DaprError {}

/** The call, or the wait for the sidecar, ran out of time. */
class DaprTimeoutError extends DaprError {}

/** Core's `ErrorKind` names (`ErrorKind::as_str`) and their classes. */
const KIND_CLASSES = Object.freeze({
  pubsub_not_found: PubsubNotFoundError,
  topic_forbidden: TopicForbiddenError,
  invalid_argument: InvalidArgumentError,
  sidecar_unavailable: SidecarUnavailableError,
  timeout: DaprTimeoutError,
  other: DaprError,
});

const CLASS_KINDS = new Map(Object.entries(KIND_CLASSES).map(([kind, ErrorClass]) => [ErrorClass, kind]));

/** The kind of an error class: its own, or (for an app's subclass) its nearest ancestor's. */
function kindOf(ErrorClass) {
  for (let c = ErrorClass; c; c = Object.getPrototypeOf(c)) {
    if (CLASS_KINDS.has(c)) return CLASS_KINDS.get(c);
  }
  return 'other';
}

/** A native error (bindings-node/src/errors.rs) as its DaprError class; anything else as it is. */
function fromNative(e) {
  if (!(e instanceof Error) || typeof e.kind !== 'string') return e;
  const ErrorClass = KIND_CLASSES[e.kind] ?? DaprError;
  return new ErrorClass(e.message, { grpcCode: e.grpcCode, errorCode: e.errorCode ?? undefined, detail: e.detail });
}

/** Runs a native call, sync or async, its failure as a DaprError. */
async function nativeCall(fn) {
  try {
    return await fn();
  } catch (e) {
    throw fromNative(e);
  }
}

/** Runs a synchronous native call, its failure as a DaprError. */
function nativeCallSync(fn) {
  try {
    return fn();
  } catch (e) {
    throw fromNative(e);
  }
}

function invalid(message) {
  return new InvalidArgumentError(message);
}

module.exports = {
  DaprError,
  PubsubNotFoundError,
  TopicForbiddenError,
  InvalidArgumentError,
  SidecarUnavailableError,
  DaprTimeoutError,
  nativeCall,
  nativeCallSync,
  invalid,
};
