package io.daprrs

import io.daprrs.core.Event
import io.daprrs.core.EventHandler
import io.daprrs.core.EventStatus
import java.util.function.Consumer

/**
 * A Java handler of a topic's events: its answer is sent as is (null is SUCCESS); anything it
 * throws is answered RETRY, by core's rule.
 */
fun interface TopicListener {
    @Throws(Exception::class)
    fun onEvent(event: Event): EventStatus?

    companion object {
        /** A handler that only consumes: SUCCESS unless it throws. */
        @JvmStatic
        fun of(consumer: Consumer<Event>): TopicListener = TopicListener { consumer.accept(it); EventStatus.SUCCESS }
    }
}

/** A [TopicListener] as the native handler core calls. */
internal fun TopicListener.asHandler(): EventHandler = object : EventHandler {
    override fun handle(event: Event): EventStatus = try {
        onEvent(event) ?: EventStatus.SUCCESS
    } catch (e: Exception) {
        throw e
    } catch (t: Throwable) {
        // uniffi hands only Exceptions back to Rust as a failure; an Error (assert, OOM) must fail too.
        throw RuntimeException(t)
    }
}
