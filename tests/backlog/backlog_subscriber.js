'use strict';
// The backlog test's subscriber app in Node: a DaprServer (gRPC app protocol) subscribed to
// PREFIX-0 … PREFIX-(COUNT-1), recording every delivery before answering SUCCESS.
//
// Usage: node backlog_subscriber.js APP_PORT PUBSUB PREFIX COUNT DELIVERIES_FILE
// Each delivery appends "<topic> <data>" to DELIVERIES_FILE.

const fs = require('node:fs');
const path = require('node:path');
const { DaprServer, CommunicationProtocolEnum } = require(path.join(__dirname, '..', '..', 'bindings-node'));

async function main([appPort, pubsub, prefix, count, deliveries]) {
  // Opened with O_APPEND; a synchronous write puts the line in the kernel before the handler
  // returns and the sidecar acknowledges the message.
  const fd = fs.openSync(deliveries, 'a');
  const server = new DaprServer({ serverHost: '127.0.0.1', serverPort: appPort, communicationProtocol: CommunicationProtocolEnum.GRPC });
  for (let i = 0; i < Number(count); i++) {
    const topic = `${prefix}-${i}`;
    await server.pubsub.subscribe(pubsub, topic, (data) => {
      fs.writeSync(fd, `${topic} ${data}\n`);
    });
  }
  // Serves without waiting for the sidecar, which starts once this port listens.
  await server.startServer();
}

main(process.argv.slice(2)).catch((e) => {
  console.error(e);
  process.exit(1);
});
