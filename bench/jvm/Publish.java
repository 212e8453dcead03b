// Publish throughput of the JVM binding (io.dapr-rs:dapr-rs, the jar `make jvm` installs) against a
// sidecar: serial (1 in flight) and 100 in flight, the same JSON payload as
// bench/src/bin/publish_throughput.rs. Usage: java -cp 'target/lib/*' Publish.java <grpc port> <count>.
// Prints one line per run (scripts/bench-jvm.sh).
import io.daprrs.DaprClient;
import io.daprrs.DaprClientBuilder;
import io.daprrs.Payloads;
import io.daprrs.core.Payload;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

public class Publish {
    private static final Payload ORDER = Payloads.json("{\"orderId\":42}");

    /** `inFlight` chains of publishes, each starting the next when one completes. */
    static double rate(DaprClient client, int count, int inFlight) throws Exception {
        AtomicInteger next = new AtomicInteger();
        long start = System.nanoTime();
        List<CompletableFuture<Void>> chains = new ArrayList<>();
        for (int w = 0; w < inFlight; w++) {
            CompletableFuture<Void> done = new CompletableFuture<>();
            chain(client, next, count, done);
            chains.add(done);
        }
        // No per-call deadline (the Rust core's bench sets none either): the run as a whole has this one.
        CompletableFuture.allOf(chains.toArray(new CompletableFuture[0])).get(10, TimeUnit.MINUTES);
        return count / ((System.nanoTime() - start) / 1e9);
    }

    private static void chain(DaprClient client, AtomicInteger next, int count, CompletableFuture<Void> done) {
        if (next.incrementAndGet() > count) {
            done.complete(null);
            return;
        }
        client.publishEvent("order_pub_sub", "bench", ORDER, null, Map.of()).whenComplete((ok, err) -> {
            if (err != null) done.completeExceptionally(err);
            else chain(client, next, count, done);
        });
    }

    /**
     * The layer under the binding: one synchronous uniffi call from Java, the cheapest there is
     * with a value back (Client.endpoint(): the handle's clone, the call, a String lifted). Each
     * allocates JNA structures (call statuses, the returned buffer) that JNA tracks in a global
     * map until a GC frees them. A publish is one such call (Client.startPublish) plus its share
     * of a batch of completions. The best of three rounds.
     */
    static double floorMicros(DaprClient client, int count) {
        var kotlin = client.kotlinClient();
        double best = Double.MAX_VALUE;
        for (int round = 0; round < 3; round++) {
            long start = System.nanoTime();
            for (int i = 0; i < count; i++) kotlin.endpoint();
            best = Math.min(best, (System.nanoTime() - start) / 1e3 / count);
        }
        return best;
    }

    public static void main(String[] args) throws Exception {
        int port = Integer.parseInt(args[0]);
        int count = Integer.parseInt(args[1]);
        try (DaprClient client = new DaprClientBuilder().withHost("127.0.0.1").withPort(port).build()) {
            client.waitForSidecar(20_000).get(30, TimeUnit.SECONDS);
            for (int inFlight : new int[] {1, 100}) {
                int n = inFlight == 1 ? Math.max(1000, count / 5) : count;
                rate(client, 2000, inFlight); // warm-up: the connection, the JIT
                double r = rate(client, n, inFlight);
                System.out.println("jvm publish (Java 17), " + inFlight + " in flight: " + Math.round(r) + " events/s (" + n + " events)");
            }
            double us = floorMicros(client, Math.max(10_000, count));
            System.out.printf("jvm uniffi floor: one synchronous uniffi call from Java (Client.endpoint()) takes %.1f µs, at most %d calls/s on one thread (best of 3 x %d calls)%n",
                    us, Math.round(1e6 / us), Math.max(10_000, count));
        }
    }
}
