package io.daprrs.core

import com.sun.jna.CallbackThreadInitializer
import com.sun.jna.Native

/**
 * Native threads call into the JVM through JNA callbacks: a tokio thread wakes a Kotlin call
 * waiting on its future, a blocking thread runs a handler. By default JNA attaches such a thread
 * for the one callback and detaches it after, so every wake-up made a new `java.lang.Thread`.
 * Kept attached (as daemon threads, which never hold the JVM open; JNA detaches one when its
 * native thread exits), a wake-up costs a call. Touched by every entry point of the Java layer.
 */
internal object NativeThreads {
    init {
        val keepAttached = CallbackThreadInitializer(true, false, "dapr-rs-native")
        Native.setCallbackThreadInitializer(uniffiRustFutureContinuationCallbackImpl, keepAttached)
        Native.setCallbackThreadInitializer(uniffiCallbackInterfaceEventHandler.`handle`, keepAttached)
    }

    fun ensureInitialized() = Unit
}
