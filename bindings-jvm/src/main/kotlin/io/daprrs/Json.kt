package io.daprrs

import java.math.BigInteger

/**
 * JSON for the values an app publishes and reads without a JSON library: `Map`, `Iterable`,
 * arrays, `String`, `Number`, `Boolean` and `null`. Parsing gives `LinkedHashMap`, `ArrayList`,
 * `String`, `Long` (or `BigInteger`), `Double`, `Boolean` and `null`. Apps with Jackson or Gson
 * publish their own JSON text with [Payloads.json].
 */
object Json {
    /** [value] as JSON text. */
    @JvmStatic
    fun write(value: Any?): String = StringBuilder().also { write(value, it) }.toString()

    /** The value of JSON [text]; throws [IllegalArgumentException] when it is not JSON. */
    @JvmStatic
    fun parse(text: String): Any? {
        val reader = Reader(text)
        val value = reader.value()
        reader.skipSpace()
        if (reader.pos != text.length) reader.fail("trailing characters")
        return value
    }

    private fun write(value: Any?, out: StringBuilder) {
        when (value) {
            null -> out.append("null")
            is Boolean -> out.append(value)
            is Double, is Float -> {
                val d = (value as Number).toDouble()
                require(d.isFinite()) { "JSON has no $d" }
                out.append(if (d == Math.rint(d) && Math.abs(d) < 1e15) d.toLong().toString() else d.toString())
            }
            is Number -> out.append(value.toString())
            is CharSequence, is Char -> string(value.toString(), out)
            is Map<*, *> -> {
                out.append('{')
                value.entries.forEachIndexed { i, (k, v) ->
                    if (i > 0) out.append(',')
                    string(k.toString(), out)
                    out.append(':')
                    write(v, out)
                }
                out.append('}')
            }
            is Iterable<*> -> list(value.iterator(), out)
            is Array<*> -> list(value.iterator(), out)
            is IntArray -> list(value.iterator(), out)
            is LongArray -> list(value.iterator(), out)
            is DoubleArray -> list(value.iterator(), out)
            else -> throw IllegalArgumentException(
                "cannot write a ${value.javaClass.name} as JSON: pass a Map, List, String, Number or Boolean, or JSON text through Payloads.json",
            )
        }
    }

    private fun list(items: Iterator<*>, out: StringBuilder) {
        out.append('[')
        var first = true
        for (item in items) {
            if (!first) out.append(',')
            first = false
            write(item, out)
        }
        out.append(']')
    }

    private fun string(s: String, out: StringBuilder) {
        out.append('"')
        for (c in s) {
            when (c) {
                '"' -> out.append("\\\"")
                '\\' -> out.append("\\\\")
                '\n' -> out.append("\\n")
                '\r' -> out.append("\\r")
                '\t' -> out.append("\\t")
                else -> if (c < ' ') out.append(String.format("\\u%04x", c.code)) else out.append(c)
            }
        }
        out.append('"')
    }

    private class Reader(val text: String) {
        var pos = 0

        fun fail(why: String): Nothing = throw IllegalArgumentException("not JSON ($why at $pos): ${text.take(80)}")

        fun skipSpace() {
            while (pos < text.length && text[pos] in " \t\r\n") pos++
        }

        fun value(): Any? {
            skipSpace()
            if (pos >= text.length) fail("unexpected end")
            return when (text[pos]) {
                '{' -> obj()
                '[' -> arr()
                '"' -> str()
                't' -> literal("true", true)
                'f' -> literal("false", false)
                'n' -> literal("null", null)
                else -> num()
            }
        }

        fun literal(word: String, value: Any?): Any? {
            if (!text.startsWith(word, pos)) fail("unknown literal")
            pos += word.length
            return value
        }

        fun obj(): Map<String, Any?> {
            val map = LinkedHashMap<String, Any?>()
            pos++
            skipSpace()
            if (text.getOrNull(pos) == '}') return map.also { pos++ }
            while (true) {
                skipSpace()
                if (text.getOrNull(pos) != '"') fail("expected a key")
                val key = str()
                skipSpace()
                if (text.getOrNull(pos) != ':') fail("expected ':'")
                pos++
                map[key] = value()
                skipSpace()
                when (text.getOrNull(pos)) {
                    ',' -> pos++
                    '}' -> return map.also { pos++ }
                    else -> fail("expected ',' or '}'")
                }
            }
        }

        fun arr(): List<Any?> {
            val list = ArrayList<Any?>()
            pos++
            skipSpace()
            if (text.getOrNull(pos) == ']') return list.also { pos++ }
            while (true) {
                list.add(value())
                skipSpace()
                when (text.getOrNull(pos)) {
                    ',' -> pos++
                    ']' -> return list.also { pos++ }
                    else -> fail("expected ',' or ']'")
                }
            }
        }

        fun str(): String {
            val out = StringBuilder()
            pos++
            while (true) {
                if (pos >= text.length) fail("unterminated string")
                val c = text[pos++]
                when (c) {
                    '"' -> return out.toString()
                    '\\' -> {
                        if (pos >= text.length) fail("unterminated escape")
                        when (val e = text[pos++]) {
                            '"', '\\', '/' -> out.append(e)
                            'b' -> out.append('\b')
                            'f' -> out.append('\u000c')
                            'n' -> out.append('\n')
                            'r' -> out.append('\r')
                            't' -> out.append('\t')
                            'u' -> {
                                if (pos + 4 > text.length) fail("short \\u escape")
                                out.append(text.substring(pos, pos + 4).toInt(16).toChar())
                                pos += 4
                            }
                            else -> fail("bad escape")
                        }
                    }
                    else -> out.append(c)
                }
            }
        }

        fun num(): Any {
            val start = pos
            if (text.getOrNull(pos) == '-') pos++
            while (pos < text.length && (text[pos].isDigit() || text[pos] in ".eE+-")) pos++
            val s = text.substring(start, pos)
            if (s.isEmpty() || s == "-") fail("unexpected character")
            return if (s.any { it in ".eE" }) {
                s.toDoubleOrNull() ?: fail("bad number")
            } else {
                s.toLongOrNull() ?: runCatching { BigInteger(s) }.getOrElse { fail("bad number") }
            }
        }
    }
}
