package io.daprrs;

import java.io.IOException;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * A real `dapr-rs sidecar` process (the binary `make sidecar` builds, from the `dapr.rs.bin`
 * property), as tests/sidecar_harness.js starts it; its log is shown when it fails to come up.
 */
final class Sidecar implements AutoCloseable {
    static final Path ROOT = Path.of(System.getProperty("dapr.rs.root", "..")).toAbsolutePath().normalize();
    private static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();

    final String appId;
    final int httpPort;
    final int grpcPort;
    private final Process process;
    private final Path log;

    private Sidecar(String appId, int httpPort, int grpcPort, Process process, Path log) {
        this.appId = appId;
        this.httpPort = httpPort;
        this.grpcPort = grpcPort;
        this.process = process;
        this.log = log;
    }

    /** One component of a resources directory. */
    record Component(String name, String type, Map<String, String> metadata) {}

    static Path resourcesDir(List<Component> components) throws IOException {
        Path dir = Files.createTempDirectory("dapr-rs-jvm-");
        for (Component c : components) {
            StringBuilder yaml = new StringBuilder("apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: " + c.name()
                    + "\nspec:\n  type: " + c.type() + "\n  version: v1\n  metadata:\n");
            c.metadata().forEach((k, v) -> yaml.append("  - name: ").append(k).append("\n    value: \"").append(v).append("\"\n"));
            Files.writeString(dir.resolve(c.name() + ".yaml"), yaml);
        }
        return dir;
    }

    static Path inMemory(String pubsub) throws IOException {
        return resourcesDir(List.of(new Component(pubsub, "pubsub.in-memory", Map.of())));
    }

    static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        }
    }

    /** Starts a sidecar for `appId` (with an app on `appPort` over `protocol` when appPort > 0); returns once its API answers. */
    static Sidecar start(String appId, Path resources, int appPort, String protocol, Map<String, String> env) throws Exception {
        String bin = System.getProperty("dapr.rs.bin", "");
        if (bin.isEmpty() || !Files.isExecutable(Path.of(bin))) {
            throw new IllegalStateException("the dapr-rs sidecar binary is missing at '" + bin + "': run `make sidecar` (DAPR_RS_BIN names it)");
        }
        int httpPort = freePort(), grpcPort = freePort();
        List<String> cmd = new ArrayList<>(List.of(bin, "sidecar", "--app-id", appId, "--app-protocol", protocol,
                "--resources-path", resources.toString(), "--dapr-http-port", String.valueOf(httpPort),
                "--dapr-grpc-port", String.valueOf(grpcPort), "--metrics-port", "0"));
        if (appPort > 0) {
            cmd.addAll(List.of("--app-port", String.valueOf(appPort)));
        }
        Path log = Files.createTempFile("dapr-rs-jvm-sidecar-", ".log");
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile());
        pb.environment().remove("DAPR_API_TOKEN");
        pb.environment().remove("APP_API_TOKEN");
        pb.environment().putAll(env);
        Sidecar sidecar = new Sidecar(appId, httpPort, grpcPort, pb.start(), log);
        try {
            sidecar.waitHttp("/v1.0/healthz/outbound", 204, Duration.ofSeconds(20));
        } catch (Exception e) {
            sidecar.close();
            throw e;
        }
        return sidecar;
    }

    static Sidecar start(String appId, Path resources) throws Exception {
        return start(appId, resources, 0, "grpc", Map.of());
    }

    /** A client of this sidecar's gRPC API. */
    DaprClient client() {
        return new DaprClientBuilder().withHost("127.0.0.1").withPort(grpcPort).build();
    }

    /** Waits until GET `path` answers `status` (e.g. /v1.0/healthz 204 once the app's subscriptions run). */
    void waitHttp(String path, int status, Duration timeout) throws Exception {
        long deadline = System.nanoTime() + timeout.toNanos();
        int last = 0;
        while (System.nanoTime() < deadline) {
            if (!process.isAlive()) {
                throw new IllegalStateException("sidecar " + appId + " exited with " + process.exitValue() + ":\n" + log());
            }
            try {
                HttpRequest req = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + httpPort + path)).timeout(Duration.ofSeconds(2)).build();
                last = HTTP.send(req, HttpResponse.BodyHandlers.discarding()).statusCode();
                if (last == status) {
                    return;
                }
            } catch (IOException e) {
                last = 0;
            }
            Thread.sleep(20);
        }
        throw new IllegalStateException("timed out after " + timeout + " waiting for " + path + " of sidecar " + appId + " to answer " + status
                + " (last " + last + "):\n" + log());
    }

    String log() {
        try {
            return Files.readString(log);
        } catch (IOException e) {
            return "(no log: " + e + ")";
        }
    }

    /** SIGTERM, then SIGKILL after 15 s; always reaped. */
    @Override
    public void close() throws InterruptedException {
        process.destroy();
        if (!process.waitFor(15, TimeUnit.SECONDS)) {
            process.destroyForcibly();
            process.waitFor();
        }
    }
}
