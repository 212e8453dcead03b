// A plain HTTP subscriber app (what a Dapr app without an SDK is): it lists its subscriptions on
// GET /dapr/subscribe and keeps every delivery it gets, answering SUCCESS, so the tests can check
// what the official client's events looked like when they arrived, field by field.
"use strict";

const http = require("node:http");
const { boundPort, collected } = require("./harness");

class RecordingApp {
  /** `subscriptions`: the /dapr/subscribe answer (daprd's programmatic subscription JSON). */
  static async start(subscriptions) {
    const app = new RecordingApp(subscriptions);
    app.server.listen(0, "127.0.0.1");
    app.port = await boundPort(app.server);
    return app;
  }

  constructor(subscriptions) {
    this.deliveries = [];
    this.server = http.createServer((req, res) => {
      const chunks = [];
      req.on("data", (c) => chunks.push(c));
      req.on("end", () => {
        if (req.method === "GET" && req.url === "/dapr/subscribe") {
          res.writeHead(200, { "content-type": "application/json" });
          return res.end(JSON.stringify(subscriptions));
        }
        const text = Buffer.concat(chunks).toString();
        let body;
        try {
          body = JSON.parse(text);
        } catch {
          body = text;
        }
        this.deliveries.push({ method: req.method, path: req.url, headers: req.headers, body });
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify({ status: "SUCCESS" }));
      });
    });
  }

  /** The bodies delivered to `path`, once there are `count` of them. */
  async received(path, count) {
    return collected(`deliveries to ${path}`, () => this.at(path), count);
  }

  at(path) {
    return this.deliveries.filter((d) => d.path === path);
  }

  stop() {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(resolve));
  }
}

module.exports = { RecordingApp };
