// Batch handlers (a method taking BulkSubscribeMessage<T>, answering BulkSubscribeAppResponse) on
// a DaprApp over the HTTP and the gRPC app protocol, behind a real sidecar: one call per batch,
// each entry's answered status honoured (retried entries come again, dropped ones do not), an
// entry left out of the answer retried, a handler that throws has its whole batch retried; and
// the mistakes a batch handler can be mapped with.
using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using NUnit.Framework;

namespace DaprRs.Tests
{
    public sealed class BatchSubscribers
    {
        /// <summary>"orderId#attempt" of each entry the statuses handler was given.</summary>
        public readonly Inbox<string> Answered = new Inbox<string>();
        /// <summary>Entries per call of the statuses handler.</summary>
        public readonly ConcurrentQueue<int> BatchSizes = new ConcurrentQueue<int>();
        /// <summary>What a batch said about itself that it should not have (wrong topic, pubsub, entry ids).</summary>
        public readonly ConcurrentQueue<string> Faults = new ConcurrentQueue<string>();
        /// <summary>The order ids of the one batch the throwing handler failed.</summary>
        public readonly Inbox<List<int>> Thrown = new Inbox<List<int>>();
        /// <summary>Order ids the throwing handler answered SUCCESS.</summary>
        public readonly Inbox<int> Succeeded = new Inbox<int>();
        private readonly ConcurrentDictionary<int, int> attempts = new ConcurrentDictionary<int, int>();
        private int threw;

        // Order 1 asks for a retry once, order 2 is dropped, order 3 is left out of the first
        // answer (so RETRY); the rest succeed.
        [Topic(Sidecar.Pubsub, "batch-statuses")]
        [BulkSubscribe("batch-statuses", 20, 500)]
        public BulkSubscribeAppResponse Statuses(BulkSubscribeMessage<Order> batch)
        {
            BatchSizes.Enqueue(batch.Entries.Count);
            Check(batch.Topic == "batch-statuses" && batch.Pubsub == Sidecar.Pubsub, "batch of " + batch.Pubsub + "/" + batch.Topic);
            Check(batch.Entries.All(e => !string.IsNullOrEmpty(e.EntryId)) && batch.Entries.Select(e => e.EntryId).Distinct().Count() == batch.Entries.Count, "entry ids");
            Check(batch.Entries.All(e => e.ContentType == "application/json"), "content types");
            var statuses = new List<BulkSubscribeAppResponseEntry>();
            foreach (var entry in batch.Entries)
            {
                int id = entry.Event.OrderId;
                int n = attempts.AddOrUpdate(id, 1, (k, v) => v + 1);
                Answered.Add(id + "#" + n);
                if (id == 3 && n == 1) continue;
                var status = id == 1 && n == 1 ? BulkSubscribeAppResponseStatus.RETRY
                    : id == 2 ? BulkSubscribeAppResponseStatus.DROP
                    : BulkSubscribeAppResponseStatus.SUCCESS;
                statuses.Add(new BulkSubscribeAppResponseEntry(entry.EntryId, status));
            }
            return new BulkSubscribeAppResponse(statuses);
        }

        // The first call throws; every later one succeeds whole.
        [Topic(Sidecar.Pubsub, "batch-throws")]
        [BulkSubscribe("batch-throws", 20, 500)]
        public async Task<BulkSubscribeAppResponse> Throws(BulkSubscribeMessage<CloudEvent<Order>> batch)
        {
            await Task.Yield();
            Check(batch.Entries.All(e => e.Event.Topic == "batch-throws" && !string.IsNullOrEmpty(e.Event.Id)), "CloudEvent attributes");
            var ids = batch.Entries.Select(e => e.Event.Data.OrderId).ToList();
            if (Interlocked.Exchange(ref threw, 1) == 0)
            {
                Thrown.Add(ids);
                throw new InvalidOperationException("the whole batch fails");
            }
            foreach (var id in ids) Succeeded.Add(id);
            return new BulkSubscribeAppResponse(batch.Entries.Select(e => new BulkSubscribeAppResponseEntry(e.EntryId, BulkSubscribeAppResponseStatus.SUCCESS)).ToList());
        }

        private void Check(bool ok, string what)
        {
            if (!ok) Faults.Enqueue(what);
        }
    }

    [TestFixture(AppProtocol.Http)]
    [TestFixture(AppProtocol.Grpc)]
    public class BatchHandlerTests
    {
        private readonly AppProtocol protocol;
        private BatchSubscribers subscribers;
        private SubscribedApp bench;

        public BatchHandlerTests(AppProtocol protocol)
        {
            this.protocol = protocol;
        }

        [TestFixtureSetUp]
        public void Start()
        {
            subscribers = new BatchSubscribers();
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
        public async Task Each_entry_gets_the_status_answered_for_it_and_one_left_out_is_retried()
        {
            var published = await bench.Client.BulkPublishEventAsync(Sidecar.Pubsub, "batch-statuses", Orders(6));
            Assert.AreEqual(0, published.FailedEntries.Count);
            var got = subscribers.Answered.Take(8);
            // Anything more (a dropped or succeeded entry handed out again) must not come.
            subscribers.Answered.NothingFor(2000);
            CollectionAssert.AreEquivalent(new[] { "1#1", "1#2", "2#1", "3#1", "3#2", "4#1", "5#1", "6#1" }, got);
            CollectionAssert.IsEmpty(subscribers.Faults);
            // One call per batch: 8 entries in fewer calls than entries.
            var sizes = subscribers.BatchSizes.ToList();
            Assert.AreEqual(8, sizes.Sum());
            Assert.That(sizes.Count, Is.LessThan(8), "calls for 8 entries: " + string.Join(",", sizes));
            // The app's reply carried each entry's status: the sidecar records each outcome of a bulk call.
            foreach (var status in new[] { "SUCCESS", "RETRY", "DROP" })
            {
                bench.Sidecar.SettledMetric("dapr_component_pubsub_ingress_bulk_event_count", 1, "topic=\"batch-statuses\"", "process_status=\"" + status + "\"");
            }
        }

        [Test]
        public async Task A_handler_that_throws_has_every_entry_of_its_batch_retried()
        {
            var published = await bench.Client.BulkPublishEventAsync(Sidecar.Pubsub, "batch-throws", Orders(5));
            Assert.AreEqual(0, published.FailedEntries.Count);
            var thrown = subscribers.Thrown.TakeOne();
            Assert.That(thrown, Is.Not.Empty);
            // Each order succeeds once in the end, those of the failed batch included: they came again.
            CollectionAssert.AreEquivalent(Enumerable.Range(1, 5), subscribers.Succeeded.Take(5));
            subscribers.Succeeded.NothingFor(1500);
            CollectionAssert.IsSubsetOf(thrown, Enumerable.Range(1, 5));
            CollectionAssert.IsEmpty(subscribers.Faults);
            bench.Sidecar.SettledMetric("dapr_component_pubsub_ingress_bulk_event_count", 1, "topic=\"batch-throws\"", "process_status=\"RETRY\"");
            Assert.AreEqual(0, bench.Sidecar.Metric("dapr_component_pubsub_ingress_bulk_event_count", "topic=\"batch-throws\"", "process_status=\"DROP\""), "a failure is never a DROP");
        }
    }

    [TestFixture]
    public class BatchHandlerSetupTests
    {
        private sealed class BatchWithoutBulkSubscribe
        {
            [Topic(Sidecar.Pubsub, "a")]
            public BulkSubscribeAppResponse Handler(BulkSubscribeMessage<int> batch) { return null; }
        }

        private sealed class BatchOfOneTopicOnly
        {
            [Topic(Sidecar.Pubsub, "a")]
            [Topic(Sidecar.Pubsub, "b")]
            [BulkSubscribe("a")]
            public BulkSubscribeAppResponse Handler(BulkSubscribeMessage<int> batch) { return null; }
        }

        private sealed class BatchAnsweringAnAction
        {
            [Topic(Sidecar.Pubsub, "a")]
            [BulkSubscribe("a")]
            public TopicResponseAction Handler(BulkSubscribeMessage<int> batch) { return TopicResponseAction.Success; }
        }

        [Test]
        public void A_batch_handler_needs_BulkSubscribe_on_each_topic_and_a_BulkSubscribeAppResponse()
        {
            using (var app = new DaprApp())
            {
                var e = Assert.Throws<InvalidArgumentException>(() => app.MapSubscribers(new BatchWithoutBulkSubscribe()));
                StringAssert.Contains("BatchWithoutBulkSubscribe.Handler takes a BulkSubscribeMessage, but no [BulkSubscribe] names its topic a", e.Message);
            }
            using (var app = new DaprApp())
            {
                var e = Assert.Throws<InvalidArgumentException>(() => app.MapSubscribers(new BatchOfOneTopicOnly()));
                StringAssert.Contains("names its topic b", e.Message);
            }
            using (var app = new DaprApp())
            {
                var e = Assert.Throws<ArgumentException>(() => app.MapSubscribers(new BatchAnsweringAnAction()));
                StringAssert.Contains("must return BulkSubscribeAppResponse or Task<BulkSubscribeAppResponse>", e.Message);
            }
            using (var app = new DaprApp())
            {
                Func<BulkSubscribeMessage<int>, Task<BulkSubscribeAppResponse>> handler = batch => Task.FromResult(new BulkSubscribeAppResponse(null));
                var e = Assert.Throws<InvalidArgumentException>(() => app.MapBulkTopic(new TopicAttribute(Sidecar.Pubsub, "a"), new Attribute[0], handler));
                StringAssert.Contains("MapBulkTopic(order_pub_sub/a) takes a BulkSubscribeMessage, but no [BulkSubscribe] names its topic a", e.Message);
            }
        }

        [Test]
        public async Task MapBulkTopic_gets_batches_and_an_empty_answer_retries_them()
        {
            var batches = new Inbox<List<int>>();
            int calls = 0;
            Func<BulkSubscribeMessage<int>, Task<BulkSubscribeAppResponse>> handler = batch =>
            {
                var values = batch.Entries.Select(e => e.Event).ToList();
                batches.Add(values);
                // The first answer names no entry: each is retried, then answered SUCCESS.
                var statuses = Interlocked.Increment(ref calls) == 1
                    ? new List<BulkSubscribeAppResponseEntry>()
                    : batch.Entries.Select(e => new BulkSubscribeAppResponseEntry(e.EntryId, BulkSubscribeAppResponseStatus.SUCCESS)).ToList();
                return Task.FromResult(new BulkSubscribeAppResponse(statuses));
            };
            var attributes = new Attribute[] { new BulkSubscribeAttribute("mapped-batches", 5, 200) };
            using (var app = new DaprApp(AppProtocol.Grpc).MapBulkTopic(new TopicAttribute(Sidecar.Pubsub, "mapped-batches"), attributes, handler))
            {
                app.Start(0);
                using (var sidecar = Sidecar.Start("mapped-batches", Sidecar.InMemory(), app.Port, "grpc"))
                using (var client = new DaprClientBuilder().UseGrpcEndpoint(sidecar.GrpcEndpoint).Build())
                {
                    sidecar.WaitHttp("/v1.0/healthz", 204);
                    await client.BulkPublishEventAsync(Sidecar.Pubsub, "mapped-batches", new List<int> { 7, 8, 9 });
                    var first = batches.TakeOne();
                    var seen = new List<int>(first);
                    // Every entry of the unanswered first batch comes again, and then all three are answered.
                    var deadline = DateTime.UtcNow.AddSeconds(20);
                    while (!first.All(v => seen.Count(s => s == v) == 2) || !new[] { 7, 8, 9 }.All(seen.Contains))
                    {
                        Assert.That(DateTime.UtcNow, Is.LessThan(deadline), "entries seen so far: " + string.Join(",", seen));
                        seen.AddRange(batches.TakeOne((int)Math.Max(1, (deadline - DateTime.UtcNow).TotalMilliseconds)));
                    }
                    batches.NothingFor(1500);
                    Assert.AreEqual(first.Count + 3, seen.Count, "the first batch twice, the rest once: " + string.Join(",", seen));
                }
                Assert.IsTrue(app.StopAsync().Wait(10000), "StopAsync must complete");
            }
        }
    }
}
