package io.daprrs

import io.daprrs.core.SubscriptionStream
import java.util.concurrent.CompletableFuture

/** A running streaming subscription ([DaprClient.subscribeToEvents]); [close] ends it. */
class StreamSubscription internal constructor(
    private val stream: SubscriptionStream,
    private val served: CompletableFuture<Void?>,
) : AutoCloseable {
    /** Completes once the subscription ended and its running handlers answered (those still running 5 s after the end are given up, their events redelivered); fails if the sidecar refused it for good. */
    fun done(): CompletableFuture<Void?> = served

    /** Ends the subscription; events not yet answered are redelivered by the sidecar. */
    override fun close() {
        stream.stop()
    }
}
