package io.daprrs

import io.daprrs.core.EventStatus
import io.daprrs.core.SubscriptionStream
import io.daprrs.core.events
import kotlinx.coroutines.async
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.flow.map
import kotlinx.coroutines.flow.take
import kotlinx.coroutines.flow.toList
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import kotlinx.coroutines.withTimeoutOrNull
import org.junit.jupiter.api.AfterAll
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertNull
import org.junit.jupiter.api.BeforeAll
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.Timeout
import java.nio.file.Files
import java.util.concurrent.TimeUnit

/** Kotlin's view of a streaming subscription: [events] as a Flow, answered with `respond`, against a real sidecar. */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class FlowTest {
    companion object {
        private const val PUBSUB = "order_pub_sub"
        private const val WAIT_MS = 20_000L
        private lateinit var sidecar: Sidecar
        private lateinit var client: DaprClient

        @JvmStatic
        @BeforeAll
        fun start() {
            // The embedded durable broker: a RETRY is handed over again.
            val db = Files.createTempDirectory("dapr-rs-jvm-flow-").resolve("pubsub.db")
            sidecar = Sidecar.start("checkout", Sidecar.resourcesDir(listOf(Sidecar.Component(PUBSUB, "pubsub.sqlite", mapOf("path" to db.toString())))))
            client = sidecar.client()
            runBlocking { client.kotlinClient().waitForSidecar(WAIT_MS) }
        }

        @JvmStatic
        @AfterAll
        fun stop() {
            if (::client.isInitialized) client.close()
            if (::sidecar.isInitialized) sidecar.close()
        }
    }

    private suspend fun subscribe(topic: String): SubscriptionStream = client.kotlinClient().subscribe(PUBSUB, topic, null, emptyMap())

    private suspend fun publish(topic: String, text: String) = client.kotlinClient().publishEvent(PUBSUB, topic, Payloads.of(text), null, emptyMap())

    @Test
    fun eventsArriveInOrderAndTheFlowEndsWhenTheStreamStops() = runBlocking {
        val stream = subscribe("flow-orders")
        stream.use {
            for (i in 1..3) publish("flow-orders", "order $i")
            val first3 = withTimeout(WAIT_MS) {
                stream.events().take(3).map { stream.respond(it.id, EventStatus.SUCCESS); it.text }.toList()
            }
            assertEquals(listOf("order 1", "order 2", "order 3"), first3)

            // A collector still waiting gets the end of the flow, not a hang, once the stream stops.
            val rest = async { stream.events().toList() }
            stream.stop()
            assertEquals(emptyList<Any>(), withTimeout(WAIT_MS) { rest.await() })
        }
    }

    @Test
    fun anEventAnsweredRetryComesAgain() = runBlocking {
        val stream = subscribe("flow-retry")
        stream.use {
            publish("flow-retry", "try me")
            val first = withTimeout(WAIT_MS) { stream.events().first() }
            stream.respond(first.id, EventStatus.RETRY)
            val again = withTimeout(WAIT_MS) { stream.events().first() }
            stream.respond(again.id, EventStatus.SUCCESS)
            assertEquals(first.id, again.id)
            assertEquals("try me", again.text)
            stream.stop()
        }
    }

    @Test
    fun aCancelledWaitLeavesTheStreamUsableAndTheFlowCanBeCollectedAgain() = runBlocking {
        val stream = subscribe("flow-cancel")
        stream.use {
            // Nothing published yet: the wait is cancelled while the native next() is pending.
            assertNull(withTimeoutOrNull(300) { stream.events().first() })
            publish("flow-cancel", "after the cancel")
            val event = withTimeout(WAIT_MS) { stream.events().first() }
            stream.respond(event.id, EventStatus.SUCCESS)
            assertEquals("after the cancel", event.text)
            stream.stop()
        }
    }
}
