package io.daprrs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.daprrs.core.BulkEntry;
import io.daprrs.core.DaprException;
import io.daprrs.core.DataKind;
import io.daprrs.core.Event;
import io.daprrs.core.EventStatus;
import io.daprrs.core.Payload;
import io.daprrs.core.SidecarMetadata;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** The Java-friendly client against a real sidecar: publish, bulk, metadata, streaming subscriptions. */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class ClientTest {
    private static final String PUBSUB = "order_pub_sub";
    private static Sidecar sidecar;
    private static DaprClient client;

    @BeforeAll
    static void start() throws Exception {
        // The embedded durable broker: a RETRY is handed over again.
        java.nio.file.Path db = java.nio.file.Files.createTempDirectory("dapr-rs-jvm-db-").resolve("pubsub.db");
        sidecar = Sidecar.start("checkout", Sidecar.resourcesDir(List.of(new Sidecar.Component(PUBSUB, "pubsub.sqlite", Map.of("path", db.toString())))));
        client = sidecar.client();
        client.waitForSidecar(20_000).get(30, TimeUnit.SECONDS);
    }

    @AfterAll
    static void stop() throws Exception {
        if (client != null) client.close();
        if (sidecar != null) sidecar.close();
    }

    @Test
    void aPublishedMapReachesAStreamingSubscriptionAsJson() throws Exception {
        Inbox inbox = new Inbox();
        try (StreamSubscription sub = client.subscribeToEvents(PUBSUB, "stream-orders", e -> { inbox.add(e); return EventStatus.SUCCESS; })
                .get(20, TimeUnit.SECONDS)) {
            client.publishEvent(PUBSUB, "stream-orders", Map.of("orderId", 1)).get(20, TimeUnit.SECONDS);
            Event event = inbox.take("the streaming subscription");
            assertEquals(DataKind.JSON, event.getDataKind());
            assertEquals("application/json", event.getDatacontenttype());
            assertEquals(Map.of("orderId", 1L), Json.parse(event.getText()));
            assertEquals("stream-orders", event.getTopic());
            assertEquals("checkout", event.getSource());
        }
    }

    @Test
    void textAndBytesKeepTheirKinds() throws Exception {
        Inbox inbox = new Inbox();
        try (StreamSubscription sub = client.subscribeToEvents(PUBSUB, "stream-kinds", TopicListener.of(inbox::add)).get(20, TimeUnit.SECONDS)) {
            client.publishEvent(PUBSUB, "stream-kinds", "hello").get(20, TimeUnit.SECONDS);
            Event text = inbox.take("the text event");
            assertEquals(DataKind.TEXT, text.getDataKind());
            assertEquals("text/plain", text.getDatacontenttype());
            assertEquals("hello", text.getText());

            client.publishEvent(PUBSUB, "stream-kinds", new byte[] {0, 1, 2, (byte) 0xff}).get(20, TimeUnit.SECONDS);
            Event bytes = inbox.take("the bytes event");
            assertEquals(DataKind.BYTES, bytes.getDataKind());
            assertNull(bytes.getText());
            assertEquals("AAEC/w==", java.util.Base64.getEncoder().encodeToString(bytes.getData()));
        }
    }

    @Test
    void aThrowingStreamHandlerIsAskedAgain() throws Exception {
        Inbox inbox = new Inbox();
        AtomicInteger calls = new AtomicInteger();
        TopicListener failsOnce = e -> {
            inbox.add(e);
            if (calls.incrementAndGet() == 1) throw new IllegalStateException("handler bug");
            return EventStatus.SUCCESS;
        };
        try (StreamSubscription sub = client.subscribeToEvents(PUBSUB, "stream-retry", failsOnce).get(20, TimeUnit.SECONDS)) {
            client.publishEvent(PUBSUB, "stream-retry", "once").get(20, TimeUnit.SECONDS);
            // RETRY: the broker hands the same event over again.
            List<Event> got = inbox.take("the retried event", 2);
            assertEquals(got.get(0).getId(), got.get(1).getId());
        }
    }

    @Test
    void bulkPublishDeliversEveryEntry() throws Exception {
        Inbox inbox = new Inbox();
        try (StreamSubscription sub = client.subscribeToEvents(PUBSUB, "stream-bulk", TopicListener.of(inbox::add)).get(20, TimeUnit.SECONDS)) {
            assertEquals(List.of(), client.publishEvents(PUBSUB, "stream-bulk", List.of("a", "b", "c")).get(20, TimeUnit.SECONDS));
            List<BulkEntry> entries = List.of(new BulkEntry("x", new Payload.Json("{\"n\":1}"), null, Map.of()),
                    new BulkEntry("y", new Payload.Bytes("y".getBytes(StandardCharsets.UTF_8)), "application/x-y", Map.of()));
            assertEquals(List.of(), client.publishBulk(PUBSUB, "stream-bulk", entries, Map.of()).get(20, TimeUnit.SECONDS));
            List<String> texts = inbox.take("the bulk entries", 5).stream()
                    .map(e -> e.getText() != null ? e.getText() : new String(e.getData(), StandardCharsets.UTF_8)).sorted().toList();
            assertEquals(List.of("a", "b", "c", "y", "{\"n\":1}"), texts);
        }
    }

    @Test
    void metadataNamesTheAppAndItsComponent() throws Exception {
        SidecarMetadata metadata = client.getMetadata().get(20, TimeUnit.SECONDS);
        assertEquals("checkout", metadata.getAppId());
        assertTrue(metadata.getComponents().stream().anyMatch(c -> c.getName().equals(PUBSUB) && c.getComponentType().equals("pubsub.sqlite")),
                metadata.getComponents().toString());
    }

    @Test
    void doneCompletesWithinTheGraceWhenAHandlerNeverReturns() throws Exception {
        CountDownLatch entered = new CountDownLatch(1);
        CountDownLatch release = new CountDownLatch(1);
        StreamSubscription sub = client.subscribeToEvents(PUBSUB, "stream-stuck", e -> {
            entered.countDown();
            release.await(); // until the test ends: a handler that never returns
            return EventStatus.SUCCESS;
        }).get(20, TimeUnit.SECONDS);
        try {
            client.publishEvent(PUBSUB, "stream-stuck", "stuck").get(20, TimeUnit.SECONDS);
            assertTrue(entered.await(20, TimeUnit.SECONDS), "the handler was not called");
            sub.close();
            // Core gives running handlers 5 s after the end, then gives them up.
            sub.done().get(15, TimeUnit.SECONDS);
        } finally {
            release.countDown();
        }
    }

    @Test
    void aMissingPubsubIsPubsubNotFound() {
        ExecutionException e = assertThrows(ExecutionException.class, () -> client.publishEvent("nope", "orders", "x").get(20, TimeUnit.SECONDS));
        DaprException.PubsubNotFound cause = assertInstanceOf(DaprException.PubsubNotFound.class, e.getCause());
        assertEquals("ERR_PUBSUB_NOT_FOUND", cause.getErrorCode());
    }

    @Test
    void aBadPortIsRefusedAtOnce() {
        assertThrows(DaprException.InvalidArgument.class, () -> new DaprClientBuilder().withPort(70000).build());
    }

    @Test
    void aTimeoutOutsideGosDurationsIsRefusedAtOnce() {
        // Past the longest Go duration tonic's deadline would panic on every call.
        assertThrows(DaprException.InvalidArgument.class, () -> new DaprClientBuilder().withTimeout(java.time.Duration.ofMillis(Long.MAX_VALUE)).build());
        assertThrows(DaprException.InvalidArgument.class, () -> new DaprClientBuilder().withTimeout(java.time.Duration.ofMillis(-1)).build());
    }

    @Test
    void kotlinSuspendCallsAreThereForKotlinCode() throws Exception {
        // The generated client is what Kotlin code calls; the Java layer only wraps it.
        assertEquals(client.endpoint(), client.kotlinClient().endpoint());
        assertTrue(client.endpoint().endsWith(":" + sidecar.grpcPort), client.endpoint());
    }
}
