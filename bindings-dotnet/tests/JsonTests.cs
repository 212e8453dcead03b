// DaprJson: the JSON Dapr.Client writes and reads (System.Text.Json's web defaults), without a sidecar.
using System;
using System.Collections.Generic;
using NUnit.Framework;

namespace DaprRs.Tests
{
    public enum Size { Small, Large }

    public class Shipment
    {
        public string ID { get; set; }
        public string URLPath { get; set; }
        public Size Size { get; set; }
        public double? Weight { get; set; }
        public Dictionary<string, int> Counts { get; set; }
        public Order[] Orders { get; set; }
        public byte[] Blob { get; set; }
        public DateTime When { get; set; }
    }

    public struct Point
    {
        public int X { get; set; }
        public int Y { get; set; }
    }

    /// <summary>A property whose getter serializes another object: the writer is entered again.</summary>
    public class Labelled
    {
        public Point At { get; set; }
        public string AtJson { get { return DaprJson.Serialize(At); } }
    }

    public class Faulty
    {
        public int Fine { get { return 1; } }
        public int Broken { get { throw new InvalidOperationException("no value here"); } }
    }

    [TestFixture]
    public class JsonTests
    {
        private class Private
        {
            public int Visible { get; set; }
            internal int Internal { get; set; }
        }

        [Test]
        public void Each_value_of_a_type_is_written_with_its_own_member_values()
        {
            // The members of a type are read once, then reused: the values must still be each object's.
            Assert.AreEqual("{\"x\":1,\"y\":2}", DaprJson.Serialize(new Point { X = 1, Y = 2 }));
            Assert.AreEqual("{\"x\":3,\"y\":-4}", DaprJson.Serialize(new Point { X = 3, Y = -4 }));
            Assert.AreEqual("{\"at\":{\"x\":5,\"y\":6},\"atJson\":\"{\\\"x\\\":5,\\\"y\\\":6}\"}",
                DaprJson.Serialize(new Labelled { At = new Point { X = 5, Y = 6 } }));
            // Types of the app's own assembly that DaprRs cannot name: anonymous and private ones.
            Assert.AreEqual("{\"orderId\":9,\"note\":\"n\"}", DaprJson.Serialize(new { OrderId = 9, Note = "n" }));
            Assert.AreEqual("{\"visible\":1}", DaprJson.Serialize(new Private { Visible = 1, Internal = 2 }));
            var ex = Assert.Throws<InvalidOperationException>(() => DaprJson.Serialize(new Faulty()));
            Assert.AreEqual("no value here", ex.Message);
            Assert.AreEqual("{\"x\":7,\"y\":8}", DaprJson.Serialize(new Point { X = 7, Y = 8 }), "a failed write leaves nothing behind");
        }

        [Test]
        public void Threads_write_at_once_without_mixing_their_output()
        {
            var errors = new System.Collections.Concurrent.ConcurrentQueue<string>();
            var threads = new List<System.Threading.Thread>();
            for (int t = 0; t < 4; t++)
            {
                int id = t;
                var thread = new System.Threading.Thread(() =>
                {
                    for (int i = 0; i < 2000; i++)
                    {
                        var want = "{\"x\":" + id + ",\"y\":" + i + "}";
                        var got = DaprJson.Serialize(new Point { X = id, Y = i });
                        if (got != want) errors.Enqueue(got + " for " + want);
                    }
                });
                threads.Add(thread);
                thread.Start();
            }
            foreach (var thread in threads) Assert.IsTrue(thread.Join(30000), "a writing thread hung");
            CollectionAssert.IsEmpty(errors);
        }

        [Test]
        public void Names_are_camelCased_as_System_Text_Json_does()
        {
            Assert.AreEqual("orderId", DaprJson.CamelCase("OrderId"));
            Assert.AreEqual("id", DaprJson.CamelCase("ID"));
            Assert.AreEqual("urlPath", DaprJson.CamelCase("URLPath"));
            Assert.AreEqual("ioStream", DaprJson.CamelCase("IOStream"));
            Assert.AreEqual("already", DaprJson.CamelCase("already"));
        }

        [Test]
        public void Objects_round_trip_with_camelCase_names()
        {
            var s = new Shipment
            {
                ID = "s-1", URLPath = "/a\"b\\c\n\u0001é", Size = Size.Large, Weight = null,
                Counts = new Dictionary<string, int> { { "Apples", 2 } },
                Orders = new[] { new Order { OrderId = 3, Total = 1.25m } },
                Blob = new byte[] { 0, 255 },
                When = new DateTime(2026, 11, 29, 12, 0, 0, DateTimeKind.Utc),
            };
            var json = DaprJson.Serialize(s);
            StringAssert.StartsWith("{\"id\":\"s-1\",\"urlPath\":\"/a\\\"b\\\\c\\n\\u0001é\",\"size\":1,\"weight\":null,\"counts\":{\"Apples\":2},", json);
            StringAssert.Contains("\"blob\":\"AP8=\"", json);
            StringAssert.Contains("\"when\":\"2026-11-29T12:00:00.0000000Z\"", json);
            var back = DaprJson.Deserialize<Shipment>(json);
            Assert.AreEqual(s.URLPath, back.URLPath);
            Assert.AreEqual(Size.Large, back.Size);
            Assert.IsNull(back.Weight);
            Assert.AreEqual(2, back.Counts["Apples"]);
            Assert.AreEqual(1.25m, back.Orders[0].Total);
            CollectionAssert.AreEqual(s.Blob, back.Blob);
            Assert.AreEqual(s.When, back.When);
        }

        [Test]
        public void Reading_ignores_case_and_unknown_members()
        {
            var order = DaprJson.Deserialize<Order>("{\"ORDERID\": 5, \"customername\": \"x\", \"extra\": [1, {\"a\": null}]}");
            Assert.AreEqual(5, order.OrderId);
            Assert.AreEqual("x", order.CustomerName);
            Assert.AreEqual(42, DaprJson.Deserialize<int>(" 42 "));
            Assert.AreEqual("\u00e9\ud83d\ude00", DaprJson.Deserialize<string>("\"\\u00e9\\ud83d\\ude00\""));
        }

        [Test]
        public void A_CloudEvent_is_written_with_the_specs_attribute_names()
        {
            var ce = new CloudEvent<Order>(new Order { OrderId = 1 })
            {
                Id = "e1", Source = "urn:s", Type = "t", Subject = "sub",
                Topic = "delivered-to", PubsubName = "ps",
                Extensions = new Dictionary<string, object> { { "tenant", "acme" }, { "id", "not-the-id" } },
            };
            Assert.AreEqual(
                "{\"specversion\":\"1.0\",\"id\":\"e1\",\"source\":\"urn:s\",\"type\":\"t\",\"subject\":\"sub\"," +
                "\"datacontenttype\":\"application/json\",\"data\":{\"orderId\":1,\"customerName\":null,\"items\":null,\"total\":0},\"tenant\":\"acme\"}",
                DaprJson.Serialize(ce), "spec names; topic, pubsubname and metadata are the sidecar's; an extension never overrides an attribute");
            Assert.AreEqual(
                "{\"specversion\":\"1.1\",\"datacontenttype\":\"application/octet-stream\",\"data_base64\":\"AAH/\"}",
                DaprJson.Serialize(new CloudEvent<byte[]>(new byte[] { 0, 1, 255 }) { SpecVersion = "1.1" }));
            Assert.AreEqual("{\"specversion\":\"1.0\",\"type\":\"t\"}", DaprJson.Serialize(new CloudEvent { Type = "t" }), "no data, no datacontenttype");
            Assert.AreEqual("{\"specversion\":\"1.0\",\"datacontenttype\":\"text/plain\",\"data\":\"hi\"}",
                DaprJson.Serialize(new CloudEvent<string>("hi") { DataContentType = "text/plain" }));
        }

        [Test]
        public void Bad_JSON_and_wrong_types_are_errors_naming_what_is_wrong()
        {
            var e = Assert.Throws<FormatException>(() => DaprJson.Deserialize<Order>("{\"orderId\": 1,"));
            StringAssert.Contains("offset", e.Message);
            Assert.Throws<FormatException>(() => DaprJson.Deserialize<int>("\"seven\""));
            Assert.Throws<OverflowException>(() => DaprJson.Deserialize<byte>("300"));
            Assert.Throws<FormatException>(() => DaprJson.Deserialize<int>("1 2"));
            Assert.Throws<ArgumentException>(() => DaprJson.Serialize(double.NaN));
        }
    }
}
