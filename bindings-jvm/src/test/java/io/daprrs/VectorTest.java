package io.daprrs;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.daprrs.core.DaprException;
import io.daprrs.core.DataKind;
import io.daprrs.core.Event;
import io.daprrs.core.EventStatus;
import io.daprrs.core.DaprErrors;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.api.Timeout;

/**
 * The shared vectors of tests/vectors/ that apply to a client binding, through this binding's
 * public API: content types and envelopes published through a real sidecar and received by a DaprApp, handler
 * answers as the sidecar's HTTP delivery gets them, errors as the DaprExceptions thrown, routing
 * rules as the handler each event reaches. The
 * expectations are the vectors'; nothing here restates a rule.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class VectorTest {
    private static final String LANGUAGE = "java";
    private static final String PUBSUB = "order_pub_sub";
    private static final Map<String, String> RAW = Map.of("rawPayload", "true");
    private static final List<AutoCloseable> RUNNING = new ArrayList<>();

    @SuppressWarnings("unchecked")
    private static Map<String, Object> load(String name) throws Exception {
        return (Map<String, Object>) Json.parse(Files.readString(Sidecar.ROOT.resolve("tests/vectors/" + name)));
    }

    @SuppressWarnings("unchecked")
    private static List<Map<String, Object>> cases(Map<String, Object> vectors, String key) {
        return (List<Map<String, Object>>) vectors.get(key);
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> map(Object o) {
        return (Map<String, Object>) o;
    }

    /** Whether a case's `languages` (absent: every language) take this binding. */
    private static boolean forJava(Map<String, Object> c) {
        return !c.containsKey("languages") || ((List<?>) c.get("languages")).contains(LANGUAGE);
    }

    @AfterAll
    static void stopAll() throws Exception {
        for (AutoCloseable c : RUNNING) c.close();
    }

    /** The bytes of a data form: utf8, base64, or json (as this binding's Json writes it). */
    private static byte[] bytesOf(Map<String, Object> form) {
        if (form.containsKey("utf8")) return ((String) form.get("utf8")).getBytes(StandardCharsets.UTF_8);
        if (form.containsKey("base64")) return Base64.getDecoder().decode((String) form.get("base64"));
        return Json.write(form.get("json")).getBytes(StandardCharsets.UTF_8);
    }

    /** A delivered event's payload against a data form: `json` as a value, `utf8` and `base64` byte for byte. */
    private static void assertData(Event event, Map<String, Object> form, String what) {
        if (form.containsKey("json")) {
            String text = event.getDataKind() == DataKind.JSON ? event.getText() : new String(event.getData(), StandardCharsets.UTF_8);
            assertEquals(form.get("json"), Json.parse(text), what);
        } else {
            assertArrayEquals(bytesOf(form), event.getData(), what + ": " + new String(event.getData(), StandardCharsets.UTF_8));
        }
    }

    /** A DaprApp (gRPC) behind a real sidecar on the in-memory broker, and a client of it. */
    private static DaprClient startBench(String appId, DaprApp.Builder app) throws Exception {
        DaprApp server = app.host("127.0.0.1").start();
        RUNNING.add(server);
        Sidecar sidecar = Sidecar.start(appId, Sidecar.inMemory(PUBSUB), server.port(), "grpc", Map.of());
        RUNNING.add(0, sidecar);
        sidecar.waitHttp("/v1.0/healthz", 204, Duration.ofSeconds(20)); // the app's subscriptions run
        DaprClient client = sidecar.client();
        RUNNING.add(0, client);
        return client;
    }

    @TestFactory
    Stream<DynamicTest> contentTypes() throws Exception {
        Map<String, Object> vectors = load("content_types.json");
        Inbox plain = new Inbox(), raw = new Inbox();
        DaprClient client = startBench("checkout", DaprApp.builder()
                .onTopic(PUBSUB, "content-types", plain::add)
                .subscribe(PUBSUB, "content-types-raw", null, RAW, TopicListener.of(raw::add)));
        return cases(vectors, "cases").stream().map(c -> DynamicTest.dynamicTest((String) c.get("name"), () -> {
            Map<String, Object> expected = new HashMap<>(c);
            Map<String, Object> byLanguage = c.containsKey("by_language") ? map(c.get("by_language")) : Map.of();
            if (byLanguage.containsKey(LANGUAGE)) expected.putAll(map(byLanguage.get(LANGUAGE)));
            Map<String, Object> sent = map(expected.get("sent"));
            Map<String, Object> delivered = expected.containsKey("delivered") ? map(expected.get("delivered")) : sent;
            Map<String, Object> value = map(c.get("value"));
            Object data = value.containsKey("json") ? value.get("json") : Base64.getDecoder().decode((String) value.get("bytes"));
            String contentType = (String) c.get("content_type");

            // Published raw to a raw subscriber, the bytes arrive exactly as core sent them.
            client.publishEvent(PUBSUB, "content-types-raw", data, contentType, RAW).get(20, TimeUnit.SECONDS);
            assertData(raw.take("topic content-types-raw"), map(sent.get("data")), "bytes sent");

            client.publishEvent(PUBSUB, "content-types", data, contentType, Map.of()).get(20, TimeUnit.SECONDS);
            Event event = plain.take("topic content-types");
            assertEquals(delivered.get("content_type"), event.getDatacontenttype());
            assertData(event, map(delivered.get("data")), "data delivered");
            if (delivered.containsKey("attributes")) {
                Map<String, Object> attributes = map(delivered.get("attributes"));
                Map<String, Object> extensions = map(Json.parse(event.getExtensions()));
                for (Map.Entry<String, Object> a : attributes.entrySet()) {
                    Object got = switch (a.getKey()) {
                        case "id" -> event.getId();
                        case "source" -> event.getSource();
                        case "type" -> event.getEventType();
                        case "specversion" -> event.getSpecversion();
                        case "datacontenttype" -> event.getDatacontenttype();
                        default -> extensions.get(a.getKey());
                    };
                    assertEquals(a.getValue(), got, a.getKey());
                }
            }
        }));
    }

    /** A delivered event's CloudEvent attributes, data aside; core's attributes that are "" were absent. */
    private static Map<String, Object> attributesOf(Event e) {
        Map<String, Object> attributes = new HashMap<>(map(Json.parse(e.getExtensions())));
        Map<String, String> core = Map.of("id", e.getId(), "source", e.getSource(), "type", e.getEventType(),
                "specversion", e.getSpecversion(), "datacontenttype", e.getDatacontenttype());
        core.forEach((k, v) -> { if (!v.isEmpty()) attributes.put(k, v); });
        attributes.put("topic", e.getTopic());
        attributes.put("pubsubname", e.getPubsubname());
        return attributes;
    }

    @TestFactory
    Stream<DynamicTest> envelopes() throws Exception {
        Map<String, Object> vectors = load("envelopes.json");
        Map<String, Object> context = map(vectors.get("context"));
        Map<String, Object> shapes = map(vectors.get("shapes"));
        Map<String, Boolean> rawByTopic = new HashMap<>();
        for (Map<String, Object> c : cases(vectors, "cases")) {
            Map<String, Object> publish = map(c.get("publish"));
            Map<String, Object> subscriber = c.containsKey("subscriber") ? map(c.get("subscriber")) : Map.of();
            rawByTopic.put((String) publish.getOrDefault("topic", context.get("topic")), Boolean.TRUE.equals(subscriber.get("rawPayload")));
        }
        Map<String, Inbox> inboxes = new HashMap<>();
        DaprApp.Builder app = DaprApp.builder();
        rawByTopic.forEach((topic, raw) -> {
            Inbox inbox = new Inbox();
            inboxes.put(topic, inbox);
            app.subscribe((String) context.get("pubsub_name"), topic, null, raw ? RAW : Map.of(), TopicListener.of(inbox::add));
        });
        DaprClient client = startBench((String) context.get("app_id"), app);
        return cases(vectors, "cases").stream().map(c -> DynamicTest.dynamicTest((String) c.get("name"), () -> {
            Map<String, Object> publish = map(c.get("publish"));
            String topic = (String) publish.getOrDefault("topic", context.get("topic"));
            Map<String, String> metadata = new HashMap<>();
            if (publish.containsKey("metadata")) map(publish.get("metadata")).forEach((k, v) -> metadata.put(k, String.valueOf(v)));
            client.publishEvent((String) context.get("pubsub_name"), topic, bytesOf(map(publish.get("data"))), (String) publish.get("content_type"), metadata)
                    .get(20, TimeUnit.SECONDS);
            Event event = inboxes.get(topic).take("topic " + topic);
            Map<String, Object> actual = attributesOf(event);
            Map<String, Object> expected = new HashMap<>(map(c.get("envelope")));
            expected.remove("data");
            expected.remove("data_base64");
            assertEquals(new java.util.TreeSet<>(expected.keySet()), new java.util.TreeSet<>(actual.keySet()), "attributes " + actual);
            for (Map.Entry<String, Object> want : expected.entrySet()) {
                Object got = actual.get(want.getKey());
                if (want.getValue() instanceof Map<?, ?> rule && rule.containsKey("shape")) {
                    String pattern = (String) shapes.get(rule.get("shape"));
                    assertEquals(true, String.valueOf(got).matches(pattern), want.getKey() + " is no " + rule.get("shape") + ": " + got);
                } else if (want.getValue() instanceof Map<?, ?> rule && rule.containsKey("same_as")) {
                    assertEquals(actual.get(rule.get("same_as")), got, want.getKey() + " must equal " + rule.get("same_as"));
                } else {
                    assertEquals(want.getValue(), got, want.getKey());
                }
            }
            assertData(event, map(c.get("delivered_data")), "data delivered");
        }));
    }

    @TestFactory
    Stream<DynamicTest> handlerAnswers() throws Exception {
        Map<String, Object> vectors = load("handler_answers.json");
        List<Map<String, Object>> cases = cases(vectors, "cases").stream().filter(VectorTest::forJava).toList();
        // The HTTP app protocol: each answer is the reply the sidecar reads.
        DaprApp.Builder builder = DaprApp.builder().host("127.0.0.1").protocol("http");
        for (int i = 0; i < cases.size(); i++) {
            builder.subscribe(PUBSUB, "answers-" + i, "/answers/" + i, listenerFor(cases.get(i)));
        }
        DaprApp app = builder.start();
        RUNNING.add(app);
        HttpClient http = HttpClient.newHttpClient();
        List<DynamicTest> tests = new ArrayList<>();
        for (int i = 0; i < cases.size(); i++) {
            int n = i;
            Map<String, Object> c = cases.get(i);
            tests.add(DynamicTest.dynamicTest((String) c.get("name"), () -> {
                Map<String, Object> event = Map.of("specversion", "1.0", "id", "answer-" + n, "source", "checkout", "type", "com.dapr.event.sent",
                        "datacontenttype", "text/plain", "data", "x", "topic", "answers-" + n, "pubsubname", PUBSUB);
                HttpRequest req = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + app.port() + "/answers/" + n))
                        .timeout(Duration.ofSeconds(20)).header("content-type", "application/cloudevents+json")
                        .POST(HttpRequest.BodyPublishers.ofString(Json.write(event))).build();
                HttpResponse<String> res = http.send(req, HttpResponse.BodyHandlers.ofString());
                assertEquals(200, res.statusCode(), res.body());
                Map<String, Object> byLanguage = c.containsKey("status_by_language") ? map(c.get("status_by_language")) : Map.of();
                Object status = byLanguage.containsKey(LANGUAGE) ? map(byLanguage.get(LANGUAGE)).get("status") : c.get("status");
                assertEquals(Map.of("status", status), Json.parse(res.body()));
            }));
        }
        return tests.stream();
    }

    /** A listener giving the case's answer in Java's forms: an EventStatus, or a throw; `async` answers from another thread. */
    private static TopicListener listenerFor(Map<String, Object> c) {
        Map<String, Object> answer = map(c.get("answer"));
        TopicListener now;
        if (answer.containsKey("status")) {
            EventStatus status = EventStatus.valueOf((String) answer.get("status"));
            now = e -> status;
        } else if (answer.containsKey("throws")) {
            now = e -> { throw new IllegalStateException((String) answer.get("throws")); };
        } else {
            throw new AssertionError(c.get("name") + ": no Java form for " + answer);
        }
        if (!Boolean.TRUE.equals(c.get("async"))) return now;
        return e -> CompletableFuture.supplyAsync(() -> {
            try {
                return now.onEvent(e);
            } catch (Exception ex) {
                throw new RuntimeException(ex);
            }
        }).join();
    }

    /** After the last routed event arrived, how long an event no rule matched has to show up anyway. */
    private static final long STRAY_WAIT_MS = 500;

    @TestFactory
    Stream<DynamicTest> routing() throws Exception {
        Map<String, Object> vectors = load("routing.json");
        String pubsub = (String) vectors.get("pubsub_name");
        List<Map<String, Object>> ruleSets = cases(vectors, "rule_sets").stream().filter(VectorTest::forJava).toList();
        // One handler per path; each topic's arrivals, as "path event-id", in one queue.
        Map<String, java.util.concurrent.LinkedBlockingQueue<String>> arrived = new HashMap<>();
        DaprApp.Builder app = DaprApp.builder();
        for (Map<String, Object> ruleSet : ruleSets) {
            String topic = (String) ruleSet.get("topic");
            java.util.concurrent.LinkedBlockingQueue<String> queue = new java.util.concurrent.LinkedBlockingQueue<>();
            arrived.put(topic, queue);
            List<Map<String, Object>> rules = cases(ruleSet, "rules");
            for (int priority = 0; priority < rules.size(); priority++) {
                String path = (String) rules.get(priority).get("path");
                app.subscribe(pubsub, topic, path, (String) rules.get(priority).get("match"), priority,
                        TopicListener.of(e -> queue.add(path + " " + e.getId())));
            }
        }
        DaprClient client = startBench((String) vectors.get("app_id"), app);
        return ruleSets.stream().map(ruleSet -> DynamicTest.dynamicTest((String) ruleSet.get("name"), () -> {
            String topic = (String) ruleSet.get("topic");
            List<Map<String, Object>> events = new ArrayList<>(cases(ruleSet, "events"));
            // Those no rule matches go first, so one that arrived anyway shows before the wait ends.
            events.sort(java.util.Comparator.comparing(c -> c.get("path") != null));
            for (Map<String, Object> c : events) {
                client.publishEvent(pubsub, topic, c.get("event"), "application/cloudevents+json", Map.of()).get(20, TimeUnit.SECONDS);
            }
            Map<String, String> expected = new java.util.TreeMap<>();
            for (Map<String, Object> c : events) {
                if (c.get("path") != null) expected.put((String) map(c.get("event")).get("id"), (String) c.get("path"));
            }
            Map<String, String> got = new java.util.TreeMap<>();
            java.util.concurrent.LinkedBlockingQueue<String> queue = arrived.get(topic);
            for (int i = 0; i < expected.size(); i++) {
                String one = queue.poll(20, TimeUnit.SECONDS);
                if (one == null) throw new AssertionError("topic " + topic + ": " + got.size() + " of " + expected.size() + " routed events within 20 s: " + got);
                got.put(one.substring(one.indexOf(' ') + 1), one.substring(0, one.indexOf(' ')));
            }
            Thread.sleep(STRAY_WAIT_MS);
            for (String one : queue) got.put(one.substring(one.indexOf(' ') + 1), one.substring(0, one.indexOf(' ')));
            queue.clear();
            assertEquals(expected, got);
        }));
    }

    @TestFactory
    Stream<DynamicTest> errors() throws Exception {
        Map<String, Object> vectors = load("errors.json");
        Map<String, Object> setups = map(vectors.get("sidecars"));
        Map<String, Sidecar> started = new HashMap<>();
        Map<String, Class<? extends DaprException>> classOfKind = Map.of(
                "pubsub_not_found", DaprException.PubsubNotFound.class,
                "topic_forbidden", DaprException.TopicForbidden.class,
                "invalid_argument", DaprException.InvalidArgument.class,
                "sidecar_unavailable", DaprException.SidecarUnavailable.class,
                "timeout", DaprException.Timeout.class,
                "other", DaprException.Other.class);
        return cases(vectors, "cases").stream()
                .filter(c -> !(c.containsKey("skip_by_language") && map(c.get("skip_by_language")).containsKey(LANGUAGE)))
                .map(c -> DynamicTest.dynamicTest((String) c.get("name"), () -> {
                    Map<String, Object> cause = map(c.get("cause"));
                    Map<String, Object> raised = map(c.get("raised"));
                    String setup = (String) cause.get("sidecar");
                    DaprClientBuilder builder = new DaprClientBuilder().withHost("127.0.0.1");
                    if (setup.equals("none")) {
                        builder.withPort(Sidecar.freePort());
                    } else {
                        if (!started.containsKey(setup)) {
                            Map<String, Object> spec = map(setups.get(setup));
                            List<Sidecar.Component> components = new ArrayList<>();
                            for (Object o : (List<?>) spec.get("components")) {
                                Map<String, Object> comp = map(o);
                                Map<String, String> metadata = new HashMap<>();
                                map(comp.get("metadata")).forEach((k, v) -> metadata.put(k, String.valueOf(v)));
                                components.add(new Sidecar.Component((String) comp.get("name"), (String) comp.get("type"), metadata));
                            }
                            Map<String, String> env = new HashMap<>();
                            map(spec.get("env")).forEach((k, v) -> env.put(k, String.valueOf(v)));
                            Sidecar s = Sidecar.start((String) vectors.get("app_id"), Sidecar.resourcesDir(components), 0, "grpc", env);
                            started.put(setup, s);
                            RUNNING.add(s);
                        }
                        builder.withPort(started.get(setup).grpcPort);
                    }
                    if (cause.containsKey("api_token")) builder.withApiToken((String) cause.get("api_token"));
                    try (DaprClient client = builder.build()) {
                        CompletableFuture<?> call;
                        if (cause.containsKey("publish")) {
                            Map<String, Object> p = map(cause.get("publish"));
                            Map<String, String> metadata = new HashMap<>();
                            if (p.containsKey("metadata")) map(p.get("metadata")).forEach((k, v) -> metadata.put(k, String.valueOf(v)));
                            byte[] data = bytesOf(map(p.get("data")));
                            call = client.publishEvent((String) p.get("pubsub_name"), (String) p.get("topic"), data, (String) p.get("content_type"), metadata);
                        } else {
                            long timeoutMs = ((Number) map(cause.get("wait_for_sidecar")).get("timeout_ms")).longValue();
                            call = client.waitForSidecar(timeoutMs);
                        }
                        ExecutionException e = assertThrows(ExecutionException.class, () -> call.get(30, TimeUnit.SECONDS));
                        DaprException thrown = assertInstanceOf(classOfKind.get((String) raised.get("kind")), e.getCause());
                        assertEquals(((Number) raised.get("grpc_code")).intValue(), grpcCode(thrown), thrown.toString());
                        assertEquals(raised.get("error_code"), errorCode(thrown), thrown.toString());
                    }
                }));
    }

    private static int grpcCode(DaprException e) {
        return DaprErrors.getGrpcCode(e);
    }

    private static String errorCode(DaprException e) {
        return DaprErrors.getErrorCode(e);
    }
}
