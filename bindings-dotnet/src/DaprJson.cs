// JSON as Dapr.Client writes and reads it (System.Text.Json's web defaults): camelCase property
// names, case-insensitive reading, enums as numbers, byte[] as base64. System.Text.Json is not on
// Mono and DataContractJsonSerializer keeps member names as they are, so this is a small
// reflection-based serializer that runs the same on Mono and on modern .NET.
using System;
using System.Collections;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Globalization;
using System.Linq.Expressions;
using System.Reflection;
using System.Text;

namespace DaprRs
{
    /// <summary>The JSON serializer DaprRs publishes and delivers with; a <see cref="CloudEvent"/> it
    /// writes in CloudEvents' JSON format (spec attribute names, not camelCase).</summary>
    public static class DaprJson
    {
        private static readonly UTF8Encoding Utf8 = new UTF8Encoding(false, true);

        public static byte[] SerializeToUtf8Bytes(object value)
        {
            return Utf8.GetBytes(Serialize(value));
        }

        public static string Serialize(object value)
        {
            // The thread's builder, grown once, when no serialization on this thread holds it.
            var sb = reusableBuilder ?? new StringBuilder();
            reusableBuilder = null;
            try
            {
                Write(sb, value, 0);
                return sb.ToString();
            }
            finally
            {
                // A builder grown by one huge payload is left to the GC instead of kept.
                if (sb.Capacity <= MaxReusedCapacity)
                {
                    sb.Clear();
                    reusableBuilder = sb;
                }
            }
        }

        private const int MaxReusedCapacity = 16 * 1024;

        [ThreadStatic]
        private static StringBuilder reusableBuilder;

        public static T Deserialize<T>(string json)
        {
            return (T)Deserialize(json, typeof(T));
        }

        public static object Deserialize(string json, Type type)
        {
            var parser = new Parser(json);
            var tree = parser.ParseDocument();
            return Convert(tree, type);
        }

        public static object Deserialize(byte[] utf8Json, Type type)
        {
            return Deserialize(Utf8.GetString(utf8Json), type);
        }

        /// <summary>System.Text.Json's camelCase policy: <c>OrderId</c> → <c>orderId</c>, <c>URLPath</c> → <c>urlPath</c>.</summary>
        public static string CamelCase(string name)
        {
            if (string.IsNullOrEmpty(name) || !char.IsUpper(name[0])) return name;
            var chars = name.ToCharArray();
            for (int i = 0; i < chars.Length; i++)
            {
                if (i == 1 && !char.IsUpper(chars[i])) break;
                bool hasNext = i + 1 < chars.Length;
                if (i > 0 && hasNext && !char.IsUpper(chars[i + 1]))
                {
                    if (chars[i + 1] == ' ') chars[i] = char.ToLowerInvariant(chars[i]);
                    break;
                }
                chars[i] = char.ToLowerInvariant(chars[i]);
            }
            return new string(chars);
        }

        // ---- writing ----

        private const int MaxDepth = 64;

        private static void Write(StringBuilder sb, object value, int depth)
        {
            if (depth > MaxDepth) throw new InvalidOperationException("JSON: the object graph is deeper than " + MaxDepth + " (a cycle?)");
            if (value == null) { sb.Append("null"); return; }
            var type = value.GetType();
            if (value is string) { WriteString(sb, (string)value); return; }
            if (value is bool) { sb.Append((bool)value ? "true" : "false"); return; }
            if (value is char) { WriteString(sb, value.ToString()); return; }
            if (type.IsEnum) { sb.Append(System.Convert.ToInt64(value, CultureInfo.InvariantCulture).ToString(CultureInfo.InvariantCulture)); return; }
            if (value is double) { WriteDouble(sb, (double)value); return; }
            if (value is float) { WriteDouble(sb, (float)value); return; }
            if (value is decimal) { sb.Append(((decimal)value).ToString(CultureInfo.InvariantCulture)); return; }
            if (type.IsPrimitive) { sb.Append(((IFormattable)value).ToString(null, CultureInfo.InvariantCulture)); return; }
            if (value is DateTime) { WriteString(sb, ((DateTime)value).ToString("o", CultureInfo.InvariantCulture)); return; }
            if (value is DateTimeOffset) { WriteString(sb, ((DateTimeOffset)value).ToString("o", CultureInfo.InvariantCulture)); return; }
            if (value is Guid || value is Uri || value is TimeSpan) { WriteString(sb, value.ToString()); return; }
            if (value is byte[]) { WriteString(sb, System.Convert.ToBase64String((byte[])value)); return; }
            if (value is CloudEvent) { WriteCloudEvent(sb, (CloudEvent)value, depth); return; }
            var dict = value as IDictionary;
            if (dict != null)
            {
                sb.Append('{');
                bool first = true;
                foreach (DictionaryEntry e in dict)
                {
                    if (!first) sb.Append(',');
                    first = false;
                    WriteString(sb, System.Convert.ToString(e.Key, CultureInfo.InvariantCulture));
                    sb.Append(':');
                    Write(sb, e.Value, depth + 1);
                }
                sb.Append('}');
                return;
            }
            if (IsReadOnlyStringDictionary(type))
            {
                // IReadOnlyDictionary<string, V> that is not an IDictionary: enumerate its pairs.
                sb.Append('{');
                bool first = true;
                foreach (var pair in (IEnumerable)value)
                {
                    var pt = pair.GetType();
                    if (!first) sb.Append(',');
                    first = false;
                    WriteString(sb, (string)pt.GetProperty("Key").GetValue(pair, null));
                    sb.Append(':');
                    Write(sb, pt.GetProperty("Value").GetValue(pair, null), depth + 1);
                }
                sb.Append('}');
                return;
            }
            var list = value as IEnumerable;
            if (list != null)
            {
                sb.Append('[');
                bool first = true;
                foreach (var item in list)
                {
                    if (!first) sb.Append(',');
                    first = false;
                    Write(sb, item, depth + 1);
                }
                sb.Append(']');
                return;
            }
            sb.Append('{');
            bool firstMember = true;
            foreach (var member in MembersOf(type))
            {
                if (!firstMember) sb.Append(',');
                firstMember = false;
                sb.Append(member.Key);
                Write(sb, member.Get(value), depth + 1);
            }
            sb.Append('}');
        }

        /// <summary>One property an object is written with: its JSON name, quoted, with the colon.</summary>
        private sealed class JsonMember
        {
            internal readonly string Key;
            internal readonly Func<object, object> Get;

            internal JsonMember(string key, Func<object, object> get)
            {
                Key = key;
                Get = get;
            }
        }

        // Each type's members, found by reflection once: an app publishes the same few types over
        // and over, and reading them anew (the property list, the camelCase names, a reflective get)
        // was most of a small publish's serialization.
        private static readonly ConcurrentDictionary<Type, JsonMember[]> Members = new ConcurrentDictionary<Type, JsonMember[]>();

        private static JsonMember[] MembersOf(Type type)
        {
            JsonMember[] members;
            if (Members.TryGetValue(type, out members)) return members;
            var found = new List<JsonMember>();
            foreach (var p in type.GetProperties(BindingFlags.Public | BindingFlags.Instance))
            {
                if (!p.CanRead || p.GetIndexParameters().Length > 0 || p.GetGetMethod() == null) continue;
                var key = new StringBuilder();
                WriteString(key, CamelCase(p.Name));
                key.Append(':');
                found.Add(new JsonMember(key.ToString(), Getter(type, p)));
            }
            return Members.GetOrAdd(type, found.ToArray());
        }

        /// <summary>A compiled read of <paramref name="property"/>: a delegate call, not a reflective one.</summary>
        private static Func<object, object> Getter(Type type, PropertyInfo property)
        {
            var target = Expression.Parameter(typeof(object), "target");
            var read = Expression.Property(Expression.Convert(target, type), property);
            return Expression.Lambda<Func<object, object>>(Expression.Convert(read, typeof(object)), target).Compile();
        }

        /// <summary>The attribute names of CloudEvents' JSON format, which are not camelCase.</summary>
        private static readonly HashSet<string> CloudEventAttributes = new HashSet<string>
        {
            "specversion", "id", "source", "type", "subject", "datacontenttype", "data", "data_base64",
        };

        // CloudEvents 1.0's JSON format: the sidecar takes such an object as the event itself.
        // Topic, PubsubName and Metadata are delivery facts the sidecar sets, never published.
        private static void WriteCloudEvent(StringBuilder sb, CloudEvent ce, int depth)
        {
            var data = ce.PublishedData;
            var bytes = data as byte[];
            var contentType = ce.DataContentType;
            if (string.IsNullOrEmpty(contentType) && data != null) contentType = bytes != null ? "application/octet-stream" : "application/json";
            var members = new List<KeyValuePair<string, object>>();
            Action<string, string> attribute = (name, text) =>
            {
                // An unset attribute is left to the sidecar (a new id, the app id as source…).
                if (!string.IsNullOrEmpty(text)) members.Add(new KeyValuePair<string, object>(name, text));
            };
            attribute("specversion", string.IsNullOrEmpty(ce.SpecVersion) ? "1.0" : ce.SpecVersion);
            attribute("id", ce.Id);
            attribute("source", ce.Source);
            attribute("type", ce.Type);
            attribute("subject", ce.Subject);
            attribute("datacontenttype", contentType);
            if (bytes != null) members.Add(new KeyValuePair<string, object>("data_base64", System.Convert.ToBase64String(bytes)));
            else if (data != null) members.Add(new KeyValuePair<string, object>("data", data));
            if (ce.Extensions != null)
            {
                foreach (var extension in ce.Extensions)
                {
                    // The event's own attributes win over an extension of the same name.
                    if (!CloudEventAttributes.Contains(extension.Key)) members.Add(extension);
                }
            }
            sb.Append('{');
            for (int i = 0; i < members.Count; i++)
            {
                if (i > 0) sb.Append(',');
                WriteString(sb, members[i].Key);
                sb.Append(':');
                Write(sb, members[i].Value, depth + 1);
            }
            sb.Append('}');
        }

        private static bool IsReadOnlyStringDictionary(Type type)
        {
            foreach (var i in type.GetInterfaces())
            {
                if (i.IsGenericType && i.GetGenericTypeDefinition() == typeof(IReadOnlyDictionary<,>) && i.GetGenericArguments()[0] == typeof(string)) return true;
            }
            return false;
        }

        private static void WriteDouble(StringBuilder sb, double d)
        {
            if (double.IsNaN(d) || double.IsInfinity(d)) throw new ArgumentException("JSON cannot represent " + d.ToString(CultureInfo.InvariantCulture));
            sb.Append(d.ToString("R", CultureInfo.InvariantCulture));
        }

        private static void WriteString(StringBuilder sb, string s)
        {
            sb.Append('"');
            foreach (var c in s)
            {
                switch (c)
                {
                    case '"': sb.Append("\\\""); break;
                    case '\\': sb.Append("\\\\"); break;
                    case '\n': sb.Append("\\n"); break;
                    case '\r': sb.Append("\\r"); break;
                    case '\t': sb.Append("\\t"); break;
                    case '\b': sb.Append("\\b"); break;
                    case '\f': sb.Append("\\f"); break;
                    default:
                        if (c < 0x20) sb.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                        else sb.Append(c);
                        break;
                }
            }
            sb.Append('"');
        }

        // ---- reading: text → tree (Dictionary<string, object> / List<object> / string / JsonNumber / bool / null) → type ----

        /// <summary>A number as its JSON text, converted only once the target type is known.</summary>
        private sealed class JsonNumber
        {
            internal readonly string Text;
            internal JsonNumber(string text) { Text = text; }
        }

        private sealed class Parser
        {
            private readonly string s;
            private int i;

            internal Parser(string s)
            {
                if (s == null) throw new ArgumentNullException("json");
                this.s = s;
            }

            internal object ParseDocument()
            {
                var value = ParseValue(0);
                SkipWhitespace();
                if (i != s.Length) throw Error("unexpected text after the JSON value");
                return value;
            }

            private FormatException Error(string what)
            {
                return new FormatException("invalid JSON at offset " + i + ": " + what);
            }

            private void SkipWhitespace()
            {
                while (i < s.Length && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')) i++;
            }

            private object ParseValue(int depth)
            {
                if (depth > MaxDepth) throw Error("nested deeper than " + MaxDepth);
                SkipWhitespace();
                if (i >= s.Length) throw Error("unexpected end");
                char c = s[i];
                if (c == '{')
                {
                    i++;
                    var obj = new Dictionary<string, object>();
                    SkipWhitespace();
                    if (i < s.Length && s[i] == '}') { i++; return obj; }
                    while (true)
                    {
                        SkipWhitespace();
                        if (i >= s.Length || s[i] != '"') throw Error("expected a property name");
                        var key = ParseString();
                        SkipWhitespace();
                        if (i >= s.Length || s[i] != ':') throw Error("expected ':'");
                        i++;
                        obj[key] = ParseValue(depth + 1);
                        SkipWhitespace();
                        if (i < s.Length && s[i] == ',') { i++; continue; }
                        if (i < s.Length && s[i] == '}') { i++; return obj; }
                        throw Error("expected ',' or '}'");
                    }
                }
                if (c == '[')
                {
                    i++;
                    var arr = new List<object>();
                    SkipWhitespace();
                    if (i < s.Length && s[i] == ']') { i++; return arr; }
                    while (true)
                    {
                        arr.Add(ParseValue(depth + 1));
                        SkipWhitespace();
                        if (i < s.Length && s[i] == ',') { i++; continue; }
                        if (i < s.Length && s[i] == ']') { i++; return arr; }
                        throw Error("expected ',' or ']'");
                    }
                }
                if (c == '"') return ParseString();
                if (Literal("true")) return true;
                if (Literal("false")) return false;
                if (Literal("null")) return null;
                if (c == '-' || (c >= '0' && c <= '9'))
                {
                    int start = i;
                    if (s[i] == '-') i++;
                    while (i < s.Length && "0123456789.eE+-".IndexOf(s[i]) >= 0) i++;
                    var text = s.Substring(start, i - start);
                    double ignored;
                    if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out ignored)) throw Error("bad number " + text);
                    return new JsonNumber(text);
                }
                throw Error("unexpected character '" + c + "'");
            }

            private bool Literal(string word)
            {
                if (string.CompareOrdinal(s, i, word, 0, word.Length) != 0) return false;
                i += word.Length;
                return true;
            }

            private string ParseString()
            {
                i++; // the opening quote
                var sb = new StringBuilder();
                while (true)
                {
                    if (i >= s.Length) throw Error("unterminated string");
                    char c = s[i++];
                    if (c == '"') return sb.ToString();
                    if (c != '\\') { sb.Append(c); continue; }
                    if (i >= s.Length) throw Error("unterminated escape");
                    char e = s[i++];
                    switch (e)
                    {
                        case '"': sb.Append('"'); break;
                        case '\\': sb.Append('\\'); break;
                        case '/': sb.Append('/'); break;
                        case 'b': sb.Append('\b'); break;
                        case 'f': sb.Append('\f'); break;
                        case 'n': sb.Append('\n'); break;
                        case 'r': sb.Append('\r'); break;
                        case 't': sb.Append('\t'); break;
                        case 'u':
                            if (i + 4 > s.Length) throw Error("bad \\u escape");
                            sb.Append((char)int.Parse(s.Substring(i, 4), NumberStyles.HexNumber, CultureInfo.InvariantCulture));
                            i += 4;
                            break;
                        default: throw Error("bad escape \\" + e);
                    }
                }
            }
        }

        private static object Convert(object node, Type type)
        {
            var underlying = Nullable.GetUnderlyingType(type);
            if (node == null)
            {
                if (type.IsValueType && underlying == null) throw new FormatException("JSON null cannot be a " + type.Name);
                return null;
            }
            if (underlying != null) type = underlying;
            if (type == typeof(object)) return Plain(node);
            var number = node as JsonNumber;
            if (type == typeof(string))
            {
                var str = node as string;
                if (str == null) throw new FormatException("expected a JSON string for " + type.Name);
                return str;
            }
            if (type == typeof(bool))
            {
                if (!(node is bool)) throw new FormatException("expected true or false");
                return node;
            }
            if (type.IsEnum)
            {
                if (number != null) return Enum.ToObject(type, long.Parse(number.Text, NumberStyles.Integer, CultureInfo.InvariantCulture));
                if (node is string) return Enum.Parse(type, (string)node, true);
                throw new FormatException("expected a number or name for " + type.Name);
            }
            if (type.IsPrimitive || type == typeof(decimal))
            {
                if (number == null) throw new FormatException("expected a JSON number for " + type.Name);
                if (type == typeof(double)) return double.Parse(number.Text, NumberStyles.Float, CultureInfo.InvariantCulture);
                if (type == typeof(float)) return float.Parse(number.Text, NumberStyles.Float, CultureInfo.InvariantCulture);
                if (type == typeof(decimal)) return decimal.Parse(number.Text, NumberStyles.Float, CultureInfo.InvariantCulture);
                // Integers: overflow and fractions are errors, as in System.Text.Json.
                return System.Convert.ChangeType(long.Parse(number.Text, NumberStyles.Integer, CultureInfo.InvariantCulture), type, CultureInfo.InvariantCulture);
            }
            if (type == typeof(byte[])) return System.Convert.FromBase64String(ExpectString(node, type));
            if (type == typeof(Guid)) return Guid.Parse(ExpectString(node, type));
            if (type == typeof(DateTime)) return DateTime.Parse(ExpectString(node, type), CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind);
            if (type == typeof(DateTimeOffset)) return DateTimeOffset.Parse(ExpectString(node, type), CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind);
            if (type == typeof(TimeSpan)) return TimeSpan.Parse(ExpectString(node, type), CultureInfo.InvariantCulture);
            if (type == typeof(Uri)) return new Uri(ExpectString(node, type), UriKind.RelativeOrAbsolute);
            var obj = node as Dictionary<string, object>;
            var arr = node as List<object>;
            if (type.IsArray)
            {
                if (arr == null) throw new FormatException("expected a JSON array for " + type.Name);
                var element = type.GetElementType();
                var result = Array.CreateInstance(element, arr.Count);
                for (int k = 0; k < arr.Count; k++) result.SetValue(Convert(arr[k], element), k);
                return result;
            }
            var dictionaryArgs = GenericArgumentsOf(type, typeof(IDictionary<,>)) ?? GenericArgumentsOf(type, typeof(IReadOnlyDictionary<,>));
            if (dictionaryArgs != null && dictionaryArgs[0] == typeof(string))
            {
                if (obj == null) throw new FormatException("expected a JSON object for " + type.Name);
                var target = type.IsInterface ? typeof(Dictionary<,>).MakeGenericType(dictionaryArgs) : type;
                var dict = (IDictionary)Activator.CreateInstance(target);
                foreach (var kv in obj) dict[kv.Key] = Convert(kv.Value, dictionaryArgs[1]);
                return dict;
            }
            var listArgs = GenericArgumentsOf(type, typeof(IEnumerable<>));
            if (listArgs != null && arr != null)
            {
                var target = type.IsInterface ? typeof(List<>).MakeGenericType(listArgs) : type;
                var list = (IList)Activator.CreateInstance(target);
                foreach (var item in arr) list.Add(Convert(item, listArgs[0]));
                return list;
            }
            if (obj == null) throw new FormatException("expected a JSON object for " + type.Name);
            var instance = Activator.CreateInstance(type);
            foreach (var kv in obj)
            {
                var p = type.GetProperty(kv.Key, BindingFlags.Public | BindingFlags.Instance | BindingFlags.IgnoreCase);
                if (p == null || !p.CanWrite || p.GetSetMethod() == null) continue;
                p.SetValue(instance, Convert(kv.Value, p.PropertyType), null);
            }
            return instance;
        }

        private static string ExpectString(object node, Type type)
        {
            var s = node as string;
            if (s == null) throw new FormatException("expected a JSON string for " + type.Name);
            return s;
        }

        private static Type[] GenericArgumentsOf(Type type, Type generic)
        {
            if (type.IsGenericType && type.GetGenericTypeDefinition() == generic) return type.GetGenericArguments();
            foreach (var i in type.GetInterfaces())
            {
                if (i.IsGenericType && i.GetGenericTypeDefinition() == generic) return i.GetGenericArguments();
            }
            return null;
        }

        /// <summary>A tree for <c>object</c>: numbers become long when integral, else double.</summary>
        private static object Plain(object node)
        {
            var number = node as JsonNumber;
            if (number != null)
            {
                long l;
                if (long.TryParse(number.Text, NumberStyles.Integer, CultureInfo.InvariantCulture, out l)) return l;
                return double.Parse(number.Text, NumberStyles.Float, CultureInfo.InvariantCulture);
            }
            var obj = node as Dictionary<string, object>;
            if (obj != null)
            {
                var copy = new Dictionary<string, object>();
                foreach (var kv in obj) copy[kv.Key] = Plain(kv.Value);
                return copy;
            }
            var arr = node as List<object>;
            if (arr != null) return arr.ConvertAll(Plain);
            return node;
        }
    }
}
