package io.daprrs

import io.daprrs.core.AppServer
import io.daprrs.core.Event
import io.daprrs.core.EventStatus
import io.daprrs.core.NativeThreads
import io.daprrs.core.TopicSubscription
import kotlinx.coroutines.runBlocking
import java.lang.reflect.InvocationTargetException
import java.lang.reflect.Method
import java.util.concurrent.CountDownLatch
import java.util.function.Consumer

/**
 * The app's callback server: the sidecar (`--app-port`, `--app-protocol grpc`) delivers each
 * subscription's events to its handler. Build it with [builder], register handlers, [Builder.start].
 */
class DaprApp private constructor(private val server: AppServer) : AutoCloseable {
    private val stopped = CountDownLatch(1)

    /** The bound port. */
    fun port(): Int = server.port()

    /** Blocks until [close] (e.g. from a shutdown hook). */
    fun awaitTermination() = stopped.await()

    /** Stops taking deliveries; returns once those in flight are answered. */
    override fun close() {
        try {
            runBlocking { server.stop() }
        } finally {
            stopped.countDown()
        }
    }

    class Builder internal constructor() {
        private var protocol = "grpc"
        private var host = "0.0.0.0"
        private var port = 0
        private val subscriptions = mutableListOf<TopicSubscription>()

        /** The port the sidecar's `--app-port` names (default 0: a free one, see [DaprApp.port]). */
        fun port(port: Int) = apply { this.port = port }

        fun host(host: String) = apply { this.host = host }

        /** `"grpc"` (default) or `"http"`, as the sidecar's `--app-protocol`. */
        fun protocol(protocol: String) = apply { this.protocol = protocol }

        /** [listener] handles [topic] of [pubsubName]. */
        fun subscribe(pubsubName: String, topic: String, listener: TopicListener) = subscribe(pubsubName, topic, null, listener)

        /** [listener] handles [topic] of [pubsubName] at [route] (null: a route made from the topic). */
        fun subscribe(pubsubName: String, topic: String, route: String?, listener: TopicListener) =
            subscribe(pubsubName, topic, route, emptyMap(), listener)

        /** As above, with subscription metadata (`rawPayload`, a component's own keys). */
        fun subscribe(pubsubName: String, topic: String, route: String?, metadata: Map<String, String>, listener: TopicListener) = apply {
            subscriptions += TopicSubscription(pubsubName, topic, listener.asHandler(), route = route, metadata = metadata)
        }

        /**
         * [listener] handles the events of [topic] that the CEL expression [match] takes, at
         * [route]; the topic's rules are tried by ascending [priority], the first match wins (as
         * the official SDK's `@Topic(rule = @Rule(match, priority))`). An empty [match] is the
         * topic's default route.
         */
        fun subscribe(pubsubName: String, topic: String, route: String, match: String, priority: Int, listener: TopicListener) = apply {
            subscriptions += TopicSubscription(
                pubsubName, topic, listener.asHandler(), route = route, matchExpr = match.ifEmpty { null }, priority = priority,
            )
        }

        /** [consumer] handles [topic] of [pubsubName]: SUCCESS unless it throws. */
        fun onTopic(pubsubName: String, topic: String, consumer: Consumer<Event>) = subscribe(pubsubName, topic, TopicListener.of(consumer))

        /** A subscription with every option (routing rule, dead-letter topic, bulk). */
        fun subscribe(subscription: TopicSubscription) = apply { subscriptions += subscription }

        /** Every [Topic]-annotated method of [handlers]. */
        fun register(handlers: Any) = apply {
            val methods = handlers.javaClass.methods.filter { it.isAnnotationPresent(Topic::class.java) }
            require(methods.isNotEmpty()) { "${handlers.javaClass.name} has no public @Topic method" }
            for (method in methods) {
                val topic = method.getAnnotation(Topic::class.java)
                subscriptions += TopicSubscription(
                    topic.pubsubName,
                    topic.name,
                    methodListener(handlers, method).asHandler(),
                    route = topic.route.ifEmpty { null },
                    matchExpr = topic.match.ifEmpty { null },
                    priority = topic.priority,
                    deadLetterTopic = topic.deadLetterTopic.ifEmpty { null },
                    bulk = topic.bulk,
                )
            }
        }

        /** Starts serving; throws [io.daprrs.core.DaprException] when it cannot (port taken). */
        fun start(): DaprApp {
            NativeThreads.ensureInitialized()
            return DaprApp(runBlocking { AppServer.start(protocol, host, port, subscriptions.toList()) })
        }
    }

    companion object {
        @JvmStatic
        fun builder(): Builder = Builder()

        private fun methodListener(target: Any, method: Method): TopicListener {
            require(method.parameterCount == 1 && method.parameterTypes[0] == Event::class.java) {
                "@Topic method ${method.name} must take one io.daprrs.core.Event"
            }
            require(method.returnType == Void.TYPE || method.returnType == EventStatus::class.java) {
                "@Topic method ${method.name} must return void or EventStatus"
            }
            return TopicListener { event ->
                try {
                    method.invoke(target, event) as EventStatus?
                } catch (e: InvocationTargetException) {
                    throw e.targetException
                }
            }
        }
    }
}
