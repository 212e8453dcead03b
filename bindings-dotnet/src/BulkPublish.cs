using System.Collections.Generic;

namespace DaprRs
{
    /// <summary>One event of a bulk publish.</summary>
    public sealed class BulkPublishEntry<TValue>
    {
        public BulkPublishEntry(string entryId, TValue eventData, string contentType, IReadOnlyDictionary<string, string> metadata)
        {
            EntryId = entryId;
            EventData = eventData;
            ContentType = contentType;
            Metadata = metadata;
        }

        public string EntryId { get; private set; }
        public TValue EventData { get; private set; }
        public string ContentType { get; private set; }
        public IReadOnlyDictionary<string, string> Metadata { get; private set; }
    }

    /// <summary>An entry the sidecar could not publish, and why.</summary>
    public sealed class BulkPublishResponseFailedEntry<TValue>
    {
        public BulkPublishResponseFailedEntry(BulkPublishEntry<TValue> entry, string errorMessage)
        {
            Entry = entry;
            ErrorMessage = errorMessage;
        }

        public BulkPublishEntry<TValue> Entry { get; private set; }
        public string ErrorMessage { get; private set; }
    }

    /// <summary>The outcome of a bulk publish: the entries that failed (none: all were published).</summary>
    public sealed class BulkPublishResponse<TValue>
    {
        public BulkPublishResponse(List<BulkPublishResponseFailedEntry<TValue>> failedEntries)
        {
            FailedEntries = failedEntries;
        }

        public List<BulkPublishResponseFailedEntry<TValue>> FailedEntries { get; private set; }
    }
}
