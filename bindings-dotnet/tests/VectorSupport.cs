// The shared test vectors (tests/vectors/*.json): reading them, and the sidecar and apps the
// vector tests run them through.

using System;
using System.Collections;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Net.Http;
using System.Text;
using System.Text.RegularExpressions;
using System.Threading.Tasks;
using NUnit.Framework;

namespace DaprRs.Tests
{
    /// <summary>Reading the vectors: files, data forms, and JSON values compared as values.</summary>
    internal static class Vectors
    {
        public const string Language = "csharp";
        public static readonly Dictionary<string, string> Raw = new Dictionary<string, string> { { "rawPayload", "true" } };

        public static Dictionary<string, object> Load(string name)
        {
            var text = File.ReadAllText(Path.Combine(Sidecar.Root(), "tests", "vectors", name), Encoding.UTF8);
            return DaprJson.Deserialize<Dictionary<string, object>>(text);
        }

        public static Dictionary<string, object> Obj(object node, string key)
        {
            return (Dictionary<string, object>)((Dictionary<string, object>)node)[key];
        }

        public static string Str(object node, string key)
        {
            object value;
            return ((Dictionary<string, object>)node).TryGetValue(key, out value) ? value as string : null;
        }

        public static List<object> List(object node, string key)
        {
            return (List<object>)((Dictionary<string, object>)node)[key];
        }

        public static bool Has(object node, string key)
        {
            return ((Dictionary<string, object>)node).ContainsKey(key);
        }

        /// <summary>One NUnit case per vector case, named by the vector, for a runner that takes the case.</summary>
        public static IEnumerable<TestCaseData> Cases(string file, string key, Func<Dictionary<string, object>, bool> applies = null)
        {
            foreach (Dictionary<string, object> c in List(Load(file), key))
            {
                if (applies == null || applies(c)) yield return new TestCaseData(c).SetName(file + ": " + (string)c["name"]);
            }
        }

        /// <summary>Whether a case's `languages` (all when absent) include C#.</summary>
        public static bool ForCSharp(Dictionary<string, object> c)
        {
            return !c.ContainsKey("languages") || ((List<object>)c["languages"]).Contains(Language);
        }

        /// <summary>The bytes of a data form: utf8, base64, or json (as DaprJson writes it).</summary>
        public static byte[] BytesOf(Dictionary<string, object> form)
        {
            if (form.ContainsKey("utf8")) return Encoding.UTF8.GetBytes((string)form["utf8"]);
            if (form.ContainsKey("base64")) return Convert.FromBase64String((string)form["base64"]);
            return DaprJson.SerializeToUtf8Bytes(form["json"]);
        }

        /// <summary>`utf8` and `base64` byte for byte; `json` as the value the bytes hold.</summary>
        public static void AssertData(byte[] actual, Dictionary<string, object> form, string what)
        {
            if (form.ContainsKey("json"))
            {
                var parsed = DaprJson.Deserialize<object>(Encoding.UTF8.GetString(actual));
                Assert.IsTrue(JsonEquals(parsed, form["json"]), what + ": " + DaprJson.Serialize(parsed) + " is not " + DaprJson.Serialize(form["json"]));
            }
            else
            {
                Assert.AreEqual(Convert.ToBase64String(BytesOf(form)), Convert.ToBase64String(actual), what + " (base64)");
            }
        }

        /// <summary>Two JSON trees (DaprJson's: dictionaries, lists, strings, numbers, bools, null) as values.</summary>
        public static bool JsonEquals(object a, object b)
        {
            if (a == null || b == null) return a == null && b == null;
            var da = a as Dictionary<string, object>;
            var db = b as Dictionary<string, object>;
            if (da != null || db != null)
            {
                return da != null && db != null && da.Count == db.Count && da.All(kv => db.ContainsKey(kv.Key) && JsonEquals(kv.Value, db[kv.Key]));
            }
            var la = a as IList;
            var lb = b as IList;
            if (la != null || lb != null)
            {
                if (la == null || lb == null || la.Count != lb.Count) return false;
                for (int i = 0; i < la.Count; i++) if (!JsonEquals(la[i], lb[i])) return false;
                return true;
            }
            if (IsNumber(a) && IsNumber(b)) return Convert.ToDouble(a, CultureInfo.InvariantCulture) == Convert.ToDouble(b, CultureInfo.InvariantCulture);
            return a.Equals(b);
        }

        private static bool IsNumber(object o)
        {
            return o is long || o is int || o is double || o is decimal;
        }

        /// <summary>The CloudEvent attributes of a delivered event, data aside: its non-empty core fields and its extensions.</summary>
        public static Dictionary<string, object> AttributesOf(CloudEvent e)
        {
            var attributes = new Dictionary<string, object>(e.Extensions);
            var core = new Dictionary<string, string> { { "id", e.Id }, { "source", e.Source }, { "type", e.Type }, { "specversion", e.SpecVersion }, { "datacontenttype", e.DataContentType } };
            foreach (var kv in core) if (!string.IsNullOrEmpty(kv.Value)) attributes[kv.Key] = kv.Value;
            return attributes;
        }

        /// <summary>Each expected attribute exactly, by {shape} or {same_as}; no attribute more.</summary>
        public static void AssertAttributes(Dictionary<string, object> actual, Dictionary<string, object> expected, Dictionary<string, object> shapes, string what)
        {
            CollectionAssert.AreEquivalent(expected.Keys, actual.Keys, what + ": attributes " + DaprJson.Serialize(actual));
            foreach (var kv in expected)
            {
                var got = actual[kv.Key];
                var want = kv.Value as Dictionary<string, object>;
                if (want != null && want.ContainsKey("shape"))
                    StringAssert.IsMatch((string)shapes[(string)want["shape"]], got as string ?? "", what + ": " + kv.Key + " is no " + want["shape"]);
                else if (want != null && want.ContainsKey("same_as"))
                    Assert.IsTrue(JsonEquals(got, actual[(string)want["same_as"]]), what + ": " + kv.Key + " must equal " + want["same_as"]);
                else
                    Assert.IsTrue(JsonEquals(got, kv.Value), what + ": " + kv.Key + " = " + DaprJson.Serialize(got));
            }
        }

        /// <summary>Publish metadata of a case, or null.</summary>
        public static Dictionary<string, string> Metadata(Dictionary<string, object> publish)
        {
            if (!publish.ContainsKey("metadata")) return null;
            return ((Dictionary<string, object>)publish["metadata"]).ToDictionary(kv => kv.Key, kv => (string)kv.Value);
        }
    }

    /// <summary>Deliveries per topic, each kept with the label of the handler that took it.</summary>
    internal sealed class TopicInboxes
    {
        private readonly Dictionary<string, Inbox<KeyValuePair<string, CloudEvent<byte[]>>>> inboxes = new Dictionary<string, Inbox<KeyValuePair<string, CloudEvent<byte[]>>>>();

        public Inbox<KeyValuePair<string, CloudEvent<byte[]>>> Of(string topic)
        {
            lock (inboxes)
            {
                if (!inboxes.ContainsKey(topic)) inboxes[topic] = new Inbox<KeyValuePair<string, CloudEvent<byte[]>>>();
                return inboxes[topic];
            }
        }

        public Func<CloudEvent<byte[]>, Task<TopicResponseAction>> Handler(string topic, string label = "")
        {
            var inbox = Of(topic);
            return e =>
            {
                inbox.Add(new KeyValuePair<string, CloudEvent<byte[]>>(label, e));
                return Task.FromResult(TopicResponseAction.Success);
            };
        }
    }

    /// <summary>A DaprApp (gRPC) behind a real sidecar on the in-memory broker, and a client of it.</summary>
    internal sealed class VectorBench : IDisposable
    {
        public readonly DaprApp App;
        public readonly Sidecar Sidecar;
        public readonly DaprClient Client;

        public VectorBench(string appId, string pubsub, DaprApp app)
        {
            App = app;
            App.Start(0);
            try
            {
                Sidecar = Sidecar.Start(appId, Sidecar.ResourcesDir(new Component { Name = pubsub, Type = "pubsub.in-memory" }), App.Port, "grpc");
                Sidecar.WaitHttp("/v1.0/healthz", 204);
                Client = new DaprClientBuilder().UseGrpcEndpoint(Sidecar.GrpcEndpoint).Build();
            }
            catch
            {
                Dispose();
                throw;
            }
        }

        public void Dispose()
        {
            if (Client != null) Client.Dispose();
            if (Sidecar != null) Sidecar.Dispose();
            App.StopAsync().Wait();
            App.Dispose();
        }
    }
}
