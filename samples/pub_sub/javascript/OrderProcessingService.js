import { DaprClient, CommunicationProtocolEnum } from 'dapr-rs';

const daprHost = "127.0.0.1";

// Set by `make quickstart`: how many orders, and how far apart.
const ORDER_COUNT = parseInt(process.env.ORDER_COUNT ?? "10", 10);
const PUBLISH_INTERVAL_MS = parseInt(process.env.PUBLISH_INTERVAL_MS ?? "200", 10);

async function main() {
    // As the quickstart: the sidecar's HTTP API on DAPR_HTTP_PORT.
    const client = new DaprClient(daprHost, process.env.DAPR_HTTP_PORT, CommunicationProtocolEnum.HTTP);
    await client.start();
    for (let orderId = 1; orderId <= ORDER_COUNT; orderId++) {
        await client.pubsub.publish("order_pub_sub", "orders", orderId);
        console.log("Published data: " + orderId);
        await sleep(PUBLISH_INTERVAL_MS);
    }
}

function sleep(ms) {
    return new Promise(resolve => setTimeout(resolve, ms));
}

main().catch((e) => {
    console.error(e);
    process.exit(1);
});
