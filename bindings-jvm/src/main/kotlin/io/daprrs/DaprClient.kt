package io.daprrs

import io.daprrs.core.BulkEntry
import io.daprrs.core.BulkFailure
import io.daprrs.core.Client
import io.daprrs.core.ClientConfig
import io.daprrs.core.NativeThreads
import io.daprrs.core.PublishRequest
import io.daprrs.core.SidecarMetadata
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.CoroutineStart
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.SupervisorJob
import kotlinx.coroutines.cancel
import kotlinx.coroutines.future.future
import java.time.Duration
import java.util.concurrent.CompletableFuture

/**
 * Builds a [DaprClient], as the official Java SDK's `DaprClientBuilder` does: with nothing set, the
 * sidecar is the one `dapr-rs run` (or `dapr run`) names in `DAPR_GRPC_PORT`.
 */
class DaprClientBuilder {
    private var config = ClientConfig()

    /** The sidecar's host (default `DAPR_RUNTIME_HOST`, else 127.0.0.1). */
    fun withHost(host: String) = apply { config = config.copy(host = host) }

    /** The sidecar API's port (default `DAPR_GRPC_PORT`, or `DAPR_HTTP_PORT` with [withHttp]). */
    fun withPort(port: Int) = apply { config = config.copy(port = port) }

    /** The token sent with each call (default `DAPR_API_TOKEN`). */
    fun withApiToken(token: String) = apply { config = config.copy(apiToken = token) }

    /** How long each call may take. */
    fun withTimeout(timeout: Duration) = apply { config = config.copy(timeoutMs = timeout.toMillis()) }

    /** Call Dapr's HTTP API instead of gRPC (streaming subscriptions always use gRPC). */
    fun withHttp() = apply { config = config.copy(useHttp = true) }

    /** Throws [io.daprrs.core.DaprException] for an endpoint no client can call. */
    fun build(): DaprClient {
        NativeThreads.ensureInitialized()
        return DaprClient(Client(config))
    }
}

/**
 * A client of one sidecar for Java code: every call returns a [CompletableFuture] that fails with
 * a [io.daprrs.core.DaprException] subclass. Kotlin code can call [kotlinClient]'s suspend functions.
 * Cheap to make: clients of the same sidecar share one connection.
 */
class DaprClient internal constructor(private val client: Client) : AutoCloseable {
    private val scope = CoroutineScope(SupervisorJob() + Dispatchers.Default)

    /**
     * [work] as a future. It starts on the caller's thread (undispatched): the native call is
     * made at once and the coroutine suspends until the sidecar answers, saving a thread hop.
     */
    private fun <T> call(work: suspend () -> T): CompletableFuture<T> = scope.future(start = CoroutineStart.UNDISPATCHED) { work() }

    /** The generated client, whose calls are Kotlin `suspend` functions. */
    fun kotlinClient(): Client = client

    /** The sidecar endpoint the calls go to, e.g. `http://127.0.0.1:50001`. */
    fun endpoint(): String = client.endpoint()

    /** Publishes [data] (see [Payloads.of] for the content type it gets) to [topic]. */
    fun publishEvent(pubsubName: String, topic: String, data: Any?): CompletableFuture<Void?> =
        publishEvent(pubsubName, topic, data, null, emptyMap())

    /** Publishes with publish metadata (`rawPayload`, `ttlInSeconds`, a component's own keys). */
    fun publishEvent(pubsubName: String, topic: String, data: Any?, metadata: Map<String, String>): CompletableFuture<Void?> =
        publishEvent(pubsubName, topic, data, null, metadata)

    /**
     * Publishes with the content type named (null: core's for the value) and publish metadata.
     * The future completes on the binding's completion thread: give a stage that blocks an
     * executor of its own (`whenCompleteAsync(fn, executor)`).
     */
    fun publishEvent(pubsubName: String, topic: String, data: Any?, contentType: String?, metadata: Map<String, String>): CompletableFuture<Void?> =
        Publishes.start(client, PublishRequest(pubsubName, topic, Payloads.of(data), contentType, metadata))

    /** Publishes every value in one call; completes with the entries the sidecar could not publish. */
    fun publishEvents(pubsubName: String, topic: String, events: List<*>): CompletableFuture<List<BulkFailure>> =
        publishBulk(pubsubName, topic, events.mapIndexed { i, e -> BulkEntry(i.toString(), Payloads.of(e)) }, emptyMap())

    /** Publishes [entries] (each with its own id, content type and metadata) in one call. */
    fun publishBulk(pubsubName: String, topic: String, entries: List<BulkEntry>, metadata: Map<String, String>): CompletableFuture<List<BulkFailure>> =
        call { client.publishBulk(pubsubName, topic, entries, metadata) }

    /** Completes once the sidecar answers; fails with `DaprException.Timeout` after [timeoutMs]. */
    fun waitForSidecar(timeoutMs: Long): CompletableFuture<Void?> = call { client.waitForSidecar(timeoutMs); null }

    /** The sidecar's metadata: app id, components, subscriptions. */
    fun getMetadata(): CompletableFuture<SidecarMetadata> = call { client.metadata() }

    /** Asks the sidecar to shut down. */
    fun shutdown(): CompletableFuture<Void?> = call { client.shutdown(); null }

    /**
     * A streaming subscription (no app port): [listener] gets each event, up to [maxInFlight] at
     * once, and its answer (a throw is RETRY) goes back to the sidecar. Completes once the
     * subscription is open.
     */
    @JvmOverloads
    fun subscribeToEvents(
        pubsubName: String,
        topic: String,
        listener: TopicListener,
        deadLetterTopic: String? = null,
        maxInFlight: Int = 16,
    ): CompletableFuture<StreamSubscription> = call {
        val stream = client.subscribe(pubsubName, topic, deadLetterTopic, emptyMap())
        StreamSubscription(stream, call { stream.serve(listener.asHandler(), maxInFlight); null })
    }

    /** Cancels calls still running and lets the native client go. */
    override fun close() {
        scope.cancel()
        client.close()
    }
}
