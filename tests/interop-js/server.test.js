// The official JS SDK's DaprServer (`@dapr/dapr` from npm, unchanged) receiving from our sidecar
// over the HTTP and the gRPC app protocols: plain subscriptions, routing rules, a dead-letter
// topic with DROP and RETRY answers, and bulk subscriptions (which the SDK's gRPC server only
// implements as AppCallbackAlpha/OnBulkTopicEventAlpha1, so our sidecar must fall back to it).
"use strict";

const { describe, it, before, after } = require("node:test");
const assert = require("node:assert/strict");
const { CommunicationProtocolEnum, DaprPubSubStatusEnum, DaprServer } = require("@dapr/dapr");
const { QUIET_LOGGER, Sidecar, boundPort, clientOptions, collected, resourcesDir, waitFor } = require("./harness");

/** Everything the app's callbacks were given, by label, in arrival order. */
class Inbox {
  constructor() {
    this.items = [];
  }

  record(label) {
    return (data, headers) => {
      this.items.push({ label, data, headers });
    };
  }

  async received(label, count) {
    return collected(`events for ${label}`, () => this.of(label), count);
  }

  of(label) {
    return this.items.filter((item) => item.label === label);
  }
}

/** The Node server underneath the SDK's DaprServer, once it exists. */
function nodeServerOf(server, protocol) {
  const inner = server.daprServer;
  return protocol === CommunicationProtocolEnum.GRPC ? inner.server : inner.serverInstance;
}

for (const [name, protocol, appProtocol] of [
  ["HTTP", CommunicationProtocolEnum.HTTP, "http"],
  ["gRPC", CommunicationProtocolEnum.GRPC, "grpc"],
]) {
  describe(`DaprServer over ${name} receiving from dapr-rs`, () => {
    const inbox = new Inbox();
    const bulkCalls = [];
    const answeredRetry = new Set();
    let server, sidecar;

    before(async () => {
      const ports = await Sidecar.freePorts();
      server = new DaprServer({
        serverHost: "127.0.0.1",
        serverPort: "0",
        communicationProtocol: protocol,
        clientOptions: clientOptions(ports, protocol),
        logger: QUIET_LOGGER,
      });
      const pubsub = server.pubsub;
      await pubsub.subscribe("pubsub", "orders", inbox.record("orders"));

      // Routing rules: the SDK turns each rule's path into its own route.
      await pubsub.subscribeWithOptions("pubsub", "routed", {
        route: { rules: [{ match: 'event.type == "widget"', path: "widgets" }], default: "others" },
      });
      pubsub.subscribeToRoute("pubsub", "routed", "widgets", inbox.record("widgets"));
      pubsub.subscribeToRoute("pubsub", "routed", "others", inbox.record("others"));

      // DROP goes to the dead-letter topic; RETRY comes back once.
      await pubsub.subscribeWithOptions("pubsub", "checked", {
        deadLetterTopic: "checked-dead",
        callback: async (data, headers) => {
          inbox.record("checked")(data, headers);
          if (data.verdict === "drop") return DaprPubSubStatusEnum.DROP;
          if (data.verdict === "retry" && !answeredRetry.has(data.id)) {
            answeredRetry.add(data.id);
            return DaprPubSubStatusEnum.RETRY;
          }
          return DaprPubSubStatusEnum.SUCCESS;
        },
      });
      await pubsub.subscribe("pubsub", "checked-dead", inbox.record("dead"));

      await pubsub.subscribeBulk(
        "pubsub",
        "bulk",
        async (data, headers) => {
          inbox.record("bulk")(data, headers);
          if (data.retry && !answeredRetry.has(`bulk-${data.n}`)) {
            answeredRetry.add(`bulk-${data.n}`);
            return DaprPubSubStatusEnum.RETRY;
          }
          return DaprPubSubStatusEnum.SUCCESS;
        },
        { maxMessagesCount: 10, maxAwaitDurationMs: 1000 },
      );
      spyOnBulkCalls(server, protocol, bulkCalls);

      const started = server.start();
      const appPort = await boundPort(await waitFor("the DaprServer's listener", () => nodeServerOf(server, protocol)));
      const resources = resourcesDir([{ name: "pubsub", type: "pubsub.in-memory" }]);
      sidecar = await Sidecar.start({ appId: `js-${appProtocol}`, resources, appPort, protocol: appProtocol, ports });
      await started;
      await sidecar.waitHttp("/v1.0/healthz", 204);
    });

    after(async () => {
      await sidecar?.stop();
      await server?.stop();
    });

    it("gets a published event's data", async () => {
      await server.client.pubsub.publish("pubsub", "orders", { orderId: 1, item: "widget" });
      const [event] = await inbox.received("orders", 1);
      assert.deepEqual(event.data, { orderId: 1, item: "widget" });
    });

    it("follows the routing rules it declared, first match or the default", async () => {
      await server.client.pubsub.publish("pubsub", "routed", { n: 1 }, { metadata: { "cloudevent.type": "widget" } });
      await server.client.pubsub.publish("pubsub", "routed", { n: 2 }, { metadata: { "cloudevent.type": "gadget" } });
      const [widget] = await inbox.received("widgets", 1);
      const [other] = await inbox.received("others", 1);
      assert.deepEqual(widget.data, { n: 1 });
      assert.deepEqual(other.data, { n: 2 });
    });

    it("sends what it DROPs to its dead-letter topic and redelivers what it RETRYs", async () => {
      await server.client.pubsub.publish("pubsub", "checked", { id: "a", verdict: "drop" });
      await server.client.pubsub.publish("pubsub", "checked", { id: "b", verdict: "retry" });
      await server.client.pubsub.publish("pubsub", "checked", { id: "c", verdict: "ok" });
      const [dead] = await inbox.received("dead", 1);
      assert.deepEqual(dead.data, { id: "a", verdict: "drop" });
      const checked = await inbox.received("checked", 4);
      assert.deepEqual(checked.map((e) => e.data.id).sort(), ["a", "b", "b", "c"]);
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.equal(inbox.of("dead").length, 1, "only the DROPped event is dead-lettered");
      assert.equal(inbox.of("checked").length, 4, "nothing is delivered again once answered");
    });

    it("takes a bulk subscription's events in batches, each entry answered on its own", async () => {
      const messages = [0, 1, 2, 3, 4].map((n) => ({ n, retry: n === 3 }));
      const res = await server.client.pubsub.publishBulk("pubsub", "bulk", messages);
      assert.deepEqual(res.failedMessages, []);
      const got = await inbox.received("bulk", 6);
      assert.deepEqual(got.map((e) => e.data.n).sort(), [0, 1, 2, 3, 3, 4]);
      // The five events came in batches (in-memory delivers them together), not one call each.
      assert.ok(bulkCalls.length >= 1 && bulkCalls.length < 6, `bulk calls: ${JSON.stringify(bulkCalls)}`);
      assert.equal(bulkCalls.reduce((sum, n) => sum + n, 0), 6);
      assert.ok(Math.max(...bulkCalls) > 1, `no batch held more than one event: ${JSON.stringify(bulkCalls)}`);
    });
  });
}

/** Counts the entries of every bulk call the SDK's server handles, by wrapping its real handler. */
function spyOnBulkCalls(server, protocol, calls) {
  const impl = server.daprServer.getServerImpl();
  if (protocol === CommunicationProtocolEnum.GRPC) {
    const handle = impl.onBulkTopicEventAlpha1.bind(impl);
    impl.onBulkTopicEventAlpha1 = (request, context) => {
      calls.push(request.entries.length);
      return handle(request, context);
    };
  } else {
    const handle = impl.processBulkSubscribeMessage.bind(impl);
    impl.processBulkSubscribeMessage = (routeObj, req) => {
      calls.push(req.body.entries.length);
      return handle(routeObj, req);
    };
  }
}
