package io.daprrs

import io.daprrs.core.Client
import io.daprrs.core.DaprException
import io.daprrs.core.PublishRequest
import io.daprrs.core.completions
import java.util.concurrent.CompletableFuture
import java.util.concurrent.ConcurrentHashMap
import java.util.concurrent.atomic.AtomicLong
import kotlin.concurrent.thread

/**
 * The Java layer's publishes: each is started with one native call ([Client.startPublish]) and
 * its future completed by one daemon thread, `dapr-rs-completions`, which takes the finished
 * ones from core in batches. Stages added to such a future without an executor run on that
 * thread, so a stage that blocks holds up every other publish's completion: give blocking work
 * an executor (`thenApplyAsync(fn, executor)`).
 */
internal object Publishes {
    private val pending = ConcurrentHashMap<Long, CompletableFuture<Void?>>()
    private val tokens = AtomicLong()
    private val finished = completions()

    init {
        thread(isDaemon = true, name = "dapr-rs-completions") {
            while (true) {
                // A failed take (a panic in the library) must not end the thread: every publish
                // after it would wait for ever.
                val done = try {
                    finished.take(TAKE_WAIT_MS)
                } catch (e: Exception) {
                    System.err.println("dapr-rs: taking finished publishes failed, trying again: $e")
                    Thread.sleep(100)
                    continue
                }
                for (c in done) {
                    val future = pending.remove(c.token) ?: continue
                    if (c.failed) future.completeExceptionally(failureOf(c.token)) else future.complete(null)
                }
            }
        }
    }

    private const val TAKE_WAIT_MS = 60_000L

    private fun failureOf(token: Long): Throwable = try {
        finished.failure(token)
        IllegalStateException("publish $token failed with no error recorded")
    } catch (e: DaprException) {
        e
    }

    /** Publishes [request] through [client]; the future completes when the sidecar answered. */
    fun start(client: Client, request: PublishRequest): CompletableFuture<Void?> {
        val token = tokens.incrementAndGet()
        val future = CompletableFuture<Void?>()
        pending[token] = future
        try {
            client.startPublish(token, request)
        } catch (e: Throwable) {
            // A closed client: the call never started.
            pending.remove(token)
            future.completeExceptionally(e)
        }
        return future
    }
}
