package io.daprrs

/**
 * Marks a method of an object given to [DaprApp.Builder.register] as the handler of a topic, as
 * the official Java SDK's `@Topic` does. The method takes an [io.daprrs.core.Event] and returns
 * `void` (SUCCESS) or an [io.daprrs.core.EventStatus]; what it throws is answered RETRY.
 */
@Retention(AnnotationRetention.RUNTIME)
@Target(AnnotationTarget.FUNCTION)
annotation class Topic(
    val name: String,
    val pubsubName: String,
    /** The path the sidecar delivers to (default: one made from the topic). */
    val route: String = "",
    /** A CEL expression: only matching events reach this method. */
    val match: String = "",
    /** Order of this rule among the topic's rules (ascending). */
    val priority: Int = 0,
    val deadLetterTopic: String = "",
    /** Ask the sidecar for batches (each event still reaches this method). */
    val bulk: Boolean = false,
)
