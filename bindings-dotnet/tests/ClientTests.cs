// DaprClient against a real dapr-rs sidecar (in-memory broker), delivering to a DaprApp: publish
// variants, the JSON shape, bulk, errors with their status codes, cancellation and disposal.
using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Linq;
using System.Text;
using System.Threading;
using System.Threading.Tasks;
using NUnit.Framework;

namespace DaprRs.Tests
{
    public class Order
    {
        public int OrderId { get; set; }
        public string CustomerName { get; set; }
        public List<string> Items { get; set; }
        public decimal Total { get; set; }
    }

    /// <summary>What a [Topic] method received.</summary>
    public sealed class Received
    {
        public string Topic;
        public object Data;
        public CloudEvent Event;
        public override string ToString() { return Topic + ": " + Data; }
    }

    public sealed class PublishSubscribers
    {
        public readonly Inbox<Received> Inbox = new Inbox<Received>();

        [Topic(Sidecar.Pubsub, "json")]
        public void Json(CloudEvent<Dictionary<string, object>> e) { Inbox.Add(new Received { Topic = "json", Data = e.Data, Event = e }); }

        [Topic(Sidecar.Pubsub, "typed")]
        public Task Typed(Order order) { Inbox.Add(new Received { Topic = "typed", Data = order }); return Task.FromResult(0); }

        [Topic(Sidecar.Pubsub, "number")]
        public void Number(int orderId) { Inbox.Add(new Received { Topic = "number", Data = orderId }); }

        [Topic(Sidecar.Pubsub, "bytes")]
        public void Bytes(CloudEvent<byte[]> e) { Inbox.Add(new Received { Topic = "bytes", Data = e.Data, Event = e }); }

        [Topic(Sidecar.Pubsub, "text")]
        public void Text(CloudEvent<string> e) { Inbox.Add(new Received { Topic = "text", Data = e.Data, Event = e }); }

        [Topic(Sidecar.Pubsub, "empty")]
        public void Empty(CloudEvent<byte[]> e) { Inbox.Add(new Received { Topic = "empty", Data = e.Data, Event = e }); }

        [Topic(Sidecar.Pubsub, "bulk")]
        public void Bulk(int n) { Inbox.Add(new Received { Topic = "bulk", Data = n }); }

        [Topic(Sidecar.Pubsub, "cloudevent")]
        public void CloudEvents(CloudEvent<Order> e) { Inbox.Add(new Received { Topic = "cloudevent", Data = e.Data, Event = e }); }

        [Topic(Sidecar.Pubsub, "raw", true)]
        public void Raw(byte[] data) { Inbox.Add(new Received { Topic = "raw", Data = Encoding.UTF8.GetString(data) }); }
    }

    [TestFixture]
    public class ClientTests
    {
        private PublishSubscribers subscribers;
        private SubscribedApp bench;
        private Sidecar sidecar;
        private DaprClient client;

        [TestFixtureSetUp]
        public void Start()
        {
            subscribers = new PublishSubscribers();
            bench = new SubscribedApp(subscribers, AppProtocol.Http);
            sidecar = bench.Sidecar;
            client = bench.Client;
        }

        [TestFixtureTearDown]
        public void Stop()
        {
            if (bench != null) bench.Dispose();
        }

        [Test]
        public void The_bench_floor_call_completes()
        {
            // bench/dotnet measures each publish against it: its loss would only show in `make bench`.
            Assert.IsTrue(DaprClient.NativeRoundTripAsync().Wait(TimeSpan.FromSeconds(10)));
            // With work on the native runtime first (the caller-idle floor) too.
            Assert.IsTrue(DaprClient.NativeRoundTripAsync(200).Wait(TimeSpan.FromSeconds(10)));
        }

        [Test]
        public async Task WaitForSidecarAsync_completes_when_the_sidecar_answers()
        {
            await client.WaitForSidecarAsync();
            Assert.AreEqual(sidecar.GrpcEndpoint, client.GrpcEndpoint);
        }

        [Test]
        public async Task Objects_are_published_as_camelCase_JSON()
        {
            await client.PublishEventAsync(Sidecar.Pubsub, "json", new Order { OrderId = 1, CustomerName = "Ada", Items = new List<string> { "a", "b" }, Total = 12.5m });
            var got = subscribers.Inbox.TakeOne();
            var data = (Dictionary<string, object>)got.Data;
            CollectionAssert.AreEquivalent(new[] { "orderId", "customerName", "items", "total" }, data.Keys);
            Assert.AreEqual(1L, data["orderId"]);
            Assert.AreEqual("Ada", data["customerName"]);
            CollectionAssert.AreEqual(new object[] { "a", "b" }, (List<object>)data["items"]);
            Assert.AreEqual(12.5, data["total"]);
            Assert.AreEqual("application/json", got.Event.DataContentType);
            Assert.AreEqual("json", got.Event.Topic);
            Assert.AreEqual(Sidecar.Pubsub, got.Event.PubsubName);
            Assert.AreEqual("com.dapr.event.sent", got.Event.Type);
            StringAssert.StartsWith("00-", (string)got.Event.Extensions["traceparent"], "extensions reach the handler");
        }

        [Test]
        public async Task A_typed_handler_gets_the_object_back()
        {
            await client.PublishEventAsync(Sidecar.Pubsub, "typed", new Order { OrderId = 2, CustomerName = "Bo", Items = new List<string> { "x" }, Total = 3m });
            var order = (Order)subscribers.Inbox.TakeOne().Data;
            Assert.AreEqual(2, order.OrderId);
            Assert.AreEqual("Bo", order.CustomerName);
            CollectionAssert.AreEqual(new[] { "x" }, order.Items);
            Assert.AreEqual(3m, order.Total);
        }

        [Test]
        public async Task The_quickstart_publishes_a_bare_number_with_a_cancellation_token()
        {
            var source = new CancellationTokenSource();
            CancellationToken cancellationToken = source.Token;
            int orderId = 7;
            await client.PublishEventAsync(Sidecar.Pubsub, "number", orderId, cancellationToken);
            Assert.AreEqual(7, subscribers.Inbox.TakeOne().Data);
        }

        [Test]
        public async Task Bytes_keep_their_content_type()
        {
            await client.PublishByteEventAsync(Sidecar.Pubsub, "bytes", new byte[] { 0, 1, 255 }, "application/octet-stream");
            var got = subscribers.Inbox.TakeOne();
            CollectionAssert.AreEqual(new byte[] { 0, 1, 255 }, (byte[])got.Data);
            Assert.AreEqual("application/octet-stream", got.Event.DataContentType);

            await client.PublishByteEventAsync(Sidecar.Pubsub, "text", Encoding.UTF8.GetBytes("héllo"), "text/plain");
            got = subscribers.Inbox.TakeOne();
            Assert.AreEqual("héllo", got.Data);
            Assert.AreEqual("text/plain", got.Event.DataContentType);

            // Dapr.Client's default content type for bytes is application/json.
            await client.PublishByteEventAsync(Sidecar.Pubsub, "text", Encoding.UTF8.GetBytes("\"quoted\""));
            got = subscribers.Inbox.TakeOne();
            Assert.AreEqual("quoted", got.Data);
            Assert.AreEqual("application/json", got.Event.DataContentType);
        }

        [Test]
        public async Task A_slice_of_an_array_is_published_as_those_bytes_only()
        {
            var buffer = new byte[] { 9, 0, 1, 255, 9 };
            await client.PublishByteEventAsync(Sidecar.Pubsub, "bytes", new ArraySegment<byte>(buffer, 1, 3), "application/octet-stream");
            var got = subscribers.Inbox.TakeOne();
            CollectionAssert.AreEqual(new byte[] { 0, 1, 255 }, (byte[])got.Data);
            Assert.AreEqual("application/octet-stream", got.Event.DataContentType);
            CollectionAssert.AreEqual(new byte[] { 9, 0, 1, 255, 9 }, buffer, "the caller's array is not touched");
            Assert.Throws<ArgumentNullException>(() => client.PublishByteEventAsync(Sidecar.Pubsub, "bytes", default(ArraySegment<byte>)));
        }

        [Test]
        public async Task A_CloudEvent_is_published_as_itself_with_its_own_attributes()
        {
            var ce = new CloudEvent<Order>(new Order { OrderId = 42, CustomerName = "Ada" })
            {
                Id = "order-42-created",
                Source = "urn:dapr-rs:checkout",
                Type = "com.example.order.created",
                Subject = "order-42",
                Extensions = new Dictionary<string, object> { { "tenant", "acme" } },
            };
            await client.PublishEventAsync(Sidecar.Pubsub, "cloudevent", ce);
            var got = subscribers.Inbox.TakeOne();
            var order = (Order)got.Data;
            Assert.AreEqual(42, order.OrderId, "the data is the event's own, not the event wrapped in another");
            Assert.AreEqual("Ada", order.CustomerName);
            Assert.AreEqual("order-42-created", got.Event.Id);
            Assert.AreEqual("urn:dapr-rs:checkout", got.Event.Source);
            Assert.AreEqual("com.example.order.created", got.Event.Type);
            Assert.AreEqual("order-42", got.Event.Subject);
            Assert.AreEqual("1.0", got.Event.SpecVersion);
            Assert.AreEqual("application/json", got.Event.DataContentType);
            Assert.AreEqual("acme", got.Event.Extensions["tenant"]);
            Assert.AreEqual("cloudevent", got.Event.Topic, "where it went is still the sidecar's to say");
            Assert.AreEqual(Sidecar.Pubsub, got.Event.PubsubName);
        }

        [Test]
        public async Task A_CloudEvent_leaves_what_it_does_not_set_to_the_sidecar_and_sends_bytes_as_data_base64()
        {
            // Dapr.Client's CloudEvent<T> has no id: the sidecar gives it one (and daprd's source).
            await client.PublishEventAsync(Sidecar.Pubsub, "cloudevent", new CloudEvent<Order>(new Order { OrderId = 5 }) { Type = "com.example.minimal" });
            var got = subscribers.Inbox.TakeOne();
            Assert.AreEqual(5, ((Order)got.Data).OrderId);
            Assert.AreEqual("com.example.minimal", got.Event.Type);
            Assert.IsNotEmpty(got.Event.Id);
            Assert.AreEqual("Dapr", got.Event.Source);

            await client.PublishEventAsync(Sidecar.Pubsub, "bytes", new CloudEvent<byte[]>(new byte[] { 0, 1, 255 }) { Id = "b1", Source = "s", Type = "t" });
            got = subscribers.Inbox.TakeOne();
            CollectionAssert.AreEqual(new byte[] { 0, 1, 255 }, (byte[])got.Data);
            Assert.AreEqual("application/octet-stream", got.Event.DataContentType);
            Assert.AreEqual("b1", got.Event.Id);
        }

        [Test]
        public async Task Bulk_published_CloudEvents_arrive_as_themselves()
        {
            var events = Enumerable.Range(1, 3).Select(n => new CloudEvent<Order>(new Order { OrderId = n }) { Id = "bulk-ce-" + n, Source = "urn:bulk", Type = "com.example.bulk" }).ToList();
            var response = await client.BulkPublishEventAsync(Sidecar.Pubsub, "cloudevent", events);
            Assert.AreEqual(0, response.FailedEntries.Count);
            var got = subscribers.Inbox.Take(3).OrderBy(r => r.Event.Id).ToList();
            CollectionAssert.AreEqual(new[] { "bulk-ce-1", "bulk-ce-2", "bulk-ce-3" }, got.Select(r => r.Event.Id));
            CollectionAssert.AreEqual(new[] { 1, 2, 3 }, got.Select(r => ((Order)r.Data).OrderId));
            Assert.IsTrue(got.All(r => r.Event.Source == "urn:bulk" && r.Event.Type == "com.example.bulk"));
        }

        [Test]
        public async Task GetMetadataAsync_reports_the_app_its_components_and_subscriptions()
        {
            var metadata = await client.GetMetadataAsync();
            Assert.AreEqual("checkout", metadata.Id);
            Assert.IsNotEmpty(metadata.RuntimeVersion);
            var pubsub = metadata.Components.Single(c => c.Name == Sidecar.Pubsub);
            Assert.AreEqual("pubsub.in-memory", pubsub.Type);
            var typed = metadata.Subscriptions.Single(s => s.Topic == "typed");
            Assert.AreEqual(Sidecar.Pubsub, typed.PubsubName);
            Assert.AreEqual(DaprSubscriptionType.Programmatic, typed.Type);
            Assert.IsNull(typed.DeadLetterTopic);
            Assert.AreEqual("/events/order_pub_sub/typed", typed.Rules.Single().Path);
            Assert.AreEqual("true", metadata.Subscriptions.Single(s => s.Topic == "raw").Metadata["rawPayload"]);
        }

        [Test]
        public async Task An_event_without_data_is_delivered()
        {
            await client.PublishEventAsync(Sidecar.Pubsub, "empty");
            var got = subscribers.Inbox.TakeOne();
            Assert.AreEqual(0, ((byte[])got.Data).Length);
            Assert.AreEqual("empty", got.Event.Topic);
        }

        [Test]
        public async Task Metadata_reaches_the_sidecar_rawPayload_skips_the_envelope()
        {
            var metadata = new Dictionary<string, string> { { "rawPayload", "true" } };
            await client.PublishEventAsync(Sidecar.Pubsub, "raw", new Order { OrderId = 4 }, metadata);
            var got = (string)subscribers.Inbox.TakeOne().Data;
            StringAssert.Contains("\"orderId\":4", got);
            StringAssert.DoesNotContain("specversion", got);
        }

        [Test]
        public async Task Bulk_publishes_every_entry()
        {
            var response = await client.BulkPublishEventAsync(Sidecar.Pubsub, "bulk", new List<int> { 1, 2, 3, 4, 5 });
            Assert.AreEqual(0, response.FailedEntries.Count);
            var got = subscribers.Inbox.Take(5).Select(r => (int)r.Data).OrderBy(n => n);
            CollectionAssert.AreEqual(new[] { 1, 2, 3, 4, 5 }, got);
        }

        [Test]
        public void An_unknown_pubsub_is_NotFound_with_Daprs_error_code()
        {
            var e = Assert.Throws<PubsubNotFoundException>(() => client.PublishEventAsync("nope", "orders", 1).GetAwaiter().GetResult());
            Assert.AreEqual("ERR_PUBSUB_NOT_FOUND", e.ErrorCode);
            Assert.AreNotEqual(StatusCode.OK, e.StatusCode);
            StringAssert.Contains("nope", e.Message);
        }

        [Test]
        public void Bad_arguments_are_InvalidArgument_naming_what_is_wrong()
        {
            DaprException e = Assert.Throws<InvalidArgumentException>(() => client.PublishEventAsync(Sidecar.Pubsub, "", 1).GetAwaiter().GetResult());
            Assert.AreEqual(StatusCode.InvalidArgument, e.StatusCode);
            StringAssert.Contains("topic", e.Message);
            e = Assert.Throws<InvalidArgumentException>(() => client.PublishEventAsync(null, "orders", 1).GetAwaiter().GetResult());
            Assert.AreEqual(StatusCode.InvalidArgument, e.StatusCode);
            StringAssert.Contains("pubsub_name", e.Message);
            e = Assert.Throws<InvalidArgumentException>(() => new DaprClientBuilder().UseGrpcEndpoint("http://[bad").Build());
            Assert.AreEqual(StatusCode.InvalidArgument, e.StatusCode);
        }

        [Test]
        public void No_sidecar_is_Unavailable()
        {
            using (var nobody = new DaprClientBuilder().UseGrpcEndpoint("http://127.0.0.1:" + Sidecar.FreePort()).Build())
            {
                DaprException e = Assert.Throws<SidecarUnavailableException>(() => nobody.PublishEventAsync(Sidecar.Pubsub, "orders", 1).GetAwaiter().GetResult());
                Assert.AreEqual(StatusCode.Unavailable, e.StatusCode);
                e = Assert.Throws<DaprTimeoutException>(() => nobody.WaitForSidecarAsync(TimeSpan.FromMilliseconds(300)).GetAwaiter().GetResult());
                Assert.AreEqual(StatusCode.DeadlineExceeded, e.StatusCode);
            }
        }

        [Test]
        public void A_cancelled_token_cancels_the_call()
        {
            var cancelled = new CancellationTokenSource();
            cancelled.Cancel();
            Assert.Throws<OperationCanceledException>(() => client.PublishEventAsync(Sidecar.Pubsub, "number", 1, cancelled.Token).GetAwaiter().GetResult());

            using (var nobody = new DaprClientBuilder().UseGrpcEndpoint("http://127.0.0.1:" + Sidecar.FreePort()).Build())
            {
                var later = new CancellationTokenSource(200);
                var watch = Stopwatch.StartNew();
                var e = Assert.Catch<OperationCanceledException>(() => nobody.WaitForSidecarAsync(later.Token).GetAwaiter().GetResult());
                Assert.AreEqual(later.Token, e.CancellationToken);
                Assert.Less(watch.ElapsedMilliseconds, 5000, "cancellation must stop the wait");
            }
        }

        [Test]
        public void Every_async_call_takes_a_cancellation_token()
        {
            var cancelled = new CancellationTokenSource();
            cancelled.Cancel();
            var token = cancelled.Token;
            var calls = new Dictionary<string, Func<Task>>
            {
                { "PublishEventAsync", () => client.PublishEventAsync(Sidecar.Pubsub, "number", 1, token) },
                { "PublishEventAsync (no data)", () => client.PublishEventAsync(Sidecar.Pubsub, "empty", token) },
                { "PublishByteEventAsync", () => client.PublishByteEventAsync(Sidecar.Pubsub, "bytes", new byte[] { 1 }, cancellationToken: token) },
                { "PublishByteEventAsync (segment)", () => client.PublishByteEventAsync(Sidecar.Pubsub, "bytes", new ArraySegment<byte>(new byte[] { 1 }), cancellationToken: token) },
                { "BulkPublishEventAsync", () => client.BulkPublishEventAsync(Sidecar.Pubsub, "bulk", new List<int> { 1 }, cancellationToken: token) },
                { "WaitForSidecarAsync", () => client.WaitForSidecarAsync(token) },
                { "GetMetadataAsync", () => client.GetMetadataAsync(token) },
                { "SubscribeAsync", () => client.SubscribeAsync(Sidecar.Pubsub, "streamed", (m, ct) => Task.FromResult(TopicResponseAction.Success), null, token) },
            };
            foreach (var call in calls)
            {
                var e = Assert.Catch<OperationCanceledException>(() => call.Value().GetAwaiter().GetResult(), call.Key);
                Assert.AreEqual(token, e.CancellationToken, call.Key);
            }
            subscribers.Inbox.NothingFor(500);
        }

        [Test]
        public void Calls_cancelled_in_flight_end_at_once_and_leave_the_client_working()
        {
            using (var nobody = new DaprClientBuilder().UseGrpcEndpoint("http://127.0.0.1:" + Sidecar.FreePort()).Build())
            {
                var later = new CancellationTokenSource();
                var waits = Enumerable.Range(0, 50).Select(_ => nobody.WaitForSidecarAsync(later.Token)).ToList();
                Thread.Sleep(200);
                Assert.IsTrue(waits.All(w => !w.IsCompleted), "nothing answers there: every wait is still waiting");
                var watch = Stopwatch.StartNew();
                later.Cancel();
                Assert.IsTrue(Task.WhenAll(waits).ContinueWith(t => t).Wait(5000), "cancelled waits must end");
                Assert.Less(watch.ElapsedMilliseconds, 5000);
                Assert.IsTrue(waits.All(w => w.IsCanceled), "each ends as cancelled, none with a result or another error");
            }
            // A token cancelled after its call completed changes nothing.
            var afterwards = new CancellationTokenSource();
            client.PublishEventAsync(Sidecar.Pubsub, "number", 11, afterwards.Token).GetAwaiter().GetResult();
            afterwards.Cancel();
            Assert.AreEqual(11, subscribers.Inbox.TakeOne().Data);
        }

        [Test]
        public void A_disposed_client_refuses_calls()
        {
            var c = new DaprClientBuilder().UseGrpcEndpoint(sidecar.GrpcEndpoint).Build();
            c.Dispose();
            c.Dispose();
            Assert.Throws<ObjectDisposedException>(() => c.PublishEventAsync(Sidecar.Pubsub, "number", 1).GetAwaiter().GetResult());
        }
    }

    [TestFixture]
    public class ClientErrorTests
    {
        [Test]
        public async Task A_wrong_api_token_is_Unauthenticated_and_the_right_one_works()
        {
            var env = new Dictionary<string, string> { { "DAPR_API_TOKEN", "s3cret" } };
            using (var sidecar = Sidecar.Start("orderprocessing", Sidecar.InMemory(), 0, "http", env))
            {
                using (var wrong = new DaprClientBuilder().UseGrpcEndpoint(sidecar.GrpcEndpoint).UseDaprApiToken("nope").Build())
                {
                    var e = Assert.Throws<DaprException>(() => wrong.PublishEventAsync(Sidecar.Pubsub, "orders", 1).GetAwaiter().GetResult());
                    Assert.AreEqual(StatusCode.Unauthenticated, e.StatusCode);
                }
                using (var right = new DaprClientBuilder().UseGrpcEndpoint(sidecar.GrpcEndpoint).UseDaprApiToken("s3cret").Build())
                {
                    await right.PublishEventAsync(Sidecar.Pubsub, "orders", 1);
                }
            }
        }

        [Test]
        public async Task A_topic_the_components_scopes_forbid_is_TopicForbidden_and_any_failure_is_a_DaprException()
        {
            var scoped = new Component { Name = Sidecar.Pubsub, Type = "pubsub.in-memory" };
            scoped.Metadata["publishingScopes"] = "orderprocessing=orders";
            using (var sidecar = Sidecar.Start("orderprocessing", Sidecar.ResourcesDir(scoped)))
            using (var client = new DaprClientBuilder().UseGrpcEndpoint(sidecar.GrpcEndpoint).Build())
            {
                await client.PublishEventAsync(Sidecar.Pubsub, "orders", 1);
                var e = Assert.Throws<TopicForbiddenException>(() => client.PublishEventAsync(Sidecar.Pubsub, "payroll", 1).GetAwaiter().GetResult());
                Assert.AreEqual("ERR_PUBSUB_FORBIDDEN", e.ErrorCode);
                Assert.AreEqual(StatusCode.PermissionDenied, e.StatusCode);
                StringAssert.Contains("payroll", e.Message);

                // Whatever the class, one catch clause takes every failed call.
                var failures = new Func<Task>[]
                {
                    () => client.PublishEventAsync(Sidecar.Pubsub, "payroll", 1),
                    () => client.PublishEventAsync("nope", "orders", 1),
                    () => client.PublishEventAsync(Sidecar.Pubsub, "", 1),
                };
                var caught = new List<Type>();
                foreach (var fail in failures)
                {
                    try { await fail(); }
                    catch (DaprException failed) { caught.Add(failed.GetType()); }
                }
                CollectionAssert.AreEqual(new[] { typeof(TopicForbiddenException), typeof(PubsubNotFoundException), typeof(InvalidArgumentException) }, caught);
            }
        }

        [Test]
        public async Task Entries_the_broker_refuses_come_back_as_failed_entries()
        {
            string db;
            var resources = Sidecar.Sqlite(out db);
            using (var sidecar = Sidecar.Start("orderprocessing", resources))
            {
                // A real broker that refuses some messages: a trigger rejects payloads containing "reject".
                var sql = "CREATE TRIGGER refuse BEFORE INSERT ON messages WHEN instr(CAST(NEW.data AS TEXT), 'reject') > 0 " +
                          "BEGIN SELECT RAISE(ABORT, 'refused by the broker'); END";
                var py = Process.Start(new ProcessStartInfo("python3", "-c \"import sqlite3, sys; c = sqlite3.connect(sys.argv[1], timeout=5); c.execute(sys.argv[2]); c.commit()\" \"" + db + "\" \"" + sql + "\"") { UseShellExecute = false });
                py.WaitForExit();
                Assert.AreEqual(0, py.ExitCode, "could not install the trigger");
                using (var client = new DaprClientBuilder().UseGrpcEndpoint(sidecar.GrpcEndpoint).Build())
                {
                    var response = await client.BulkPublishEventAsync(Sidecar.Pubsub, "orders", new List<string> { "keep 0", "reject 1", "keep 2", "reject 3" });
                    CollectionAssert.AreEquivalent(new[] { "1", "3" }, response.FailedEntries.Select(f => f.Entry.EntryId));
                    CollectionAssert.AreEquivalent(new[] { "reject 1", "reject 3" }, response.FailedEntries.Select(f => f.Entry.EventData));
                    foreach (var f in response.FailedEntries) StringAssert.Contains("refused by the broker", f.ErrorMessage);
                }
            }
        }
    }
}
