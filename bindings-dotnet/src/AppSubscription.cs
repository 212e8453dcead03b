// What the sidecar is told about each [Topic] of a method: the [Topic] itself, its subscription
// metadata ([TopicMetadata], rawPayload) and its batching ([BulkSubscribe]), read from the
// attributes beside it as Dapr.AspNetCore reads them. Mistakes are InvalidArgumentExceptions
// naming the method, raised when it is mapped, not when the sidecar first calls.
using System;
using System.Collections.Generic;
using System.Linq;

namespace DaprRs
{
    internal sealed class AppSubscription
    {
        internal TopicAttribute Topic;
        internal Dictionary<string, string> Metadata;
        /// <summary>Null: one event per call.</summary>
        internal BulkSubscribeAttribute BulkSubscribe;

        /// <summary>One subscription per [Topic] of <paramref name="attributes"/> (those of <paramref name="owner"/>).</summary>
        internal static List<AppSubscription> Of(IEnumerable<object> attributes, string owner)
        {
            var all = attributes.ToList();
            var topics = all.OfType<TopicAttribute>().ToList();
            var metadata = all.OfType<TopicMetadataAttribute>().ToList();
            var bulk = all.OfType<BulkSubscribeAttribute>().ToList();
            foreach (var m in metadata)
            {
                if (string.IsNullOrEmpty(m.Name)) throw Invalid(owner, "a [TopicMetadata] has no name");
                if (m.Value == null) throw Invalid(owner, "[TopicMetadata] " + m.Name + " has no value");
                if (!string.IsNullOrEmpty(m.Id) && !topics.Any(t => Owns(t, m)))
                {
                    throw Invalid(owner, "[TopicMetadata] " + m.Name + " has the id " + m.Id + ", which no [Topic] lists in OwnedMetadatas");
                }
            }
            foreach (var b in bulk)
            {
                if (!topics.Any(t => t.Name == b.TopicName))
                {
                    throw Invalid(owner, "[BulkSubscribe] names the topic " + b.TopicName + ", which no [Topic] of it subscribes to");
                }
                if (bulk.Count(other => other.TopicName == b.TopicName) > 1) throw Invalid(owner, "more than one [BulkSubscribe] names the topic " + b.TopicName);
            }
            return topics.Select(topic => new AppSubscription
            {
                Topic = topic,
                Metadata = MetadataOf(topic, metadata),
                BulkSubscribe = bulk.FirstOrDefault(b => b.TopicName == topic.Name),
            }).ToList();
        }

        private static bool Owns(TopicAttribute topic, TopicMetadataAttribute metadata)
        {
            return string.IsNullOrEmpty(metadata.Id) || (topic.OwnedMetadatas != null && topic.OwnedMetadatas.Contains(metadata.Id));
        }

        // Values of one name are joined (each once, in order), as Dapr.AspNetCore joins them.
        private static Dictionary<string, string> MetadataOf(TopicAttribute topic, List<TopicMetadataAttribute> metadata)
        {
            var separator = topic.MetadataSeparator ?? ",";
            var result = metadata.Where(m => Owns(topic, m))
                .GroupBy(m => m.Name)
                .ToDictionary(g => g.Key, g => string.Join(separator, g.Select(m => m.Value).Distinct()));
            if (topic.EnableRawPayload) result["rawPayload"] = "true";
            return result;
        }

        private static InvalidArgumentException Invalid(string owner, string what)
        {
            return new InvalidArgumentException(owner + ": " + what, StatusCode.InvalidArgument, null);
        }
    }
}
