'use strict';
// The dashboard test's app, plain Node: serves the subscriptions in SUBSCRIPTIONS (JSON, daprd's
// `/dapr/subscribe` shape) on APP_PORT and answers every event SUCCESS, except, with DROP_POISON=1,
// those whose id starts with `poison-`: it answers them DROP, so they go to the dead-letter topic.

const http = require('node:http');

const subscriptions = JSON.parse(process.env.SUBSCRIPTIONS || '[]');
const port = Number(process.env.APP_PORT);

const server = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const reply = (status, body) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (req.method === 'GET' && req.url === '/dapr/subscribe') return reply(200, subscriptions);
    if (req.method === 'GET' && req.url === '/healthz') return reply(200, {});
    if (req.method !== 'POST') return reply(404, {});
    let event = {};
    try {
      event = JSON.parse(Buffer.concat(chunks).toString());
    } catch {
      return reply(400, {});
    }
    const drop = process.env.DROP_POISON === '1' && String(event.id || '').startsWith('poison-');
    console.log(`${process.env.APP_ID} got ${event.id} on ${req.url}: ${drop ? 'DROP' : 'SUCCESS'}`);
    reply(200, { status: drop ? 'DROP' : 'SUCCESS' });
  });
});

server.listen(port, '127.0.0.1', () => console.log(`${process.env.APP_ID} listening on ${port}`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
