// [BulkSubscribe] and [TopicMetadata] on a DaprApp over the HTTP and the gRPC app protocol, behind
// a real sidecar: batches (counted by the sidecar's own metrics), each entry's status honoured,
// the subscription the app announces and the metadata the sidecar reports; and their mistakes.
using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using NUnit.Framework;

namespace DaprRs.Tests
{
    public sealed class BulkSubscribers
    {
        public readonly Inbox<string> Batched = new Inbox<string>();
        public readonly Inbox<string> Answered = new Inbox<string>();
        private readonly ConcurrentDictionary<int, int> attempts = new ConcurrentDictionary<int, int>();

        [Topic(Sidecar.Pubsub, "bulk-orders")]
        [BulkSubscribe("bulk-orders", 10, 500)]
        public void Orders(CloudEvent<Order> e) { Batched.Add(e.Data.OrderId + " " + e.Id); }

        // Order 1 asks for a retry once, order 2 is dropped, order 3 throws once; the rest succeed.
        [Topic(Sidecar.Pubsub, "bulk-statuses")]
        [BulkSubscribe("bulk-statuses", 20, 500)]
        public TopicResponseAction Statuses(Order order)
        {
            int n = attempts.AddOrUpdate(order.OrderId, 1, (k, v) => v + 1);
            Answered.Add(order.OrderId + "#" + n);
            if (order.OrderId == 1 && n == 1) return TopicResponseAction.Retry;
            if (order.OrderId == 2) return TopicResponseAction.Drop;
            if (order.OrderId == 3 && n == 1) throw new InvalidOperationException("not yet");
            return TopicResponseAction.Success;
        }

        [Topic(Sidecar.Pubsub, "tagged", OwnedMetadatas = new[] { "tagged-only" })]
        [Topic(Sidecar.Pubsub, "tagged-too", EnableRawPayload = true)]
        [TopicMetadata("queue", "orders")]
        [TopicMetadata("tenant", "a")]
        [TopicMetadata("tenant", "b")]
        [TopicMetadata("tenant", "a")]
        [TopicMetadata("tagged-only", "scope", "mine")]
        public void Tagged(byte[] data) { }
    }

    [TestFixture(AppProtocol.Http)]
    [TestFixture(AppProtocol.Grpc)]
    public class BulkSubscribeTests
    {
        private readonly AppProtocol protocol;
        private BulkSubscribers subscribers;
        private SubscribedApp bench;

        public BulkSubscribeTests(AppProtocol protocol)
        {
            this.protocol = protocol;
        }

        [TestFixtureSetUp]
        public void Start()
        {
            subscribers = new BulkSubscribers();
            bench = new SubscribedApp(subscribers, protocol);
        }

        [TestFixtureTearDown]
        public void Stop()
        {
            if (bench != null) bench.Dispose();
        }

        private static List<Order> Orders(int count)
        {
            return Enumerable.Range(1, count).Select(n => new Order { OrderId = n }).ToList();
        }

        [Test]
        public async Task A_bulk_subscription_gets_every_event_in_batches()
        {
            var published = await bench.Client.BulkPublishEventAsync(Sidecar.Pubsub, "bulk-orders", Orders(30));
            Assert.AreEqual(0, published.FailedEntries.Count);
            var got = subscribers.Batched.Take(30);
            CollectionAssert.AreEquivalent(Enumerable.Range(1, 30), got.Select(r => int.Parse(r.Split(' ')[0])));
            Assert.AreEqual(30, got.Select(r => r.Split(' ')[1]).Distinct().Count(), "each event keeps its own CloudEvent id");
            subscribers.Batched.NothingFor(500);
            // The sidecar counts its calls to the app: 30 events in fewer calls means batches of more
            // than one, and no more than 10 (maxMessagesCount) in any of them means at least 3 calls.
            var calls = bench.Sidecar.SettledMetric("dapr_component_pubsub_ingress_bulk_count", 3, "topic=\"bulk-orders\"");
            Assert.That(calls, Is.InRange(3.0, 29.0), "bulk calls for 30 events");
        }

        [Test]
        public async Task Each_entrys_status_is_honoured_retry_redelivers_drop_does_not()
        {
            var published = await bench.Client.BulkPublishEventAsync(Sidecar.Pubsub, "bulk-statuses", Orders(6));
            Assert.AreEqual(0, published.FailedEntries.Count);
            var got = subscribers.Answered.Take(8);
            // Anything more (a dropped or answered entry handed out again) must not come.
            subscribers.Answered.NothingFor(2000);
            CollectionAssert.AreEquivalent(new[] { "1#1", "1#2", "2#1", "3#1", "3#2", "4#1", "5#1", "6#1" }, got);
            // The app's reply carried one status per entry: the sidecar records each outcome of a bulk call.
            foreach (var status in new[] { "SUCCESS", "RETRY", "DROP" })
            {
                // Settled at 1 or more: a bulk call had an entry the app answered so.
                bench.Sidecar.SettledMetric("dapr_component_pubsub_ingress_bulk_event_count", 1, "topic=\"bulk-statuses\"", "process_status=\"" + status + "\"");
            }
        }

        [Test]
        public async Task TopicMetadata_reaches_the_subscriptions_the_sidecar_reports()
        {
            var metadata = await bench.Client.GetMetadataAsync();
            var tagged = metadata.Subscriptions.Single(s => s.Topic == "tagged");
            var taggedToo = metadata.Subscriptions.Single(s => s.Topic == "tagged-too");
            Assert.AreEqual(Sidecar.Pubsub, tagged.PubsubName);
            Assert.AreEqual(DaprSubscriptionType.Programmatic, tagged.Type);
            Assert.AreEqual("orders", tagged.Metadata["queue"]);
            Assert.AreEqual("a,b", tagged.Metadata["tenant"], "values of one name joined, each once");
            Assert.AreEqual("mine", tagged.Metadata["scope"], "an id the [Topic] owns");
            Assert.AreEqual("orders", taggedToo.Metadata["queue"]);
            Assert.IsFalse(taggedToo.Metadata.ContainsKey("scope"), "an id another [Topic] owns");
            Assert.AreEqual("true", taggedToo.Metadata["rawPayload"]);
            Assert.IsFalse(tagged.Metadata.ContainsKey("rawPayload"));
        }
    }

    [TestFixture]
    public class BulkSubscribeSetupTests
    {
        [Test]
        public void An_http_app_announces_its_bulk_subscriptions_with_their_batching()
        {
            using (var app = new DaprApp(AppProtocol.Http).MapSubscribers(new BulkSubscribers()))
            {
                app.Start(0);
                var announced = DaprJson.Deserialize<List<Dictionary<string, object>>>(Sidecar.HttpGet("http://127.0.0.1:" + app.Port + "/dapr/subscribe"));
                var orders = announced.Single(s => (string)s["topic"] == "bulk-orders");
                var bulk = (Dictionary<string, object>)orders["bulkSubscribe"];
                Assert.AreEqual(true, bulk["enabled"]);
                Assert.AreEqual(10L, bulk["maxMessagesCount"]);
                Assert.AreEqual(500L, bulk["maxAwaitDurationMs"]);
                var tagged = announced.Single(s => (string)s["topic"] == "tagged");
                Assert.IsFalse(tagged.ContainsKey("bulkSubscribe"), "only the topics a [BulkSubscribe] names");
                Assert.IsTrue(app.StopAsync().Wait(10000), "StopAsync must complete");
            }
        }

        private sealed class BulkOfAnotherTopic
        {
            [Topic(Sidecar.Pubsub, "a")]
            [BulkSubscribe("b")]
            public void Handler(int n) { }
        }

        private sealed class BulkWithoutTopic
        {
            [BulkSubscribe("a")]
            public void Handler(int n) { }
        }

        private sealed class TwoBulksOfATopic
        {
            [Topic(Sidecar.Pubsub, "a")]
            [BulkSubscribe("a", 5)]
            [BulkSubscribe("a", 6)]
            public void Handler(int n) { }
        }

        private sealed class NamelessMetadata
        {
            [Topic(Sidecar.Pubsub, "a")]
            [TopicMetadata("", "v")]
            public void Handler(int n) { }
        }

        private sealed class UnownedMetadata
        {
            [Topic(Sidecar.Pubsub, "a")]
            [TopicMetadata("nobody", "k", "v")]
            public void Handler(int n) { }
        }

        private sealed class NegativeBatch
        {
            [Topic(Sidecar.Pubsub, "a")]
            [BulkSubscribe("a", -1)]
            public void Handler(int n) { }
        }

        [Test]
        public void Mistakes_in_the_attributes_are_InvalidArgument_naming_the_method()
        {
            var cases = new Dictionary<object, string>
            {
                { new BulkOfAnotherTopic(), "names the topic b, which no [Topic] of it subscribes to" },
                { new BulkWithoutTopic(), "has [BulkSubscribe] or [TopicMetadata] but no [Topic]" },
                { new TwoBulksOfATopic(), "more than one [BulkSubscribe] names the topic a" },
                { new NamelessMetadata(), "a [TopicMetadata] has no name" },
                { new UnownedMetadata(), "has the id nobody, which no [Topic] lists in OwnedMetadatas" },
                { new NegativeBatch(), "max_messages_count must not be negative" },
            };
            foreach (var mistake in cases)
            {
                using (var app = new DaprApp())
                {
                    var e = Assert.Throws<InvalidArgumentException>(() => app.MapSubscribers(mistake.Key), mistake.Value);
                    Assert.AreEqual(StatusCode.InvalidArgument, e.StatusCode);
                    StringAssert.Contains(mistake.Value, e.Message);
                    if (!(mistake.Key is NegativeBatch)) StringAssert.Contains(mistake.Key.GetType().Name + ".Handler", e.Message);
                }
            }
            using (var app = new DaprApp())
            {
                Func<int, Task<TopicResponseAction>> handler = n => Task.FromResult(TopicResponseAction.Success);
                var e = Assert.Throws<InvalidArgumentException>(() => app.MapTopic(new TopicAttribute(Sidecar.Pubsub, "a"), new Attribute[] { new TopicAttribute(Sidecar.Pubsub, "b") }, handler));
                StringAssert.Contains("MapTopic(order_pub_sub/a): subscriptionAttributes takes [BulkSubscribe] and [TopicMetadata], not TopicAttribute", e.Message);
            }
        }

        [Test]
        public async Task MapTopic_takes_the_attributes_a_method_would_carry()
        {
            var inbox = new Inbox<int>();
            Func<int, Task<TopicResponseAction>> handler = n =>
            {
                inbox.Add(n);
                return Task.FromResult(TopicResponseAction.Success);
            };
            var attributes = new Attribute[] { new BulkSubscribeAttribute("mapped", 5, 200), new TopicMetadataAttribute("queue", "q") };
            using (var app = new DaprApp(AppProtocol.Grpc).MapTopic(new TopicAttribute(Sidecar.Pubsub, "mapped"), attributes, handler))
            {
                app.Start(0);
                using (var sidecar = Sidecar.Start("mapped", Sidecar.InMemory(), app.Port, "grpc"))
                using (var client = new DaprClientBuilder().UseGrpcEndpoint(sidecar.GrpcEndpoint).Build())
                {
                    sidecar.WaitHttp("/v1.0/healthz", 204);
                    await client.BulkPublishEventAsync(Sidecar.Pubsub, "mapped", Enumerable.Range(1, 10).ToList());
                    CollectionAssert.AreEquivalent(Enumerable.Range(1, 10), inbox.Take(10));
                    Assert.That(sidecar.SettledMetric("dapr_component_pubsub_ingress_bulk_count", 2, "topic=\"mapped\""), Is.InRange(2.0, 9.0));
                    var subscription = (await client.GetMetadataAsync()).Subscriptions.Single(s => s.Topic == "mapped");
                    Assert.AreEqual("q", subscription.Metadata["queue"]);
                }
                Assert.IsTrue(app.StopAsync().Wait(10000), "StopAsync must complete");
            }
        }
    }
}
