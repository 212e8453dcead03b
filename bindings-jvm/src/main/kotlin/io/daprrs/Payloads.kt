package io.daprrs

import io.daprrs.core.Payload

/** What a published value becomes; core then gives it its content type when the app names none. */
object Payloads {
    /**
     * A `String` is text (`text/plain`), a `byte[]` bytes (`application/octet-stream`), a
     * [Payload] itself; anything else is written by [Json] (`application/json`, or
     * `application/cloudevents+json` for a CloudEvent's attributes, as core decides).
     */
    @JvmStatic
    fun of(value: Any?): Payload = when (value) {
        is Payload -> value
        is String -> Payload.Text(value)
        is ByteArray -> Payload.Bytes(value)
        else -> Payload.Json(Json.write(value))
    }

    /** JSON text the app wrote itself (with Jackson, Gson…), published as JSON rather than as text. */
    @JvmStatic
    fun json(text: String): Payload = Payload.Json(text)
}
