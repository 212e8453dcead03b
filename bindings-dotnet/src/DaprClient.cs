using System;
using System.Collections.Generic;
using System.ComponentModel;
using System.Threading;
using System.Threading.Tasks;
using DaprRs.Native;

namespace DaprRs
{
    /// <summary>
    /// A Dapr client (the shape of Dapr.Client's <c>DaprClient</c>) over dapr-rs core: every call is
    /// async, many may be in flight at once on one HTTP/2 connection, and each honours its
    /// CancellationToken. Dispose it when done; clients for the same endpoint share a connection.
    /// </summary>
    public sealed partial class DaprClient : IDisposable
    {
        private readonly ClientHandle handle;

        internal DaprClient(ClientHandle handle)
        {
            this.handle = handle;
        }

        /// <summary>
        /// The floor under every call of this library, for its benchmark (bench/dotnet): a call with
        /// nothing to do but <paramref name="busyMicroseconds"/> of CPU on the native runtime, handed
        /// to it and completed back as each call is. Not for applications.
        /// </summary>
        [EditorBrowsable(EditorBrowsableState.Never)]
        public static unsafe Task NativeRoundTripAsync(int busyMicroseconds = 0)
        {
            return NativeCall.Run(userData => (IntPtr)NativeMethods.dapr_rs_round_trip((void*)userData, (uint)busyMicroseconds), CancellationToken.None);
        }

        /// <summary>The sidecar endpoint this client talks to, e.g. <c>http://127.0.0.1:50001</c>.</summary>
        public unsafe string GrpcEndpoint
        {
            get
            {
                using (var client = handle.Borrow())
                {
                    return NativeCall.TakeString((IntPtr)NativeMethods.dapr_rs_client_endpoint(client.Pointer));
                }
            }
        }

        /// <summary>
        /// Publishes <paramref name="data"/> as JSON (camelCase names), as Dapr.Client does; a
        /// <see cref="CloudEvent"/> as itself (<c>application/cloudevents+json</c>, CloudEvents'
        /// attribute names), which the sidecar completes instead of wrapping it in another.
        /// </summary>
        public Task PublishEventAsync<TData>(string pubsubName, string topicName, TData data, CancellationToken cancellationToken = default(CancellationToken))
        {
            return PublishEventAsync(pubsubName, topicName, data, null, cancellationToken);
        }

        /// <summary>Publishes <paramref name="data"/> as JSON (or a <see cref="CloudEvent"/> as itself) with publish metadata (<c>rawPayload</c>, <c>ttlInSeconds</c>…).</summary>
        public Task PublishEventAsync<TData>(string pubsubName, string topicName, TData data, Dictionary<string, string> metadata, CancellationToken cancellationToken = default(CancellationToken))
        {
            var json = DaprJson.SerializeToUtf8Bytes(data);
            return Publish(pubsubName, topicName, new ArraySegment<byte>(json), JsonKind(data), null, metadata, cancellationToken);
        }

        /// <summary>Publishes an event with no data.</summary>
        public Task PublishEventAsync(string pubsubName, string topicName, CancellationToken cancellationToken = default(CancellationToken))
        {
            return Publish(pubsubName, topicName, new ArraySegment<byte>(new byte[0]), DataKind.Bytes, null, null, cancellationToken);
        }

        /// <summary>Publishes an event with no data, with publish metadata.</summary>
        public Task PublishEventAsync(string pubsubName, string topicName, Dictionary<string, string> metadata, CancellationToken cancellationToken = default(CancellationToken))
        {
            return Publish(pubsubName, topicName, new ArraySegment<byte>(new byte[0]), DataKind.Bytes, null, metadata, cancellationToken);
        }

        /// <summary>Publishes raw bytes with the given content type (Dapr.Client's default: application/json).</summary>
        public Task PublishByteEventAsync(string pubsubName, string topicName, byte[] data, string dataContentType = "application/json", Dictionary<string, string> metadata = null, CancellationToken cancellationToken = default(CancellationToken))
        {
            if (data == null) throw new ArgumentNullException("data");
            return Publish(pubsubName, topicName, new ArraySegment<byte>(data), DataKind.Bytes, dataContentType, metadata, cancellationToken);
        }

        /// <summary>
        /// Publishes a slice of an array with the given content type: what Dapr.Client's
        /// <c>ReadOnlyMemory&lt;byte&gt;</c> overload does (.NET Framework 4.6.2, whose API this assembly
        /// targets, has no such type; on .NET, <c>MemoryMarshal.TryGetArray</c> gives a memory's
        /// segment). The slice is copied straight into the native call's request, with no array of its
        /// own, and the caller's array is free again once the call returns (before the task completes).
        /// </summary>
        public Task PublishByteEventAsync(string pubsubName, string topicName, ArraySegment<byte> data, string dataContentType = "application/json", Dictionary<string, string> metadata = null, CancellationToken cancellationToken = default(CancellationToken))
        {
            if (data.Array == null) throw new ArgumentNullException("data");
            return Publish(pubsubName, topicName, data, DataKind.Bytes, dataContentType, metadata, cancellationToken);
        }

        /// <summary>How a value serialized by DaprJson is read: a CloudEvent is one by its type.</summary>
        private static DataKind JsonKind(object value)
        {
            return value is CloudEvent ? DataKind.CloudEvent : DataKind.Json;
        }

        private unsafe Task Publish(string pubsubName, string topicName, ArraySegment<byte> data, DataKind kind, string contentType, IReadOnlyDictionary<string, string> metadata, CancellationToken cancellationToken, TraceContext trace = null)
        {
            var request = BridgeRequests.Publish(pubsubName, topicName, data, kind, contentType, metadata, trace);
            return NativeCall.Run(userData =>
            {
                using (var client = handle.Borrow())
                fixed (byte* r = request)
                {
                    return (IntPtr)NativeMethods.dapr_rs_client_publish(client.Pointer, r, request.Length, (void*)userData);
                }
            }, cancellationToken);
        }

        /// <summary>
        /// Publishes many events in one call, each as JSON (a <see cref="CloudEvent"/> as itself); the
        /// response lists the entries the sidecar could not publish (an empty list: all were).
        /// </summary>
        public Task<BulkPublishResponse<TValue>> BulkPublishEventAsync<TValue>(string pubsubName, string topicName, IReadOnlyList<TValue> events, Dictionary<string, string> metadata = null, CancellationToken cancellationToken = default(CancellationToken))
        {
            return BulkPublishEvents(pubsubName, topicName, events, metadata, null, cancellationToken);
        }

        private async Task<BulkPublishResponse<TValue>> BulkPublishEvents<TValue>(string pubsubName, string topicName, IReadOnlyList<TValue> events, Dictionary<string, string> metadata, TraceContext trace, CancellationToken cancellationToken)
        {
            if (events == null) throw new ArgumentNullException("events");
            var entries = new List<BulkPublishEntry<TValue>>(events.Count);
            for (int i = 0; i < events.Count; i++)
            {
                var contentType = events[i] is CloudEvent ? "application/cloudevents+json" : "application/json";
                entries.Add(new BulkPublishEntry<TValue>(i.ToString(System.Globalization.CultureInfo.InvariantCulture), events[i], contentType, null));
            }
            var failedJson = NativeCall.TakeString(await BulkPublish(pubsubName, topicName, entries, metadata, trace, cancellationToken).ConfigureAwait(false));
            var byId = new Dictionary<string, BulkPublishEntry<TValue>>();
            foreach (var entry in entries) byId[entry.EntryId] = entry;
            var failed = new List<BulkPublishResponseFailedEntry<TValue>>();
            foreach (var f in DaprJson.Deserialize<List<NativeBulkFailure>>(failedJson))
            {
                BulkPublishEntry<TValue> entry;
                byId.TryGetValue(f.EntryId, out entry);
                failed.Add(new BulkPublishResponseFailedEntry<TValue>(entry, f.Error));
            }
            return new BulkPublishResponse<TValue>(failed);
        }

        private unsafe Task<IntPtr> BulkPublish<TValue>(string pubsubName, string topicName, List<BulkPublishEntry<TValue>> entries, IReadOnlyDictionary<string, string> metadata, TraceContext trace, CancellationToken cancellationToken)
        {
            var encoded = new EncodedBulkEntry[entries.Count];
            for (int i = 0; i < entries.Count; i++)
            {
                var entry = entries[i];
                encoded[i] = new EncodedBulkEntry
                {
                    EntryId = entry.EntryId,
                    Data = DaprJson.SerializeToUtf8Bytes(entry.EventData),
                    Kind = JsonKind(entry.EventData),
                    ContentType = entry.ContentType,
                    Metadata = entry.Metadata,
                };
            }
            var request = BridgeRequests.BulkPublish(pubsubName, topicName, encoded, metadata, trace);
            return NativeCall.Run(userData =>
            {
                using (var client = handle.Borrow())
                fixed (byte* r = request)
                {
                    return (IntPtr)NativeMethods.dapr_rs_client_bulk_publish(client.Pointer, r, request.Length, (void*)userData);
                }
            }, cancellationToken);
        }

        /// <summary>Completes once the sidecar answers; waits until cancelled otherwise.</summary>
        public Task WaitForSidecarAsync(CancellationToken cancellationToken = default(CancellationToken))
        {
            return WaitForSidecarAsync(TimeSpan.FromMilliseconds(int.MaxValue), cancellationToken);
        }

        /// <summary>Completes once the sidecar answers; a <see cref="DaprTimeoutException"/> after <paramref name="timeout"/>.</summary>
        public unsafe Task WaitForSidecarAsync(TimeSpan timeout, CancellationToken cancellationToken = default(CancellationToken))
        {
            return NativeCall.Run(userData =>
            {
                using (var client = handle.Borrow())
                {
                    return (IntPtr)NativeMethods.dapr_rs_client_wait_for_sidecar(client.Pointer, (long)timeout.TotalMilliseconds, (void*)userData);
                }
            }, cancellationToken);
        }

        /// <summary>The sidecar's metadata: its app id, components and subscriptions (with their metadata).</summary>
        public async Task<DaprMetadata> GetMetadataAsync(CancellationToken cancellationToken = default(CancellationToken))
        {
            return DaprMetadata.FromJson(NativeCall.TakeString(await Metadata(cancellationToken).ConfigureAwait(false)));
        }

        private unsafe Task<IntPtr> Metadata(CancellationToken cancellationToken)
        {
            return NativeCall.Run(userData =>
            {
                using (var client = handle.Borrow())
                {
                    return (IntPtr)NativeMethods.dapr_rs_client_metadata(client.Pointer, (void*)userData);
                }
            }, cancellationToken);
        }

        /// <summary>
        /// Subscribes to a topic over a streaming connection to the sidecar (no app port needed);
        /// <paramref name="handler"/> gets each message and answers it. The subscription survives a
        /// sidecar restart; dispose it to end it.
        /// </summary>
        public async Task<TopicSubscription> SubscribeAsync(string pubsubName, string topicName, TopicMessageHandler handler, DaprSubscriptionOptions options = null, CancellationToken cancellationToken = default(CancellationToken))
        {
            if (handler == null) throw new ArgumentNullException("handler");
            options = options ?? new DaprSubscriptionOptions();
            var stream = await OpenStream(pubsubName, topicName, options, cancellationToken).ConfigureAwait(false);
            return new TopicSubscription(new StreamHandle(stream), handler);
        }

        private unsafe Task<IntPtr> OpenStream(string pubsubName, string topicName, DaprSubscriptionOptions options, CancellationToken cancellationToken)
        {
            var request = BridgeRequests.StreamSubscribe(pubsubName, topicName, options.DeadLetterTopic, options.EffectiveMetadata());
            return NativeCall.Run(userData =>
            {
                using (var client = handle.Borrow())
                fixed (byte* r = request)
                {
                    return (IntPtr)NativeMethods.dapr_rs_client_subscribe(client.Pointer, r, request.Length, (void*)userData);
                }
            }, cancellationToken);
        }

        public void Dispose()
        {
            handle.Dispose();
        }

        /// <summary>A failed bulk entry as the native side reports it.</summary>
        internal sealed class NativeBulkFailure
        {
            public string EntryId { get; set; }
            public string Error { get; set; }
        }
    }
}
