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

        /// <summary>The ids of the <see cref="TopicMetadataAttribute"/>s of the method that are this
        /// subscription's (one without an id is every subscription's), as Dapr.AspNetCore has it.</summary>
        public string[] OwnedMetadatas { get; set; }

        /// <summary>What joins the values of [TopicMetadata]s that share a name (<c>,</c> when not set).</summary>
        public string MetadataSeparator { get; set; }
    }

    /// <summary>
    /// Subscription metadata of the method's <c>[Topic]</c> subscriptions (e.g. <c>rawPayload</c>,
    /// or a component's own subscribe options), as Dapr.AspNetCore's <c>[TopicMetadata]</c>: without an
    /// id it is every subscription's of the method, with one only theirs that list the id in
    /// <see cref="TopicAttribute.OwnedMetadatas"/>. The sidecar lists it in its metadata.
    /// </summary>
    [AttributeUsage(AttributeTargets.Method, AllowMultiple = true)]
    public sealed class TopicMetadataAttribute : Attribute
    {
        public TopicMetadataAttribute(string name, string value)
        {
            Name = name;
            Value = value;
        }

        public TopicMetadataAttribute(string id, string name, string value)
            : this(name, value)
        {
            Id = id;
        }

        /// <summary>Which subscriptions it is for (see <see cref="TopicAttribute.OwnedMetadatas"/>); null: all of the method.</summary>
        public string Id { get; private set; }

        public string Name { get; private set; }

        public string Value { get; private set; }
    }

    /// <summary>
    /// Has the sidecar deliver the method's <c>[Topic]</c> subscription to <see cref="TopicName"/> in
    /// batches (<c>bulkSubscribe</c>), as Dapr.AspNetCore's <c>[BulkSubscribe]</c>: one call to the app
    /// for up to <see cref="MaxMessagesCount"/> events, or what arrived within
    /// <see cref="MaxAwaitDurationMs"/>. A method taking a <see cref="BulkSubscribeMessage{TValue}"/>
    /// gets the batch in one call and answers each entry (<see cref="BulkSubscribeAppResponse"/>: an
    /// entry it leaves out, or every entry when it throws, is RETRY); any other method is called once
    /// per event, and its answer is that event's status in the batch's reply (an exception: RETRY).
    /// Either way each event is acknowledged, retried or dropped on its own.
    /// </summary>
    [AttributeUsage(AttributeTargets.Method, AllowMultiple = true)]
    public sealed class BulkSubscribeAttribute : Attribute
    {
        public BulkSubscribeAttribute(string topicName)
        {
            TopicName = topicName;
            MaxMessagesCount = 100;
            MaxAwaitDurationMs = 1000;
        }

        public BulkSubscribeAttribute(string topicName, int maxMessagesCount)
            : this(topicName)
        {
            MaxMessagesCount = maxMessagesCount;
        }

        public BulkSubscribeAttribute(string topicName, int maxMessagesCount, int maxAwaitDurationMs)
            : this(topicName, maxMessagesCount)
        {
            MaxAwaitDurationMs = maxAwaitDurationMs;
        }

        /// <summary>The topic of the method's [Topic] that is delivered in batches.</summary>
        public string TopicName { get; private set; }

        /// <summary>Most events in one batch (Dapr's default: 100).</summary>
        public int MaxMessagesCount { get; private set; }

        /// <summary>Longest an event waits for its batch to fill, in milliseconds (Dapr's default: 1000).</summary>
        public int MaxAwaitDurationMs { get; private set; }
    }
}
