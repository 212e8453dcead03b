import io.daprrs.DaprClient;
import io.daprrs.DaprClientBuilder;
import io.daprrs.Json;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/** The quickstart's publisher: ORDER_COUNT orders (default 10) to topic `orders` of `order_pub_sub`. */
public class OrderProcessingService {
    private static final String PUBSUB_NAME = "order_pub_sub";
    private static final String TOPIC_NAME = "orders";

    public static void main(String[] args) throws Exception {
        int orders = Integer.parseInt(System.getenv().getOrDefault("ORDER_COUNT", "10"));
        long intervalMs = Long.parseLong(System.getenv().getOrDefault("PUBLISH_INTERVAL_MS", "200"));
        // Each publish fails with DaprException.Timeout after 10 s instead of waiting for ever.
        try (DaprClient client = new DaprClientBuilder().withTimeout(Duration.ofSeconds(10)).build()) {
            client.waitForSidecar(60_000).get(70, TimeUnit.SECONDS);
            for (int orderId = 1; orderId <= orders; orderId++) {
                Map<String, Object> order = Map.of("orderId", orderId);
                client.publishEvent(PUBSUB_NAME, TOPIC_NAME, order).get(15, TimeUnit.SECONDS);
                System.out.println("Published data: " + Json.write(order));
                Thread.sleep(intervalMs);
            }
        }
    }
}
