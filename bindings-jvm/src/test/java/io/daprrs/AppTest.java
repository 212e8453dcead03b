package io.daprrs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.daprrs.core.Event;
import io.daprrs.core.EventStatus;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** DaprApp over gRPC behind a real sidecar: @Topic methods and listeners receive what is published. */
@Timeout(value = 90, unit = TimeUnit.SECONDS)
class AppTest {
    private static final String PUBSUB = "order_pub_sub";

    /** The quickstart's subscriber shape: a @Topic method. */
    public static class Orders {
        final Inbox inbox = new Inbox();

        @Topic(name = "orders", pubsubName = PUBSUB)
        public void onOrder(Event event) {
            inbox.add(event);
        }

        @Topic(name = "returns", pubsubName = PUBSUB, route = "/returns")
        public EventStatus onReturn(Event event) {
            inbox.add(event);
            return EventStatus.DROP;
        }
    }

    @Test
    void topicMethodsReceiveEveryOrder() throws Exception {
        Orders orders = new Orders();
        Inbox listened = new Inbox();
        try (DaprApp app = DaprApp.builder().host("127.0.0.1").register(orders).onTopic(PUBSUB, "refunds", listened::add).start();
                Sidecar sidecar = Sidecar.start("checkout", Sidecar.inMemory(PUBSUB), app.port(), "grpc", Map.of());
                DaprClient client = sidecar.client()) {
            sidecar.waitHttp("/v1.0/healthz", 204, java.time.Duration.ofSeconds(20)); // the app's subscriptions run
            for (int i = 1; i <= 5; i++) {
                client.publishEvent(PUBSUB, "orders", Map.of("orderId", i)).get(20, TimeUnit.SECONDS);
            }
            Set<Object> ids = orders.inbox.take("topic orders", 5).stream().map(e -> ((Map<?, ?>) Json.parse(e.getText())).get("orderId"))
                    .collect(Collectors.toSet());
            assertEquals(Set.of(1L, 2L, 3L, 4L, 5L), ids);

            client.publishEvent(PUBSUB, "returns", "r1").get(20, TimeUnit.SECONDS);
            Event ret = orders.inbox.take("topic returns");
            assertEquals("r1", ret.getText());
            assertEquals("/returns", ret.getPath());

            client.publishEvent(PUBSUB, "refunds", "f1").get(20, TimeUnit.SECONDS);
            assertEquals("f1", listened.take("topic refunds").getText());
            assertEquals(List.of(), orders.inbox.within(200), "nothing else arrives");
        }
    }

    @Test
    void aTopicMethodOfTheWrongShapeIsRefused() {
        class Bad {
            @Topic(name = "t", pubsubName = PUBSUB)
            public void wrong(String s) {}
        }
        assertThrows(IllegalArgumentException.class, () -> DaprApp.builder().register(new Bad()));
    }
}
