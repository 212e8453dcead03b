// The bridge's requests (native/proto/dapr_rs_bridge.proto, package dapr_rs.bridge.v1), encoded
// for the native calls that take them. The field numbers are the .proto's, which is the contract;
// the Rust side decodes with the code prost generates from it.
using System;
using System.Collections.Generic;
using System.Text;

namespace DaprRs.Native
{
    /// <summary>dapr_rs.bridge.v1.DataKind: how a published payload is read (core picks its default
    /// content type from it), and how the native side decoded a delivered one (<c>DaprEventView</c>).</summary>
    internal enum DataKind
    {
        Bytes = 0,
        Text = 1,
        Json = 2,
        /// <summary>JSON text of the app's own CloudEvent: published as one, never wrapped again.</summary>
        CloudEvent = 3,
    }

    /// <summary>A bulk entry whose data is already serialized.</summary>
    internal struct EncodedBulkEntry
    {
        internal string EntryId;
        internal byte[] Data;
        internal DataKind Kind;
        internal string ContentType;
        internal IEnumerable<KeyValuePair<string, string>> Metadata;
    }

    internal static class BridgeRequests
    {
        /// <summary>ClientOptions: null endpoint or token leaves it to the environment; an empty token sends none.</summary>
        internal static byte[] ClientOptions(string endpoint, string apiToken, TimeSpan timeout)
        {
            return ProtoWriter.Encode(w =>
            {
                w.PresentString(1, endpoint);
                w.PresentString(2, apiToken);
                w.UInt64(3, (ulong)timeout.TotalMilliseconds);
            });
        }

        internal static byte[] Publish(string pubsubName, string topic, byte[] data, DataKind kind, string contentType, IEnumerable<KeyValuePair<string, string>> metadata, TraceContext trace = null)
        {
            return Publish(pubsubName, topic, new ArraySegment<byte>(data), kind, contentType, metadata, trace);
        }

        internal static byte[] Publish(string pubsubName, string topic, ArraySegment<byte> data, DataKind kind, string contentType, IEnumerable<KeyValuePair<string, string>> metadata, TraceContext trace = null)
        {
            return ProtoWriter.Encode(w =>
            {
                w.String(1, pubsubName);
                w.String(2, topic);
                w.Bytes(3, data);
                w.Int32(4, (int)kind);
                w.String(5, contentType);
                w.Map(6, metadata);
                if (trace != null)
                {
                    w.String(7, trace.TraceParent);
                    w.String(8, trace.TraceState);
                }
            });
        }

        internal static byte[] BulkPublish(string pubsubName, string topic, IList<EncodedBulkEntry> entries, IEnumerable<KeyValuePair<string, string>> metadata, TraceContext trace = null)
        {
            return ProtoWriter.Encode(w =>
            {
                w.String(1, pubsubName);
                w.String(2, topic);
                foreach (var entry in entries)
                {
                    w.Message(3, e =>
                    {
                        e.String(1, entry.EntryId);
                        e.Bytes(2, entry.Data);
                        e.Int32(3, (int)entry.Kind);
                        e.String(4, entry.ContentType);
                        e.Map(5, entry.Metadata);
                    });
                }
                w.Map(4, metadata);
                if (trace != null)
                {
                    w.String(5, trace.TraceParent);
                    w.String(6, trace.TraceState);
                }
            });
        }

        internal static byte[] StreamSubscribe(string pubsubName, string topic, string deadLetterTopic, IEnumerable<KeyValuePair<string, string>> metadata)
        {
            return ProtoWriter.Encode(w =>
            {
                w.String(1, pubsubName);
                w.String(2, topic);
                w.String(3, deadLetterTopic);
                w.Map(4, metadata);
            });
        }

        /// <summary>
        /// AppSubscribeRequest; a null <paramref name="bulkSubscribe"/> is one event per call;
        /// <paramref name="batchHandler"/>: its handler takes whole batches (dapr_rs_app_next_batch).
        /// </summary>
        internal static byte[] AppSubscribe(TopicAttribute topic, IEnumerable<KeyValuePair<string, string>> metadata, BulkSubscribeAttribute bulkSubscribe = null, bool batchHandler = false)
        {
            return ProtoWriter.Encode(w =>
            {
                w.String(1, topic.PubsubName);
                w.String(2, topic.Name);
                w.String(3, topic.Route);
                w.String(4, topic.Match);
                w.Int32(5, topic.Priority);
                w.String(6, topic.DeadLetterTopic);
                w.Map(7, metadata);
                if (bulkSubscribe != null)
                {
                    // Written even when empty: its presence is what asks for batches.
                    w.Message(8, b =>
                    {
                        b.Int32(1, bulkSubscribe.MaxMessagesCount);
                        b.Int32(2, bulkSubscribe.MaxAwaitDurationMs);
                    });
                }
                w.Int32(9, batchHandler ? 1 : 0);
            });
        }

        internal static byte[] AppStart(string protocol, string host, int port)
        {
            return ProtoWriter.Encode(w =>
            {
                w.String(1, protocol);
                w.String(2, host);
                w.Int32(3, port);
            });
        }

        /// <summary>EventAnswer: what the handler returned.</summary>
        internal static byte[] Status(TopicResponseAction action)
        {
            return ProtoWriter.Encode(w => w.PresentInt32(1, (int)action));
        }

        /// <summary>EventAnswer: the handler failed, and why (core answers it RETRY and logs this).</summary>
        internal static byte[] Failure(string why)
        {
            // Lossy on purpose: a message with a lone surrogate must not keep the event from its answer.
            var text = Encoding.UTF8.GetString(Encoding.UTF8.GetBytes(why ?? string.Empty));
            return ProtoWriter.Encode(w => w.PresentString(2, text));
        }

        /// <summary>BatchAnswer: a batch handler's statuses by entry id (core makes an entry left out RETRY).</summary>
        internal static byte[] BatchAnswer(IEnumerable<BulkSubscribeAppResponseEntry> statuses)
        {
            // Written even when empty: its presence says the handler answered.
            return ProtoWriter.Encode(w => w.Message(1, list =>
            {
                foreach (var entry in statuses)
                {
                    // A null entry answers nothing: its entry is left out.
                    if (entry == null) continue;
                    list.Message(1, e =>
                    {
                        e.String(1, entry.EntryId);
                        e.Int32(2, (int)entry.Status);
                    });
                }
            }));
        }

        /// <summary>BatchAnswer: the batch handler failed, and why (core answers every entry RETRY); the same bytes as <see cref="Failure"/>.</summary>
        internal static byte[] BatchFailure(string why)
        {
            return Failure(why);
        }
    }
}
