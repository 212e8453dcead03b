using System;

namespace DaprRs
{
    /// <summary>
    /// Subscribes the method to a topic, as Dapr.AspNetCore's <c>[Topic]</c> does; a
    /// <see cref="DaprApp"/> serves it. The method takes the event data (deserialized to the
    /// parameter's type, or a <see cref="CloudEvent{T}"/>) or nothing, and returns void, Task,
    /// <see cref="TopicResponseAction"/> or Task&lt;TopicResponseAction&gt;; an exception means Retry.
    /// </summary>
    [AttributeUsage(AttributeTargets.Method, AllowMultiple = true)]
    public sealed class TopicAttribute : Attribute
    {
        public TopicAttribute(string pubsubName, string name)
        {
            PubsubName = pubsubName;
            Name = name;
        }

        public TopicAttribute(string pubsubName, string name, bool enableRawPayload)
            : this(pubsubName, name)
        {
            EnableRawPayload = enableRawPayload;
        }

        /// <summary>Only events for which the CEL expression <paramref name="match"/> holds; rules are tried by ascending priority.</summary>
        public TopicAttribute(string pubsubName, string name, string match, int priority)
            : this(pubsubName, name)
        {
            Match = match;
            Priority = priority;
        }

        public TopicAttribute(string pubsubName, string name, string deadLetterTopic, bool enableRawPayload)
            : this(pubsubName, name, enableRawPayload)
        {
            DeadLetterTopic = deadLetterTopic;
        }

        public string PubsubName { get; private set; }

        /// <summary>The topic.</summary>
        public string Name { get; private set; }

        public string DeadLetterTopic { get; set; }

        /// <summary>A CEL routing rule; without one the method is the topic's default route.</summary>
        public new string Match { get; set; }

        public int Priority { get; set; }

        /// <summary>Receive the message as published, not wrapped in a CloudEvent (<c>rawPayload</c>).</summary>
        public bool EnableRawPayload { get; set; }

        /// <summary>The route the sidecar delivers to (derived when not set).</summary>
        public string Route { get; set; }
    }
}
