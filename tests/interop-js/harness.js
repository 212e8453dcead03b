// Test support for the JS interop suite: the shared sidecar harness (tests/sidecar_harness.js) with
// the official SDK's client options, and helpers for its DaprServer.
"use strict";

const { CommunicationProtocolEnum, LogLevel } = require("@dapr/dapr");
const shared = require("../sidecar_harness.js");

/** The SDK logs every registration at info; the suite keeps only its errors. */
const QUIET_LOGGER = { level: LogLevel.Error };

/** A sidecar whose client options are the official SDK's. */
class Sidecar extends shared.Sidecar {
  /** What `dapr run` gives an SDK: the sidecar's port for that protocol (as client options). */
  clientOptions(communicationProtocol) {
    return clientOptions(this, communicationProtocol);
  }
}

function clientOptions({ httpPort, grpcPort }, communicationProtocol) {
  const grpc = communicationProtocol === CommunicationProtocolEnum.GRPC;
  return { daprHost: "127.0.0.1", daprPort: String(grpc ? grpcPort : httpPort), communicationProtocol, logger: QUIET_LOGGER };
}

/** The items `current()` returns once there are `count` of them; `what` names them in a failure. */
async function collected(what, current, count) {
  return shared.waitFor(`${count} ${what} (have ${current().length})`, () => {
    const got = current();
    return got.length >= count && got;
  });
}

/** The port a server listening on port 0 was given (the SDK's DaprServer does not report it). */
async function boundPort(nodeServer) {
  return shared.waitFor("the app server to listen", () => nodeServer.listening && nodeServer.address().port);
}

const { freePort, resourcesDir, sqliteResources, sleep, waitFor } = shared;
module.exports = { QUIET_LOGGER, Sidecar, boundPort, clientOptions, collected, freePort, resourcesDir, sqliteResources, sleep, waitFor };
