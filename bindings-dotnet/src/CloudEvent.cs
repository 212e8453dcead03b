using System.Collections.Generic;

namespace DaprRs
{
    /// <summary>
    /// A CloudEvent: the attributes of a delivered event, as a [Topic] method or stream handler sees
    /// them; or an event of the app's own to publish, which goes out as
    /// <c>application/cloudevents+json</c> under CloudEvents' attribute names (<c>specversion</c>,
    /// <c>id</c>, <c>source</c>, <c>type</c>, <c>subject</c>, <c>datacontenttype</c>, <c>data</c>, each
    /// extension as an attribute of its own), so the sidecar completes it instead of wrapping it in
    /// another. Unset attributes are the sidecar's to fill (a new id, <c>source</c> = the app id…).
    /// </summary>
    public class CloudEvent
    {
        public string Id { get; set; }
        public string Source { get; set; }
        public string Type { get; set; }
        /// <summary>Published as given; <c>1.0</c> when not set.</summary>
        public string SpecVersion { get; set; }
        /// <summary>The data's content type; when publishing without one, <c>application/json</c>
        /// (<c>application/octet-stream</c> for <c>byte[]</c> data, sent as <c>data_base64</c>).</summary>
        public string DataContentType { get; set; }
        /// <summary>What the event is about within its source (the <c>subject</c> attribute).</summary>
        public string Subject { get; set; }
        /// <summary>Set by the sidecar on delivery; not published.</summary>
        public string Topic { get; set; }
        /// <summary>Set by the sidecar on delivery; not published.</summary>
        public string PubsubName { get; set; }
        /// <summary>Every other attribute (<c>traceparent</c>, <c>time</c>, custom extensions…); published
        /// as attributes of their own.</summary>
        public Dictionary<string, object> Extensions { get; set; }
        /// <summary>The broker message's metadata as the sidecar delivered it: <c>pubsubname</c>, Kafka's
        /// <c>__key</c>, <c>__partition</c> and headers, a publish's metadata (keys lowercased when they
        /// came as headers). Empty for streaming subscriptions; not published.</summary>
        public IReadOnlyDictionary<string, string> Metadata { get; set; } = new Dictionary<string, string>();

        /// <summary>The data to publish (none for a CloudEvent without data).</summary>
        internal virtual object PublishedData { get { return null; } }
    }

    /// <summary>A CloudEvent with its data: deserialized to <typeparamref name="TData"/> on delivery,
    /// serialized as its <c>data</c> when published.</summary>
    public class CloudEvent<TData> : CloudEvent
    {
        public CloudEvent() { }

        /// <summary>An event of <paramref name="data"/>, as Dapr.Client's <c>CloudEvent&lt;TData&gt;</c> is made.</summary>
        public CloudEvent(TData data)
        {
            Data = data;
        }

        public TData Data { get; set; }

        internal override object PublishedData { get { return Data; } }
    }
}
