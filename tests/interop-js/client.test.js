// The official JS SDK's DaprClient (`@dapr/dapr` from npm, unchanged) publishing through our
// sidecar, over HTTP and over gRPC, as the quickstart's publisher does: its sidecar and the
// subscriber's sidecar share the embedded durable broker; the subscriber is a plain HTTP app that
// records what arrives, so every event is checked field by field.
"use strict";

const { describe, it, before, after } = require("node:test");
const assert = require("node:assert/strict");
const { CommunicationProtocolEnum, DaprClient } = require("@dapr/dapr");
const { Sidecar, sqliteResources } = require("./harness");
const { RecordingApp } = require("./recording_app");

const SUBSCRIPTIONS = [
  { pubsubname: "pubsub", topic: "orders", route: "/orders" },
  { pubsubname: "pubsub", topic: "bulk", route: "/bulk" },
  { pubsubname: "pubsub", topic: "raw", route: "/raw", metadata: { rawPayload: "true" } },
];

for (const [name, protocol] of [
  ["HTTP", CommunicationProtocolEnum.HTTP],
  ["gRPC", CommunicationProtocolEnum.GRPC],
]) {
  describe(`DaprClient over ${name} publishing through dapr-rs`, () => {
    let app, subscriber, publisher, client;

    before(async () => {
      const resources = sqliteResources();
      app = await RecordingApp.start(SUBSCRIPTIONS);
      subscriber = await Sidecar.start({ appId: "checkout", resources, appPort: app.port, protocol: "http" });
      await subscriber.waitHttp("/v1.0/healthz", 204);
      publisher = await Sidecar.start({ appId: "orderprocessing", resources });
      client = new DaprClient(publisher.clientOptions(protocol));
      await client.start();
    });

    after(async () => {
      await client?.stop();
      await publisher?.stop();
      await subscriber?.stop();
      await app?.stop();
    });

    it("wraps a JSON object in the CloudEvent daprd builds, with metadata overrides and a TTL", async () => {
      const before = Date.now();
      const res = await client.pubsub.publish("pubsub", "orders", { orderId: 1 }, {
        metadata: { "cloudevent.subject": "order-1", ttlInSeconds: "60" },
      });
      assert.deepEqual(res, {});
      const [delivery] = await app.received("/orders", 1);
      assert.equal(delivery.method, "POST");
      assert.equal(delivery.headers["content-type"], "application/cloudevents+json");
      const ce = delivery.body;
      assert.deepEqual(ce.data, { orderId: 1 });
      assert.equal(ce.datacontenttype, "application/json");
      assert.equal(ce.source, "orderprocessing");
      assert.equal(ce.type, "com.dapr.event.sent");
      assert.equal(ce.specversion, "1.0");
      assert.equal(ce.topic, "orders");
      assert.equal(ce.pubsubname, "pubsub");
      assert.equal(ce.subject, "order-1");
      assert.match(ce.id, /^[0-9a-f-]{36}$/);
      assert.match(ce.traceparent, /^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$/);
      const expiration = Date.parse(ce.expiration);
      assert.ok(expiration >= before + 59000 && expiration <= Date.now() + 61000, ce.expiration);
      assert.ok(Number.isFinite(Date.parse(ce.time)), ce.time);
    });

    it("sends a string as text/plain", async () => {
      await client.pubsub.publish("pubsub", "orders", "two");
      const deliveries = await app.received("/orders", 2);
      const ce = deliveries[1].body;
      assert.equal(ce.data, "two");
      assert.equal(ce.datacontenttype, "text/plain");
    });

    it("passes its own CloudEvent through, keeping the caller's attributes", async () => {
      const event = { specversion: "1.0", id: `ce-${name}`, source: "my-source", type: "my.type", datacontenttype: "application/json", data: { orderId: 3 } };
      await client.pubsub.publish("pubsub", "orders", event);
      const deliveries = await app.received("/orders", 3);
      const ce = deliveries[2].body;
      assert.equal(ce.id, `ce-${name}`);
      assert.equal(ce.source, "my-source");
      assert.equal(ce.type, "my.type");
      assert.deepEqual(ce.data, { orderId: 3 });
      // What daprd adds to a passed-through CloudEvent.
      assert.equal(ce.topic, "orders");
      assert.equal(ce.pubsubname, "pubsub");
      assert.match(ce.traceparent, /^00-/);
    });

    it("bulk-publishes mixed entries, each delivered as its own event", async () => {
      const res = await client.pubsub.publishBulk("pubsub", "bulk", [{ orderId: 10 }, "eleven", { entryID: "twelve", event: { orderId: 12 } }]);
      assert.deepEqual(res.failedMessages, []);
      const deliveries = await app.received("/bulk", 3);
      const byData = Object.fromEntries(deliveries.map((d) => [JSON.stringify(d.body.data), d.body]));
      assert.deepEqual(Object.keys(byData).sort(), ['"eleven"', '{"orderId":10}', '{"orderId":12}']);
      assert.equal(byData['"eleven"'].datacontenttype, "text/plain");
      assert.equal(byData['{"orderId":10}'].datacontenttype, "application/json");
      for (const ce of deliveries.map((d) => d.body)) {
        assert.equal(ce.source, "orderprocessing");
        assert.equal(ce.topic, "bulk");
      }
    });

    it("publishes a raw payload that a rawPayload subscription gets byte for byte", async () => {
      await client.pubsub.publish("pubsub", "raw", { orderId: 20 }, { metadata: { rawPayload: "true" } });
      const [delivery] = await app.received("/raw", 1);
      const ce = delivery.body;
      // The broker held the bare JSON; the subscriber's sidecar wraps it as daprd does.
      assert.equal(ce.datacontenttype, "application/octet-stream");
      assert.equal(Buffer.from(ce.data_base64, "base64").toString(), JSON.stringify({ orderId: 20 }));
      assert.equal(ce.topic, "raw");
      assert.equal(ce.pubsubname, "pubsub");
    });

    it("reports an unknown pub/sub as the SDK's own error", async () => {
      let error;
      try {
        error = (await client.pubsub.publish("nope", "orders", { orderId: 0 })).error;
      } catch (e) {
        error = e.error; // the gRPC client throws `{ error }`, the HTTP client returns it
      }
      assert.ok(error, "publishing to an unknown pub/sub must fail");
      if (protocol === CommunicationProtocolEnum.HTTP) {
        const reply = JSON.parse(error.message);
        assert.equal(reply.status, 404);
        assert.equal(JSON.parse(reply.error_msg).errorCode, "ERR_PUBSUB_NOT_FOUND");
      } else {
        assert.equal(error.code, 3, String(error)); // InvalidArgument
        assert.match(error.message, /nope/);
      }
    });
  });
}
