// A bulk subscription's batch as one handler call, shaped as Dapr.AspNetCore's bulk subscribe
// types (BulkSubscribeMessage<T> in, BulkSubscribeAppResponse out), so its handlers move over by
// changing the namespace.
using System.Collections.Generic;

namespace DaprRs
{
    /// <summary>
    /// A batch the sidecar delivered to a <c>[BulkSubscribe]</c> topic: the handler of a
    /// <see cref="DaprApp"/> that takes one gets the whole batch in one call and answers each entry
    /// with a <see cref="BulkSubscribeAppResponse"/>.
    /// </summary>
    /// <typeparam name="TValue">What each entry's <see cref="BulkSubscribeMessageEntry{TValue}.Event"/> is read as (as a <c>[Topic]</c> method's parameter).</typeparam>
    public class BulkSubscribeMessage<TValue>
    {
        public BulkSubscribeMessage()
        {
            Entries = new List<BulkSubscribeMessageEntry<TValue>>();
            Metadata = new Dictionary<string, string>();
        }

        public BulkSubscribeMessage(List<BulkSubscribeMessageEntry<TValue>> entries, string topic, Dictionary<string, string> metadata)
        {
            Entries = entries;
            Topic = topic;
            Metadata = metadata;
        }

        /// <summary>The batch's events, each answered under its <see cref="BulkSubscribeMessageEntry{TValue}.EntryId"/>.</summary>
        public List<BulkSubscribeMessageEntry<TValue>> Entries { get; set; }

        public string Topic { get; set; }

        /// <summary>The pubsub component the batch came through (dapr-rs; Dapr.AspNetCore has no such property).</summary>
        public string Pubsub { get; set; }

        /// <summary>
        /// The batch's own metadata. Empty: dapr-rs core hands handlers each entry's metadata
        /// (<see cref="BulkSubscribeMessageEntry{TValue}.Metadata"/>), not the call's.
        /// </summary>
        public Dictionary<string, string> Metadata { get; set; }
    }

    /// <summary>One event of a <see cref="BulkSubscribeMessage{TValue}"/>.</summary>
    public class BulkSubscribeMessageEntry<TValue>
    {
        public BulkSubscribeMessageEntry()
        {
            Metadata = new Dictionary<string, string>();
        }

        public BulkSubscribeMessageEntry(string entryId, string contentType, Dictionary<string, string> metadata, TValue eventData)
        {
            EntryId = entryId;
            ContentType = contentType;
            Metadata = metadata;
            Event = eventData;
        }

        /// <summary>What the entry's status is answered under.</summary>
        public string EntryId { get; set; }

        /// <summary>
        /// The event as <typeparamref name="TValue"/>: its data read as a <c>[Topic]</c> method's
        /// parameter is (JSON, string, byte[]), or a <see cref="CloudEvent{T}"/> for its attributes too.
        /// </summary>
        public TValue Event { get; set; }

        /// <summary>The content type of the event's data (its <c>datacontenttype</c>).</summary>
        public string ContentType { get; set; }

        /// <summary>The broker message's metadata, as the sidecar delivered it with the entry.</summary>
        public Dictionary<string, string> Metadata { get; set; }
    }

    /// <summary>What became of an entry (as gRPC's TopicEventResponseStatus and <see cref="TopicResponseAction"/>).</summary>
    public enum BulkSubscribeAppResponseStatus
    {
        /// <summary>Processed: the broker may forget it.</summary>
        SUCCESS = 0,
        /// <summary>Deliver it again later.</summary>
        RETRY = 1,
        /// <summary>Give up on it (to the dead-letter topic when one is set).</summary>
        DROP = 2,
    }

    /// <summary>An entry's status in a <see cref="BulkSubscribeAppResponse"/>.</summary>
    public class BulkSubscribeAppResponseEntry
    {
        public BulkSubscribeAppResponseEntry(string entryId, BulkSubscribeAppResponseStatus status)
        {
            EntryId = entryId;
            Status = status;
        }

        public string EntryId { get; }

        public BulkSubscribeAppResponseStatus Status { get; }
    }

    /// <summary>
    /// A batch handler's answer: a status per entry id. An entry it leaves out is retried, as the
    /// sidecar reads an app's bulk reply; an id that is no entry of the batch is ignored.
    /// </summary>
    public class BulkSubscribeAppResponse
    {
        public BulkSubscribeAppResponse(List<BulkSubscribeAppResponseEntry> statuses)
        {
            Statuses = statuses;
        }

        public List<BulkSubscribeAppResponseEntry> Statuses { get; }
    }
}
