// The request encoder of the native calls (src/Native/ProtoWriter.cs, BridgeRequests.cs) against
// protobuf's wire format: the examples of protobuf's encoding guide, proto3 defaults left out, and
// requests whose bytes native/src/requests/tests.rs decodes too, so both sides agree on them.
using System;
using System.Collections.Generic;
using System.Linq;
using DaprRs.Native;
using NUnit.Framework;

namespace DaprRs.Tests
{
    [TestFixture]
    public class BridgeRequestTests
    {
        private static string Hex(byte[] bytes)
        {
            return string.Join(" ", bytes.Select(b => b.ToString("x2")));
        }

        private static string Encoded(Action<ProtoWriter> write)
        {
            return Hex(ProtoWriter.Encode(write));
        }

        [Test]
        public void Varints_and_strings_are_encoded_as_protobufs_guide_shows()
        {
            Assert.AreEqual("08 96 01", Encoded(w => w.Int32(1, 150)));
            Assert.AreEqual("12 07 74 65 73 74 69 6e 67", Encoded(w => w.String(2, "testing")));
            Assert.AreEqual("0a 02 c3 a9", Encoded(w => w.String(1, "é")), "strings are UTF-8");
            Assert.AreEqual("08 ff ff ff ff ff ff ff ff ff 01", Encoded(w => w.Int32(1, -1)), "a negative int32 takes ten bytes");
            Assert.AreEqual("18 80 80 80 80 80 01", Encoded(w => w.UInt64(3, 1UL << 35)));
        }

        [Test]
        public void Defaults_are_left_out_unless_presence_is_the_point()
        {
            Assert.AreEqual("", Encoded(w =>
            {
                w.Int32(1, 0);
                w.UInt64(2, 0);
                w.String(3, "");
                w.String(4, null);
                w.Bytes(5, new byte[0]);
                w.Map(6, null);
                w.PresentString(7, null);
            }));
            Assert.AreEqual("08 00", Encoded(w => w.PresentInt32(1, 0)));
            Assert.AreEqual("12 00", Encoded(w => w.PresentString(2, "")));
        }

        [Test]
        public void Maps_are_entry_messages_and_nested_lengths_are_measured()
        {
            Assert.AreEqual("32 06 0a 01 6b 12 01 76", Encoded(w => w.Map(6, new Dictionary<string, string> { { "k", "v" } })));
            Assert.AreEqual("32 03 0a 01 6b", Encoded(w => w.Map(6, new Dictionary<string, string> { { "k", null } })), "a null value is the empty string");
            // 200 bytes inside a message: both lengths take two bytes (c8 01 = 200, cb 01 = 203).
            var nested = ProtoWriter.Encode(w => w.Message(3, m => m.Bytes(2, Enumerable.Repeat((byte)7, 200).ToArray())));
            Assert.AreEqual("1a cb 01 12 c8 01 07", Hex(nested.Take(7).ToArray()));
            Assert.AreEqual(206, nested.Length);
            Assert.IsTrue(nested.Skip(6).All(b => b == 7));
        }

        private static byte[] Bytes(string hex)
        {
            return hex.Split(' ').Select(b => Convert.ToByte(b, 16)).ToArray();
        }

        // A DeliveredBatch as native/src/batch.rs encodes it (its test checks the same frame), with a
        // field this reader does not know, which it passes over.
        [Test]
        public void A_delivered_batch_is_read_field_by_field_and_unknown_fields_are_skipped()
        {
            var entry = "0a 01 65 12 02 7b 7d 1a 01 31 20 02";
            var reader = new ProtoReader(Bytes("08 02 12 01 70 1a 01 74 22 0c " + entry + " 7a 01 00 78 96 01"));
            var read = new List<string>();
            for (int field; (field = reader.NextField()) != 0;)
            {
                switch (field)
                {
                    case 1: read.Add("subscription " + reader.Int32()); break;
                    case 2: read.Add("pubsub " + reader.String()); break;
                    case 3: read.Add("topic " + reader.String()); break;
                    case 4:
                        var e = reader.Message();
                        for (int f; (f = e.NextField()) != 0;)
                        {
                            if (f == 3) read.Add("data " + Hex(e.Bytes()));
                            else if (f == 4) read.Add("kind " + e.Int32());
                            else read.Add(f + " " + e.String());
                        }
                        break;
                    default: reader.Skip(); read.Add("skipped " + field); break;
                }
            }
            CollectionAssert.AreEqual(new[] { "subscription 2", "pubsub p", "topic t", "1 e", "2 {}", "data 31", "kind 2", "skipped 15", "skipped 15" }, read);
            Assert.Throws<FormatException>(() => { var r = new ProtoReader(Bytes("12 05 70")); r.NextField(); r.String(); }, "a length past the end");
            Assert.Throws<FormatException>(() => { var r = new ProtoReader(Bytes("08 96")); r.NextField(); r.Int32(); }, "a varint past the end");
            Assert.Throws<FormatException>(() => { var r = new ProtoReader(Bytes("12 01 70")); r.NextField(); r.Int32(); }, "a wire type the field does not have");
        }

        // The same bytes are decoded by native/src/requests/tests.rs (`the_csharp_encoders_requests_decode`).
        [Test]
        public void Requests_have_the_bytes_the_native_side_decodes()
        {
            var publish = BridgeRequests.Publish("order_pub_sub", "orders", new byte[] { 1, 2 }, DataKind.Json, null, new Dictionary<string, string> { { "k", "v" } });
            Assert.AreEqual("0a 0d 6f 72 64 65 72 5f 70 75 62 5f 73 75 62 12 06 6f 72 64 65 72 73 1a 02 01 02 20 02 32 06 0a 01 6b 12 01 76", Hex(publish));
            var traced = BridgeRequests.Publish("p", "t", new byte[0], DataKind.Json, null, null, new TraceContext("00-ab", "k=v"));
            Assert.AreEqual("0a 01 70 12 01 74 20 02 3a 05 30 30 2d 61 62 42 03 6b 3d 76", Hex(traced));
            var entry = new EncodedBulkEntry { EntryId = "0", Data = new byte[] { 0x31 }, Kind = DataKind.Json };
            var bulk = BridgeRequests.BulkPublish("p", "t", new[] { entry }, null, new TraceContext("00-ab", "k=v"));
            Assert.AreEqual("0a 01 70 12 01 74 1a 08 0a 01 30 12 01 31 18 02 2a 05 30 30 2d 61 62 32 03 6b 3d 76", Hex(bulk));
            // A slice of an array, and a CloudEvent's kind.
            var slice = BridgeRequests.Publish("p", "t", new ArraySegment<byte>(new byte[] { 9, 1, 2, 9 }, 1, 2), DataKind.CloudEvent, null, null);
            Assert.AreEqual("0a 01 70 12 01 74 1a 02 01 02 20 03", Hex(slice));
            // [BulkSubscribe] is a message whose presence asks for batches, even with nothing in it.
            var bulkSubscribe = BridgeRequests.AppSubscribe(new TopicAttribute("p", "t"), null, new BulkSubscribeAttribute("t", 10, 500));
            Assert.AreEqual("0a 01 70 12 01 74 42 05 08 0a 10 f4 03", Hex(bulkSubscribe));
            Assert.AreEqual("0a 01 70 12 01 74 42 00", Hex(BridgeRequests.AppSubscribe(new TopicAttribute("p", "t"), null, new BulkSubscribeAttribute("t", 0, 0))));
            Assert.AreEqual("0a 01 70 12 01 74", Hex(BridgeRequests.AppSubscribe(new TopicAttribute("p", "t"), null)));
            // A batch handler's subscription, and its answer: "a" DROP, "c" SUCCESS (0: no status field).
            Assert.AreEqual("0a 01 70 12 01 74 42 00 48 01", Hex(BridgeRequests.AppSubscribe(new TopicAttribute("p", "t"), null, new BulkSubscribeAttribute("t", 0, 0), true)));
            var answer = new List<BulkSubscribeAppResponseEntry>
            {
                new BulkSubscribeAppResponseEntry("a", BulkSubscribeAppResponseStatus.DROP),
                null,
                new BulkSubscribeAppResponseEntry("c", BulkSubscribeAppResponseStatus.SUCCESS),
            };
            Assert.AreEqual("0a 0c 0a 05 0a 01 61 10 02 0a 03 0a 01 63", Hex(BridgeRequests.BatchAnswer(answer)));
            Assert.AreEqual("0a 00", Hex(BridgeRequests.BatchAnswer(new BulkSubscribeAppResponseEntry[0])), "no statuses is still an answer");
            Assert.AreEqual("08 00", Hex(BridgeRequests.Status(TopicResponseAction.Success)));
            Assert.AreEqual("08 02", Hex(BridgeRequests.Status(TopicResponseAction.Drop)));
            Assert.AreEqual("12 04 62 6f 6f 6d", Hex(BridgeRequests.Failure("boom")));
            // A lone surrogate in an exception's message still lets the failure be reported (as U+FFFD).
            Assert.AreEqual("12 04 78 ef bf bd", Hex(BridgeRequests.Failure("x\ud800")));
            // An empty endpoint is still "given" (then ignored); an empty token means "send none".
            Assert.AreEqual("0a 00 18 88 27", Hex(BridgeRequests.ClientOptions("", null, TimeSpan.FromSeconds(5))));
            Assert.AreEqual("12 00", Hex(BridgeRequests.ClientOptions(null, "", TimeSpan.Zero)));
        }
    }
}
