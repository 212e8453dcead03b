// The shared vectors of tests/vectors/ through this binding's public API: content types and
// envelopes published through a real sidecar and received by a DaprApp, handler answers as the
// sidecar's HTTP delivery gets them, errors as the DaprExceptions thrown, routing as the handler each
// event reaches. The expectations are the vectors' (read with DaprJson); nothing here restates a rule.
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

    [TestFixture]
    public class ContentTypeVectorTests
    {
        private const string Plain = "content-types";
        private const string RawTopic = "content-types-raw";
        private readonly TopicInboxes inboxes = new TopicInboxes();
        private VectorBench bench;

        public static IEnumerable<TestCaseData> Cases() { return Vectors.Cases("content_types.json", "cases"); }

        [TestFixtureSetUp]
        public void Start()
        {
            var app = new DaprApp(AppProtocol.Grpc)
                .MapTopic(new TopicAttribute(Sidecar.Pubsub, Plain), inboxes.Handler(Plain))
                .MapTopic(new TopicAttribute(Sidecar.Pubsub, RawTopic, true), inboxes.Handler(RawTopic));
            bench = new VectorBench("checkout", Sidecar.Pubsub, app);
        }

        [TestFixtureTearDown]
        public void Stop()
        {
            if (bench != null) bench.Dispose();
        }

        /// <summary>Publishes a case's value as a C# app would: with no content type through
        /// PublishEventAsync (JSON, as Dapr.Client), with one through PublishByteEventAsync.</summary>
        private Task Publish(string topic, Dictionary<string, object> c, Dictionary<string, string> metadata)
        {
            var value = c["value"] as Dictionary<string, object>;
            object data = value.ContainsKey("json") ? value["json"] : Convert.FromBase64String((string)value["bytes"]);
            var contentType = Vectors.Str(c, "content_type");
            if (contentType == null) return bench.Client.PublishEventAsync<object>(Sidecar.Pubsub, topic, data, metadata);
            var bytes = data is string ? Encoding.UTF8.GetBytes((string)data) : data as byte[] ?? DaprJson.SerializeToUtf8Bytes(data);
            return bench.Client.PublishByteEventAsync(Sidecar.Pubsub, topic, bytes, contentType, metadata);
        }

        [TestCaseSource("Cases")]
        public async Task Content_type(Dictionary<string, object> c)
        {
            var byLanguage = c.ContainsKey("by_language") ? Vectors.Obj(c, "by_language") : new Dictionary<string, object>();
            var expected = byLanguage.ContainsKey(Vectors.Language) ? (Dictionary<string, object>)byLanguage[Vectors.Language] : c;
            var sent = Vectors.Obj(expected, "sent");
            var delivered = expected.ContainsKey("delivered") ? Vectors.Obj(expected, "delivered") : sent;

            // Published raw to a raw subscriber, the bytes arrive exactly as core sent them.
            await Publish(RawTopic, c, Vectors.Raw);
            Vectors.AssertData(inboxes.Of(RawTopic).TakeOne().Value.Data, Vectors.Obj(sent, "data"), "bytes sent");

            await Publish(Plain, c, null);
            var e = inboxes.Of(Plain).TakeOne().Value;
            Assert.AreEqual((string)delivered["content_type"], e.DataContentType, "content type delivered");
            Vectors.AssertData(e.Data, Vectors.Obj(delivered, "data"), "data delivered");
            if (delivered.ContainsKey("attributes"))
            {
                var got = Vectors.AttributesOf(e);
                foreach (var kv in Vectors.Obj(delivered, "attributes")) Assert.AreEqual(kv.Value, got[kv.Key], kv.Key);
            }
        }
    }

    [TestFixture]
    public class EnvelopeVectorTests
    {
        private static readonly Dictionary<string, object> Vector = Vectors.Load("envelopes.json");
        private readonly TopicInboxes inboxes = new TopicInboxes();
        private VectorBench bench;

        public static IEnumerable<TestCaseData> Cases() { return Vectors.Cases("envelopes.json", "cases"); }

        private static string TopicOf(Dictionary<string, object> c)
        {
            return Vectors.Str(c["publish"], "topic") ?? Vectors.Str(Vector["context"], "topic");
        }

        [TestFixtureSetUp]
        public void Start()
        {
            var context = Vectors.Obj(Vector, "context");
            var app = new DaprApp(AppProtocol.Grpc);
            var subscribed = new HashSet<string>();
            foreach (Dictionary<string, object> c in Vectors.List(Vector, "cases"))
            {
                var topic = TopicOf(c);
                if (!subscribed.Add(topic)) continue;
                bool raw = c.ContainsKey("subscriber") && Equals(Vectors.Obj(c, "subscriber")["rawPayload"], true);
                app.MapTopic(new TopicAttribute((string)context["pubsub_name"], topic, raw), inboxes.Handler(topic));
            }
            bench = new VectorBench((string)context["app_id"], (string)context["pubsub_name"], app);
        }

        [TestFixtureTearDown]
        public void Stop()
        {
            if (bench != null) bench.Dispose();
        }

        [TestCaseSource("Cases")]
        public async Task Envelope(Dictionary<string, object> c)
        {
            var publish = Vectors.Obj(c, "publish");
            var topic = TopicOf(c);
            await bench.Client.PublishByteEventAsync(Vectors.Str(Vector["context"], "pubsub_name"), topic, Vectors.BytesOf(Vectors.Obj(publish, "data")),
                (string)publish["content_type"], Vectors.Metadata(publish));
            var e = inboxes.Of(topic).TakeOne().Value;
            var expected = Vectors.Obj(c, "envelope").Where(kv => kv.Key != "data" && kv.Key != "data_base64").ToDictionary(kv => kv.Key, kv => kv.Value);
            Vectors.AssertAttributes(Vectors.AttributesOf(e), expected, Vectors.Obj(Vector, "shapes"), (string)c["name"]);
            Vectors.AssertData(e.Data, Vectors.Obj(c, "delivered_data"), "data delivered");
        }
    }

    /// <summary>One [Topic] method per form of answer C# has; the event's data says which status,
    /// value or message it answers with.</summary>
    public sealed class AnswerSubscribers
    {
        [Topic(Sidecar.Pubsub, "answers-nothing", Route = "/answers/nothing")]
        public void Nothing() { }

        [Topic(Sidecar.Pubsub, "answers-nothing-async", Route = "/answers/nothing-async")]
        public async Task NothingAsync() { await Task.Yield(); }

        [Topic(Sidecar.Pubsub, "answers-status", Route = "/answers/status")]
        public TopicResponseAction Status(string status) { return StatusNamed(status); }

        [Topic(Sidecar.Pubsub, "answers-status-async", Route = "/answers/status-async")]
        public async Task<TopicResponseAction> StatusAsync(string status) { await Task.Yield(); return StatusNamed(status); }

        [Topic(Sidecar.Pubsub, "answers-value", Route = "/answers/value")]
        public TopicResponseAction Value(string number) { return (TopicResponseAction)int.Parse(number, CultureInfo.InvariantCulture); }

        [Topic(Sidecar.Pubsub, "answers-throws", Route = "/answers/throws")]
        public TopicResponseAction Throws(string message) { throw new InvalidOperationException(message); }

        [Topic(Sidecar.Pubsub, "answers-throws-async", Route = "/answers/throws-async")]
        public async Task<TopicResponseAction> ThrowsAsync(string message) { await Task.Yield(); throw new InvalidOperationException(message); }

        /// <summary>The TopicResponseAction a vector's status word names (SUCCESS → Success).</summary>
        private static TopicResponseAction StatusNamed(string status)
        {
            return (TopicResponseAction)Enum.Parse(typeof(TopicResponseAction), status, true);
        }
    }

    [TestFixture]
    public class HandlerAnswerVectorTests
    {
        private DaprApp app;
        private HttpClient http;

        public static IEnumerable<TestCaseData> Cases() { return Vectors.Cases("handler_answers.json", "cases", Vectors.ForCSharp); }

        [TestFixtureSetUp]
        public void Start()
        {
            // The HTTP app protocol: each answer is the reply the sidecar reads.
            app = new DaprApp(AppProtocol.Http).MapSubscribers(new AnswerSubscribers());
            app.Start(0);
            http = new HttpClient { Timeout = TimeSpan.FromSeconds(20) };
        }

        [TestFixtureTearDown]
        public void Stop()
        {
            if (http != null) http.Dispose();
            if (app != null)
            {
                app.StopAsync().Wait();
                app.Dispose();
            }
        }

        [TestCaseSource("Cases")]
        public async Task Handler_answer(Dictionary<string, object> c)
        {
            var answer = Vectors.Obj(c, "answer");
            string form, argument = "";
            if (answer.ContainsKey("nothing")) form = "nothing";
            else if (answer.ContainsKey("status")) { form = "status"; argument = (string)answer["status"]; }
            else if (answer.ContainsKey("value")) { form = "value"; argument = Convert.ToString(answer["value"], CultureInfo.InvariantCulture); }
            else if (answer.ContainsKey("throws")) { form = "throws"; argument = (string)answer["throws"]; }
            else throw new ArgumentException(c["name"] + ": no C# form for " + DaprJson.Serialize(answer));
            if (c.ContainsKey("async") && Equals(c["async"], true)) form += "-async";

            var cloudEvent = new Dictionary<string, object>
            {
                { "specversion", "1.0" }, { "id", "answer-1" }, { "source", "checkout" }, { "type", "com.dapr.event.sent" },
                { "datacontenttype", "text/plain" }, { "data", argument }, { "topic", "answers-" + form }, { "pubsubname", Sidecar.Pubsub },
            };
            var body = new StringContent(DaprJson.Serialize(cloudEvent), Encoding.UTF8, "application/cloudevents+json");
            using (var reply = await http.PostAsync("http://127.0.0.1:" + app.Port + "/answers/" + form, body))
            {
                Assert.AreEqual(200, (int)reply.StatusCode);
                var status = DaprJson.Deserialize<Dictionary<string, object>>(await reply.Content.ReadAsStringAsync())["status"];
                var byLanguage = c.ContainsKey("status_by_language") ? Vectors.Obj(c, "status_by_language") : new Dictionary<string, object>();
                var expected = byLanguage.ContainsKey(Vectors.Language) ? Vectors.Str(byLanguage[Vectors.Language], "status") : (string)c["status"];
                Assert.AreEqual(expected, status);
            }
        }
    }

    [TestFixture]
    public class ErrorVectorTests
    {
        private static readonly Dictionary<string, object> Vector = Vectors.Load("errors.json");
        // core's ErrorKind names (ErrorKind::as_str) and the class each becomes here.
        private static readonly Dictionary<string, Type> ExceptionOfKind = new Dictionary<string, Type>
        {
            { "pubsub_not_found", typeof(PubsubNotFoundException) },
            { "topic_forbidden", typeof(TopicForbiddenException) },
            { "invalid_argument", typeof(InvalidArgumentException) },
            { "sidecar_unavailable", typeof(SidecarUnavailableException) },
            { "timeout", typeof(DaprTimeoutException) },
            { "other", typeof(DaprException) },
        };
        private readonly Dictionary<string, Sidecar> sidecars = new Dictionary<string, Sidecar>();

        public static IEnumerable<TestCaseData> Cases()
        {
            return Vectors.Cases("errors.json", "cases", c => !c.ContainsKey("skip_by_language") || !Vectors.Has(c["skip_by_language"], Vectors.Language));
        }

        /// <summary>The endpoint of a sidecar started (once) as `sidecars[setup]` says; for "none", one nothing listens on.</summary>
        private string Endpoint(string setup)
        {
            if (setup == "none") return "http://127.0.0.1:" + Sidecar.FreePort();
            if (!sidecars.ContainsKey(setup))
            {
                var spec = Vectors.Obj(Vector["sidecars"], setup);
                var components = Vectors.List(spec, "components").Cast<Dictionary<string, object>>().Select(c => new Component
                {
                    Name = (string)c["name"],
                    Type = (string)c["type"],
                    Metadata = ((Dictionary<string, object>)c["metadata"]).ToDictionary(kv => kv.Key, kv => (string)kv.Value),
                }).ToArray();
                var env = Vectors.Obj(spec, "env").ToDictionary(kv => kv.Key, kv => (string)kv.Value);
                sidecars[setup] = Sidecar.Start((string)Vector["app_id"], Sidecar.ResourcesDir(components), 0, "http", env);
            }
            return sidecars[setup].GrpcEndpoint;
        }

        [TestFixtureTearDown]
        public void Stop()
        {
            foreach (var s in sidecars.Values) s.Dispose();
        }

        [TestCaseSource("Cases")]
        public void Error(Dictionary<string, object> c)
        {
            var cause = Vectors.Obj(c, "cause");
            var raised = Vectors.Obj(c, "raised");
            var builder = new DaprClientBuilder().UseGrpcEndpoint(Endpoint((string)cause["sidecar"]));
            if (Vectors.Str(cause, "api_token") != null) builder = builder.UseDaprApiToken(Vectors.Str(cause, "api_token"));
            using (var client = builder.Build())
            {
                var e = Assert.Catch<DaprException>(() =>
                {
                    if (cause.ContainsKey("publish"))
                    {
                        var p = Vectors.Obj(cause, "publish");
                        client.PublishByteEventAsync((string)p["pubsub_name"], (string)p["topic"], Vectors.BytesOf(Vectors.Obj(p, "data")),
                            (string)p["content_type"], Vectors.Metadata(p)).GetAwaiter().GetResult();
                    }
                    else
                    {
                        var wait = Vectors.Obj(cause, "wait_for_sidecar");
                        client.WaitForSidecarAsync(TimeSpan.FromMilliseconds(Convert.ToDouble(wait["timeout_ms"], CultureInfo.InvariantCulture))).GetAwaiter().GetResult();
                    }
                });
                Assert.AreEqual(ExceptionOfKind[(string)raised["kind"]], e.GetType(), e.Message);
                Assert.AreEqual(Convert.ToInt32(raised["grpc_code"], CultureInfo.InvariantCulture), (int)e.StatusCode, e.Message);
                Assert.AreEqual(raised["error_code"], e.ErrorCode, e.Message);
            }
        }
    }

    [TestFixture]
    public class RoutingVectorTests
    {
        private static readonly Dictionary<string, object> Vector = Vectors.Load("routing.json");
        // After the last routed event arrived, how long an event no rule matched has to show up anyway.
        private const int StrayWaitMs = 500;
        private readonly TopicInboxes inboxes = new TopicInboxes();
        private VectorBench bench;

        public static IEnumerable<TestCaseData> Cases() { return Vectors.Cases("routing.json", "rule_sets", Vectors.ForCSharp); }

        [TestFixtureSetUp]
        public void Start()
        {
            var pubsub = (string)Vector["pubsub_name"];
            var app = new DaprApp(AppProtocol.Grpc);
            foreach (Dictionary<string, object> set in Vectors.List(Vector, "rule_sets").Where(s => Vectors.ForCSharp((Dictionary<string, object>)s)))
            {
                var topic = (string)set["topic"];
                var rules = Vectors.List(set, "rules");
                for (int priority = 0; priority < rules.Count; priority++)
                {
                    var match = Vectors.Str(rules[priority], "match");
                    var path = Vectors.Str(rules[priority], "path");
                    if (match == "") Assert.AreEqual(rules.Count - 1, priority, "a binding's default route comes last");
                    var attribute = match == "" ? new TopicAttribute(pubsub, topic) : new TopicAttribute(pubsub, topic, match, priority);
                    attribute.Route = path;
                    app.MapTopic(attribute, inboxes.Handler(topic, path));
                }
            }
            bench = new VectorBench((string)Vector["app_id"], pubsub, app);
        }

        [TestFixtureTearDown]
        public void Stop()
        {
            if (bench != null) bench.Dispose();
        }

        [TestCaseSource("Cases")]
        public async Task Routing(Dictionary<string, object> set)
        {
            var topic = (string)set["topic"];
            var events = Vectors.List(set, "events").Cast<Dictionary<string, object>>().ToList();
            // Those no rule matches go first, so one that arrived anyway shows before the wait ends.
            foreach (var c in events.OrderBy(c => c["path"] != null))
            {
                await bench.Client.PublishByteEventAsync((string)Vector["pubsub_name"], topic, DaprJson.SerializeToUtf8Bytes(c["event"]), "application/cloudevents+json");
            }
            var routed = events.Where(c => c["path"] != null).ToList();
            var got = new Dictionary<string, string>();
            foreach (var delivery in inboxes.Of(topic).Take(routed.Count)) got[delivery.Value.Id] = delivery.Key;
            inboxes.Of(topic).NothingFor(StrayWaitMs);
            var expected = routed.ToDictionary(c => Vectors.Str(c["event"], "id"), c => (string)c["path"]);
            CollectionAssert.AreEquivalent(expected, got);
        }
    }
}
