@file:JvmName("DaprErrors")

package io.daprrs.core

/** The gRPC status code's number of any [DaprException] (Java: `DaprErrors.getGrpcCode(e)`). */
val DaprException.grpcCode: Int
    get() = when (this) {
        is DaprException.PubsubNotFound -> grpcCode
        is DaprException.TopicForbidden -> grpcCode
        is DaprException.InvalidArgument -> grpcCode
        is DaprException.SidecarUnavailable -> grpcCode
        is DaprException.Timeout -> grpcCode
        is DaprException.Other -> grpcCode
    }

/** Dapr's errorCode (`ERR_PUBSUB_NOT_FOUND`…) of any [DaprException], when the sidecar sent one. */
val DaprException.errorCode: String?
    get() = when (this) {
        is DaprException.PubsubNotFound -> errorCode
        is DaprException.TopicForbidden -> errorCode
        is DaprException.InvalidArgument -> errorCode
        is DaprException.SidecarUnavailable -> errorCode
        is DaprException.Timeout -> errorCode
        is DaprException.Other -> errorCode
    }
