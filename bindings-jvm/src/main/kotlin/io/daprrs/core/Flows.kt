package io.daprrs.core

import kotlinx.coroutines.flow.Flow
import kotlinx.coroutines.flow.flow

/**
 * The stream's events as a [Flow] for Kotlin code; answer each with [SubscriptionStream.respond]
 * (an event left unanswered is redelivered once the stream closes). Ends when the stream closes;
 * throws [DaprException] when the sidecar refused the subscription for good.
 */
fun SubscriptionStream.events(): Flow<Event> = flow {
    while (true) {
        emit(next() ?: break)
    }
}
