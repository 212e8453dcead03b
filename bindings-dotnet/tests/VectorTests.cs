// The shared vectors of tests/vectors/ through this binding's public API: content types and
// envelopes published through a real sidecar and received by a DaprApp, handler answers as the
// sidecar's HTTP delivery gets them, errors as the DaprExceptions thrown, routing as the handler each
// event reaches. The expectations are the vectors' (read with DaprJson); nothing here restates a rule.
// This file: content types and envelopes; the others are VectorSupport.cs, HandlerAnswerVectorTests.cs
// and ErrorAndRoutingVectorTests.cs.

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
}
