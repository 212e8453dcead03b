// Error and routing vectors: the exception each cause raises, and the route each event takes.

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
