// Streaming subscriptions (no app port) against a real sidecar on a SQLite broker: delivery,
// answers, exceptions, a sidecar restart, and ending the subscription.
using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Threading;
using System.Threading.Tasks;
using NUnit.Framework;

namespace DaprRs.Tests
{
    [TestFixture]
    public class StreamTests
    {
        private Sidecar sidecar;
        private DaprClient client;

        [TestFixtureSetUp]
        public void Start()
        {
            string db;
            sidecar = Sidecar.Start("stream-app", Sidecar.Sqlite(out db));
            client = new DaprClientBuilder().UseGrpcEndpoint(sidecar.GrpcEndpoint).Build();
        }

        [TestFixtureTearDown]
        public void Stop()
        {
            if (client != null) client.Dispose();
            if (sidecar != null) sidecar.Dispose();
        }

        [Test]
        public async Task Messages_arrive_and_are_answered_exceptions_and_Retry_redeliver()
        {
            var topic = Sidecar.Unique("streamed");
            var inbox = new Inbox<string>();
            var attempts = new ConcurrentDictionary<string, int>();
            var metadataSeen = new ConcurrentBag<int>();
            TopicMessageHandler handler = (message, ct) =>
            {
                metadataSeen.Add(message.Metadata.Count);
                int n = attempts.AddOrUpdate(message.Id, 1, (k, v) => v + 1);
                var order = message.DataAs<Order>();
                if (order.OrderId == 2 && n == 1) throw new InvalidOperationException("not yet");
                if (order.OrderId == 3 && n == 1) return Task.FromResult(TopicResponseAction.Retry);
                inbox.Add(order.OrderId + "#" + n + " " + message.Topic + " " + message.DataContentType);
                return Task.FromResult(TopicResponseAction.Success);
            };
            using (var subscription = await client.SubscribeAsync(Sidecar.Pubsub, topic, handler))
            {
                for (int i = 1; i <= 3; i++) await client.PublishEventAsync(Sidecar.Pubsub, topic, new Order { OrderId = i });
                var got = inbox.Take(3);
                got.Sort(string.CompareOrdinal);
                CollectionAssert.AreEqual(new[] {
                    "1#1 " + topic + " application/json", "2#2 " + topic + " application/json", "3#2 " + topic + " application/json" }, got);
                inbox.NothingFor(300);
                CollectionAssert.AreEqual(new[] { 0, 0, 0, 0, 0 }, metadataSeen.ToArray(), "daprd sends a stream no broker metadata");
            }
        }

        [Test]
        public async Task The_subscription_survives_a_sidecar_restart()
        {
            var topic = Sidecar.Unique("restart");
            var inbox = new Inbox<int>();
            TopicMessageHandler handler = (message, ct) =>
            {
                inbox.Add(message.DataAs<int>());
                return Task.FromResult(TopicResponseAction.Success);
            };
            using (var subscription = await client.SubscribeAsync(Sidecar.Pubsub, topic, handler))
            {
                await client.PublishEventAsync(Sidecar.Pubsub, topic, 1);
                Assert.AreEqual(1, inbox.TakeOne());
                sidecar.Restart();
                await client.WaitForSidecarAsync(TimeSpan.FromSeconds(20));
                // The stream reopens by itself; publish until the new connection delivers.
                await client.PublishEventAsync(Sidecar.Pubsub, topic, 2);
                Assert.AreEqual(2, inbox.TakeOne(30000));
            }
        }

        [Test]
        public async Task Disposing_ends_the_subscription()
        {
            var topic = Sidecar.Unique("ended");
            var inbox = new Inbox<int>();
            var subscription = await client.SubscribeAsync(Sidecar.Pubsub, topic, (m, ct) =>
            {
                inbox.Add(m.DataAs<int>());
                return Task.FromResult(TopicResponseAction.Success);
            });
            await client.PublishEventAsync(Sidecar.Pubsub, topic, 1);
            Assert.AreEqual(1, inbox.TakeOne());
            subscription.Dispose();
            Assert.IsTrue(subscription.Completion.Wait(10000), "the pull loop must end after Dispose");
            await client.PublishEventAsync(Sidecar.Pubsub, topic, 2);
            inbox.NothingFor(500);
        }

        [Test]
        public void A_refused_subscription_fails_when_opened()
        {
            var e = Assert.Throws<PubsubNotFoundException>(() => client.SubscribeAsync("nope", "t", (m, ct) => Task.FromResult(TopicResponseAction.Success)).GetAwaiter().GetResult());
            Assert.AreNotEqual(StatusCode.OK, e.StatusCode);
            StringAssert.Contains("nope", e.Message);
        }

        /// A handler that records each order's id and the trace context it came with.
        private static TopicMessageHandler OrderAndTrace(Inbox<string> inbox)
        {
            return (message, ct) =>
            {
                var trace = TraceContext.Of(message);
                inbox.Add(message.DataAs<Order>().OrderId + " " + (trace == null ? "none" : trace.ToString()));
                return Task.FromResult(TopicResponseAction.Success);
            };
        }

        // The sidecar does not trace here, so the event carries the publisher's context as sent.
        [Test]
        public async Task A_published_trace_context_reaches_the_handler()
        {
            var topic = Sidecar.Unique("traced");
            var inbox = new Inbox<string>();
            var handler = OrderAndTrace(inbox);
            using (var subscription = await client.SubscribeAsync(Sidecar.Pubsub, topic, handler))
            {
                var given = new TraceContext("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "vendor=v1");
                await client.PublishEventAsync(Sidecar.Pubsub, topic, new Order { OrderId = 1 }, null, given);
                Assert.AreEqual("1 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01 (vendor=v1)", inbox.TakeOne());
                await client.PublishEventAsync(Sidecar.Pubsub, topic, new Order { OrderId = 2 });
                StringAssert.IsMatch("^2 00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$", inbox.TakeOne(), "without one, the sidecar starts a trace");
            }
            Assert.IsNull(TraceContext.Of(new CloudEvent()));
        }

        [Test]
        public async Task A_bulk_published_trace_context_reaches_the_handler_with_every_event()
        {
            var topic = Sidecar.Unique("bulk-traced");
            var inbox = new Inbox<string>();
            var handler = OrderAndTrace(inbox);
            using (var subscription = await client.SubscribeAsync(Sidecar.Pubsub, topic, handler))
            {
                var given = new TraceContext("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "vendor=v2");
                var orders = new List<Order> { new Order { OrderId = 1 }, new Order { OrderId = 2 } };
                var response = await client.BulkPublishEventAsync(Sidecar.Pubsub, topic, orders, null, given);
                Assert.IsEmpty(response.FailedEntries);
                var got = inbox.Take(2);
                got.Sort(StringComparer.Ordinal);
                CollectionAssert.AreEqual(new[]
                {
                    "1 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01 (vendor=v2)",
                    "2 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01 (vendor=v2)",
                }, got);
                await client.BulkPublishEventAsync(Sidecar.Pubsub, topic, new List<Order> { new Order { OrderId = 3 } });
                StringAssert.IsMatch("^3 00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$", inbox.TakeOne(), "without one, the sidecar starts a trace");
            }
        }
    }
}
