// Typed use of the dapr-rs API, compiled (never run) by types.test.js: index.d.ts must accept it.
import express from 'express';
import {
  CommunicationProtocolEnum,
  DaprClient,
  DaprError,
  DaprPubSubStatusEnum,
  DaprServer,
  PubsubNotFoundError,
  SidecarUnavailableError,
  type CloudEvent,
  type PubSubBulkPublishResponse,
} from 'dapr-rs';

export async function publisher(): Promise<void> {
  const client = new DaprClient({ daprHost: '127.0.0.1', daprPort: 50001, daprApiToken: 't' });
  const positional = new DaprClient('127.0.0.1', process.env.DAPR_HTTP_PORT, CommunicationProtocolEnum.HTTP);
  await client.start();
  const healthy: boolean = await positional.health.isHealthy();
  await client.pubsub.publish('ps', 'orders', { orderId: healthy ? 1 : 2 }, { contentType: 'application/json', metadata: { ttlInSeconds: 60 } });
  const res: PubSubBulkPublishResponse = await client.pubsub.publishBulk('ps', 'orders', ['a', { entryID: 'b', event: { n: 1 } }]);
  for (const failed of res.failedMessages) console.log(failed.entryID, failed.error.grpcCode);
  const http = new DaprClient({ daprPort: process.env.DAPR_HTTP_PORT, communicationProtocol: CommunicationProtocolEnum.HTTP });
  await http.pubsub.publishBulk('ps', 'orders', ['a'], { rawPayload: true }, { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' });
  const stream = await client.pubsub.subscribeStream('ps', 'orders', { deadLetterTopic: 'dlq' });
  for await (const message of stream) {
    const ce: CloudEvent = message.cloudEvent;
    if (ce.type === 'x') message.drop();
    else message.ack();
  }
  try {
    await client.pubsub.publish('nope', 'orders', Buffer.from('x'));
  } catch (e) {
    if (e instanceof PubsubNotFoundError) console.log('no such pubsub:', e.detail);
    else if (e instanceof SidecarUnavailableError) console.log('no sidecar');
    else if (e instanceof DaprError) console.log(e.grpcCode, e.errorCode ?? 'none', e.message);
  }
  const served = await client.pubsub.subscribeStreamWithHandler('ps', 'orders', async (data: unknown, ce: CloudEvent) => {
    console.log(data, ce.id);
    return DaprPubSubStatusEnum.DROP;
  }, { maxInFlight: 4, deadLetterTopic: 'dlq' });
  await served.close();
  await served.closed;
}

export async function subscriber(): Promise<void> {
  const server = new DaprServer({ serverHost: '127.0.0.1', serverPort: 0, communicationProtocol: CommunicationProtocolEnum.GRPC, clientOptions: { daprPort: 50001 } });
  await server.pubsub.subscribe('ps', 'orders', async (data: unknown, ce: CloudEvent) => {
    console.log(data, ce.id);
    return DaprPubSubStatusEnum.RETRY;
  });
  await server.pubsub.subscribeWithOptions('ps', 'routed', {
    route: { rules: [{ match: 'event.type == "a"', path: '/a' }], default: '/rest' },
    deadLetterTopic: 'dlq',
    metadata: { rawPayload: true },
  });
  server.pubsub.subscribeToRoute('ps', 'routed', { rules: [{ match: 'event.type == "a"', path: '/a' }], default: '/rest' }, () => undefined);
  await server.pubsub.subscribeBulk('ps', 'batched', async () => DaprPubSubStatusEnum.SUCCESS, { maxMessagesCount: 10 });
  await server.start();
  const port: number | undefined = server.port;
  console.log(port);
  await server.stop();
}

export async function expressApps(): Promise<void> {
  const app = express();
  app.use(express.json());
  app.get('/hello', (_req, res) => {
    res.send('hello');
  });
  const server = new DaprServer({ serverHost: '127.0.0.1', serverPort: 3000, serverHttp: app, clientOptions: { daprPort: 50001 } });
  await server.pubsub.subscribe('ps', 'orders', async (data: unknown) => console.log(data));
  await server.start();
  await server.stop();

  const routesOnly = new DaprServer();
  await routesOnly.pubsub.subscribe('ps', 'orders', () => DaprPubSubStatusEnum.SUCCESS);
  const own = express();
  own.use(routesOnly.router());
  own.listen(3001);
}
