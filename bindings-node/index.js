'use strict';
// dapr-rs for Node.js: the @dapr/dapr API over the dapr-rs Rust core (binding.js, the napi-rs
// addon). The facade in lib/ only shapes JavaScript values: argument forms, payload
// serialization, handler calls. Every Dapr rule (content types, CloudEvents, statuses, routing,
// which error is which) is in Rust.

const {
  DaprError,
  DaprTimeoutError,
  InvalidArgumentError,
  PubsubNotFoundError,
  SidecarUnavailableError,
  TopicForbiddenError,
} = require('./lib/errors.js');
const { CommunicationProtocolEnum, DaprClient } = require('./lib/client.js');
const { DaprPubSubStatusEnum } = require('./lib/events.js');
const { DaprServer } = require('./lib/server.js');
const { ServedSubscription, StreamMessage, StreamSubscription } = require('./lib/subscription.js');
// The package's version: Cargo.toml's workspace version, which `make node` stamps into package.json
// (the addon's own is `dapr-rs --version`'s).
const { version } = require('./package.json');

// Shorthand properties only: ESM's `export * from './index.js'` finds the names by reading this.
module.exports = {
  CommunicationProtocolEnum,
  DaprClient,
  DaprError,
  DaprPubSubStatusEnum,
  DaprServer,
  DaprTimeoutError,
  InvalidArgumentError,
  PubsubNotFoundError,
  ServedSubscription,
  SidecarUnavailableError,
  StreamMessage,
  StreamSubscription,
  TopicForbiddenError,
  version,
};
