// DaprApp over the HTTP and the gRPC app protocol, each behind a real dapr-rs sidecar: [Topic]
// methods, their return values, exceptions as retries, dead letters, routing rules, raw payloads.
using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Net;
using System.Text;
using System.Threading;
using System.Threading.Tasks;
using NUnit.Framework;

namespace DaprRs.Tests
{
    public sealed class CheckoutSubscribers
    {
        public readonly Inbox<Received> Inbox = new Inbox<Received>();
        private readonly ConcurrentDictionary<string, int> attempts = new ConcurrentDictionary<string, int>();

        private int Seen(CloudEvent e)
        {
            return attempts.AddOrUpdate(e.Topic + "/" + e.Id, 1, (k, n) => n + 1);
        }

        [Topic(Sidecar.Pubsub, "orders")]
        public void Orders(CloudEvent<Order> e) { Inbox.Add(new Received { Topic = "orders", Data = e.Data, Event = e }); }

        [Topic(Sidecar.Pubsub, "flaky")]
        public async Task Flaky(CloudEvent<string> e)
        {
            await Task.Yield();
            int n = Seen(e);
            if (n == 1) throw new InvalidOperationException("not yet");
            Inbox.Add(new Received { Topic = "flaky", Data = e.Data + "#" + n });
        }

        [Topic(Sidecar.Pubsub, "retried")]
        public TopicResponseAction Retried(CloudEvent<string> e)
        {
            int n = Seen(e);
            if (n == 1) return TopicResponseAction.Retry;
            Inbox.Add(new Received { Topic = "retried", Data = e.Data + "#" + n });
            return TopicResponseAction.Success;
        }

        [Topic(Sidecar.Pubsub, "dropped", DeadLetterTopic = "dropped-dlq")]
        public Task<TopicResponseAction> Dropped(string data) { return Task.FromResult(TopicResponseAction.Drop); }

        [Topic(Sidecar.Pubsub, "dropped-dlq")]
        public void DeadLetters(string data) { Inbox.Add(new Received { Topic = "dropped-dlq", Data = data }); }

        [Topic(Sidecar.Pubsub, "routed", "event.type == \"widget\"", 1)]
        public void Widgets(string data) { Inbox.Add(new Received { Topic = "routed/widgets", Data = data }); }

        [Topic(Sidecar.Pubsub, "routed")]
        public void Other(string data) { Inbox.Add(new Received { Topic = "routed/other", Data = data }); }

        [Topic(Sidecar.Pubsub, "raw", EnableRawPayload = true)]
        public void Raw(byte[] data) { Inbox.Add(new Received { Topic = "raw", Data = Encoding.UTF8.GetString(data) }); }

        [Topic(Sidecar.Pubsub, "static-orders")]
        public static void StaticHandler() { StaticInbox.Add(new Received { Topic = "static-orders" }); }

        public static readonly Inbox<Received> StaticInbox = new Inbox<Received>();
    }

    [TestFixture(AppProtocol.Http)]
    [TestFixture(AppProtocol.Grpc)]
    public class AppTests
    {
        private readonly AppProtocol protocol;
        private CheckoutSubscribers subscribers;
        private SubscribedApp bench;
        private DaprClient client;

        public AppTests(AppProtocol protocol)
        {
            this.protocol = protocol;
        }

        [TestFixtureSetUp]
        public void Start()
        {
            subscribers = new CheckoutSubscribers();
            bench = new SubscribedApp(subscribers, protocol);
            client = bench.Client;
        }

        [TestFixtureTearDown]
        public void Stop()
        {
            if (bench != null) bench.Dispose();
        }

        [Test]
        public async Task A_Topic_method_gets_the_data_and_the_CloudEvent()
        {
            await client.PublishEventAsync(Sidecar.Pubsub, "orders", new Order { OrderId = 1, CustomerName = "Ada" });
            var got = subscribers.Inbox.TakeOne();
            Assert.AreEqual(1, ((Order)got.Data).OrderId);
            Assert.AreEqual("Ada", ((Order)got.Data).CustomerName);
            Assert.AreEqual("orders", got.Event.Topic);
            Assert.AreEqual("application/json", got.Event.DataContentType);
            Assert.AreEqual("checkout", got.Event.Source);
            Assert.IsNotEmpty(got.Event.Id);
        }

        [Test]
        public async Task An_exception_is_a_retry()
        {
            await client.PublishEventAsync(Sidecar.Pubsub, "flaky", "f");
            Assert.AreEqual("f#2", subscribers.Inbox.TakeOne().Data);
        }

        [Test]
        public async Task Retry_is_redelivered()
        {
            await client.PublishEventAsync(Sidecar.Pubsub, "retried", "r");
            Assert.AreEqual("r#2", subscribers.Inbox.TakeOne().Data);
        }

        [Test]
        public async Task Drop_sends_the_event_to_the_dead_letter_topic()
        {
            await client.PublishEventAsync(Sidecar.Pubsub, "dropped", "d");
            var got = subscribers.Inbox.TakeOne();
            Assert.AreEqual("dropped-dlq", got.Topic);
            Assert.AreEqual("d", got.Data);
        }

        [Test]
        public async Task Routing_rules_pick_the_method_the_default_takes_the_rest()
        {
            var widget = new Dictionary<string, object> { { "specversion", "1.0" }, { "id", "w1" }, { "source", "test" }, { "type", "widget" }, { "datacontenttype", "text/plain" }, { "data", "w" } };
            await client.PublishEventAsync(Sidecar.Pubsub, "routed", widget);
            await client.PublishEventAsync(Sidecar.Pubsub, "routed", "plain");
            var got = subscribers.Inbox.Take(2);
            got.Sort((a, b) => string.CompareOrdinal(a.Topic, b.Topic));
            Assert.AreEqual("routed/other", got[0].Topic);
            Assert.AreEqual("plain", got[0].Data);
            Assert.AreEqual("routed/widgets", got[1].Topic);
            Assert.AreEqual("w", got[1].Data);
        }

        [Test]
        public async Task A_raw_payload_subscription_gets_the_bytes_as_published()
        {
            // Published raw too: a raw subscriber gets the broker's message itself, which for an
            // ordinary publish would be the CloudEvent envelope.
            var raw = new Dictionary<string, string> { { "rawPayload", "true" } };
            await client.PublishEventAsync(Sidecar.Pubsub, "raw", new Order { OrderId = 9 }, raw);
            var got = (string)subscribers.Inbox.TakeOne().Data;
            StringAssert.Contains("\"orderId\":9", got);
            StringAssert.DoesNotContain("specversion", got);
        }

        [Test]
        public async Task A_handler_reads_the_brokers_metadata_Kafkas_record_key_and_headers()
        {
            // A topic and consumer group of this run only; oldest, so the record is read whenever the group joins.
            var topic = Sidecar.Unique("dotnet-metadata");
            var kafka = new Component { Name = "kafka_pub_sub", Type = "pubsub.kafka" };
            kafka.Metadata["brokers"] = "127.0.0.1:9092";
            kafka.Metadata["authType"] = "none";
            kafka.Metadata["initialOffset"] = "oldest";
            kafka.Metadata["consumerGroup"] = topic;
            var inbox = new Inbox<CloudEvent<Order>>();
            Func<CloudEvent<Order>, Task<TopicResponseAction>> handler = e =>
            {
                inbox.Add(e);
                return Task.FromResult(TopicResponseAction.Success);
            };
            using (var app = new DaprApp(protocol).MapTopic(new TopicAttribute(kafka.Name, topic), handler))
            {
                app.Start(0);
                using (var sidecar = Sidecar.Start("kafka-metadata", Sidecar.ResourcesDir(kafka), app.Port, protocol == AppProtocol.Grpc ? "grpc" : "http"))
                using (var kafkaClient = new DaprClientBuilder().UseGrpcEndpoint(sidecar.GrpcEndpoint).Build())
                {
                    sidecar.WaitHttp("/v1.0/healthz", 204);
                    var metadata = new Dictionary<string, string> { { "partitionKey", "order-7" }, { "X-Tenant", "acme" } };
                    await kafkaClient.PublishEventAsync(kafka.Name, topic, new Order { OrderId = 7 }, metadata);
                    var got = inbox.TakeOne(60000);
                    Assert.AreEqual(7, got.Data.OrderId);
                    Assert.AreEqual("order-7", got.Metadata["__key"]);
                    Assert.AreEqual(topic, got.Metadata["__topic"]);
                    StringAssert.IsMatch(@"^\d+$", got.Metadata["__partition"]);
                    Assert.AreEqual("acme", got.Metadata["x-tenant"], "a publish metadata key is a record header, delivered lowercased");
                    Assert.AreEqual(kafka.Name, got.Metadata["pubsubname"]);
                }
                Assert.IsTrue(app.StopAsync().Wait(10000), "StopAsync must complete");
            }
        }
    }

    [TestFixture]
    public class AppSetupTests
    {
        private sealed class NoTopics { public void Nothing() { } }

        private sealed class TwoParameters
        {
            [Topic(Sidecar.Pubsub, "x")]
            public void Handler(int a, int b) { }
        }

        [Test]
        public void Mistakes_in_subscriptions_are_reported_when_mapped()
        {
            using (var app = new DaprApp())
            {
                Assert.Throws<ArgumentException>(() => app.MapSubscribers(new NoTopics()));
                Assert.Throws<ArgumentException>(() => app.MapSubscribers(new TwoParameters()));
                var e = Assert.Throws<InvalidArgumentException>(() => app.MapTopic<int>(new TopicAttribute("", "t"), n => Task.FromResult(TopicResponseAction.Success)));
                Assert.AreEqual(StatusCode.InvalidArgument, e.StatusCode);
                StringAssert.Contains("pubsub_name", e.Message);
            }
        }

        [Test]
        public void A_cancelled_StopAsync_stops_waiting_and_the_app_stops_all_the_same()
        {
            using (var app = new DaprApp(AppProtocol.Http).MapSubscribers(new CheckoutSubscribers()))
            {
                app.Start(0);
                var url = "http://127.0.0.1:" + app.Port + "/dapr/subscribe";
                StringAssert.Contains("orders", Sidecar.HttpGet(url));
                var cancelled = new CancellationTokenSource();
                cancelled.Cancel();
                var e = Assert.Catch<OperationCanceledException>(() => app.StopAsync(cancelled.Token).GetAwaiter().GetResult());
                Assert.AreEqual(cancelled.Token, e.CancellationToken);
                Assert.IsTrue(app.StopAsync().Wait(10000), "the stop went on; a second StopAsync waits for its end");
                var deadline = DateTime.UtcNow.AddSeconds(5);
                while (true)
                {
                    try { Sidecar.HttpGet(url); }
                    catch (WebException) { break; }
                    if (DateTime.UtcNow > deadline) Assert.Fail("the app still serves " + url + " 5 s after it stopped");
                    Thread.Sleep(20);
                }
            }
        }

        [Test]
        public async Task Static_methods_are_served_and_the_app_stops()
        {
            using (var app = new DaprApp(AppProtocol.Grpc).MapSubscribers(typeof(CheckoutSubscribers)))
            {
                app.Start(0);
                Assert.Greater(app.Port, 0);
                Assert.Throws<InvalidOperationException>(() => app.Start(0));
                using (var sidecar = Sidecar.Start("checkout", Sidecar.InMemory(), app.Port, "grpc"))
                using (var client = new DaprClientBuilder().UseGrpcEndpoint(sidecar.GrpcEndpoint).Build())
                {
                    sidecar.WaitHttp("/v1.0/healthz", 204);
                    await client.PublishEventAsync(Sidecar.Pubsub, "static-orders", 1);
                    Assert.AreEqual("static-orders", CheckoutSubscribers.StaticInbox.TakeOne().Topic);
                }
                var stop = app.StopAsync();
                Assert.IsTrue(stop.Wait(10000), "StopAsync must complete");
            }
        }
    }
}
