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
    }

    /// <summary>A delivered CloudEvent with its data deserialized to <typeparamref name="TData"/>.</summary>
    public class CloudEvent<TData> : CloudEvent
    {
        public TData Data { get; set; }
    }
}
