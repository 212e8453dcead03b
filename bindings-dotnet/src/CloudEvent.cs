using System.Collections.Generic;

namespace DaprRs
{
    /// <summary>The attributes of a delivered CloudEvent, as a [Topic] method or stream handler sees them.</summary>
    public class CloudEvent
    {
        public string Id { get; set; }
        public string Source { get; set; }
        public string Type { get; set; }
        public string SpecVersion { get; set; }
        public string DataContentType { get; set; }
        public string Topic { get; set; }
        public string PubsubName { get; set; }
        /// <summary>Every other attribute (<c>traceparent</c>, <c>time</c>, custom extensions…).</summary>
        public Dictionary<string, object> Extensions { get; set; }
        /// <summary>The broker message's metadata as the sidecar delivered it: <c>pubsubname</c>, Kafka's
        /// <c>__key</c>, <c>__partition</c> and headers, a publish's metadata (keys lowercased when they
        /// came as headers). Empty for streaming subscriptions.</summary>
        public IReadOnlyDictionary<string, string> Metadata { get; set; } = new Dictionary<string, string>();
    }

    /// <summary>A delivered CloudEvent with its data deserialized to <typeparamref name="TData"/>.</summary>
    public class CloudEvent<TData> : CloudEvent
    {
        public TData Data { get; set; }
    }
}
