using System.Collections.Generic;
using System.Threading;
using System.Threading.Tasks;
using DaprRs.Native;

namespace DaprRs
{
    /// <summary>
    /// A W3C trace context: what a publish continues (sent to the sidecar as <c>traceparent</c> /
    /// <c>tracestate</c>), and what a delivered event carries (its CloudEvent's, see
    /// <see cref="Of(CloudEvent)"/>). When the sidecar traces, the event carries its publish span.
    /// </summary>
    public sealed class TraceContext
    {
        public TraceContext(string traceParent, string traceState = null)
        {
            TraceParent = traceParent;
            TraceState = traceState;
        }

        /// <summary><c>00-&lt;trace id&gt;-&lt;span id&gt;-&lt;flags&gt;</c>.</summary>
        public string TraceParent { get; private set; }
        public string TraceState { get; private set; }

        /// <summary>The event's <c>traceparent</c> and <c>tracestate</c>; null when it has none.</summary>
        public static TraceContext Of(CloudEvent cloudEvent)
        {
            return Of(cloudEvent == null ? null : cloudEvent.Extensions);
        }

        /// <summary>A streamed message's <c>traceparent</c> and <c>tracestate</c>; null when it has none.</summary>
        public static TraceContext Of(TopicMessage message)
        {
            return Of(message == null ? null : message.Extensions);
        }

        private static TraceContext Of(Dictionary<string, object> extensions)
        {
            object parent, state;
            if (extensions == null || !extensions.TryGetValue("traceparent", out parent) || !(parent is string) || (string)parent == "") return null;
            extensions.TryGetValue("tracestate", out state);
            return new TraceContext((string)parent, state as string);
        }

        public override string ToString()
        {
            return string.IsNullOrEmpty(TraceState) ? TraceParent : TraceParent + " (" + TraceState + ")";
        }
    }

    public sealed partial class DaprClient
    {
        /// <summary>Publishes <paramref name="data"/> as JSON continuing <paramref name="trace"/>: the sidecar's
        /// publish span becomes its child (or, when the sidecar does not trace, the event carries it).</summary>
        public Task PublishEventAsync<TData>(string pubsubName, string topicName, TData data, Dictionary<string, string> metadata, TraceContext trace, CancellationToken cancellationToken = default(CancellationToken))
        {
            var json = DaprJson.SerializeToUtf8Bytes(data);
            return Publish(pubsubName, topicName, new System.ArraySegment<byte>(json), JsonKind(data), null, metadata, cancellationToken, trace);
        }

        /// <summary>Publishes <paramref name="events"/> in one call, each as JSON, every one continuing
        /// <paramref name="trace"/> as a single publish does.</summary>
        public Task<BulkPublishResponse<TValue>> BulkPublishEventAsync<TValue>(string pubsubName, string topicName, IReadOnlyList<TValue> events, Dictionary<string, string> metadata, TraceContext trace, CancellationToken cancellationToken = default(CancellationToken))
        {
            return BulkPublishEvents(pubsubName, topicName, events, metadata, trace, cancellationToken);
        }
    }
}
