using System.Collections.Generic;
using System.Linq;

namespace DaprRs
{
    /// <summary>What a sidecar says of itself (Dapr.Client's <c>DaprMetadata</c>), with its subscriptions.</summary>
    public sealed class DaprMetadata
    {
        public DaprMetadata(string id, IReadOnlyList<DaprActorMetadata> actors, IReadOnlyDictionary<string, string> extended, IReadOnlyList<DaprComponentsMetadata> components)
            : this(id, actors, extended, components, new DaprSubscriptionMetadata[0], string.Empty)
        {
        }

        public DaprMetadata(string id, IReadOnlyList<DaprActorMetadata> actors, IReadOnlyDictionary<string, string> extended, IReadOnlyList<DaprComponentsMetadata> components, IReadOnlyList<DaprSubscriptionMetadata> subscriptions, string runtimeVersion)
        {
            Id = id;
            Actors = actors;
            Extended = extended;
            Components = components;
            Subscriptions = subscriptions;
            RuntimeVersion = runtimeVersion;
        }

        /// <summary>The app id.</summary>
        public string Id { get; private set; }
        public IReadOnlyList<DaprActorMetadata> Actors { get; private set; }
        /// <summary>The sidecar's extended metadata (<c>daprRuntimeVersion</c>, what apps set…).</summary>
        public IReadOnlyDictionary<string, string> Extended { get; private set; }
        public IReadOnlyList<DaprComponentsMetadata> Components { get; private set; }
        /// <summary>The subscriptions the sidecar runs: declared, the app's, streaming.</summary>
        public IReadOnlyList<DaprSubscriptionMetadata> Subscriptions { get; private set; }
        public string RuntimeVersion { get; private set; }

        /// <summary>From the JSON the native call completes with (native/src/client.rs, <c>metadata_json</c>).</summary>
        internal static DaprMetadata FromJson(string json)
        {
            var m = DaprJson.Deserialize<NativeMetadata>(json);
            return new DaprMetadata(
                m.Id ?? string.Empty,
                (m.Actors ?? new List<NativeActor>()).Select(a => new DaprActorMetadata(a.Type, a.Count)).ToList(),
                m.Extended ?? new Dictionary<string, string>(),
                (m.Components ?? new List<NativeComponent>()).Select(c => new DaprComponentsMetadata(c.Name, c.Type, c.Version, c.Capabilities ?? new string[0])).ToList(),
                (m.Subscriptions ?? new List<NativeSubscription>()).Select(s => new DaprSubscriptionMetadata(
                    s.PubsubName,
                    s.Topic,
                    s.Metadata ?? new Dictionary<string, string>(),
                    (s.Rules ?? new List<NativeRule>()).Select(r => new DaprSubscriptionRule(r.Match, r.Path)).ToList(),
                    string.IsNullOrEmpty(s.DeadLetterTopic) ? null : s.DeadLetterTopic,
                    s.Type)).ToList(),
                m.RuntimeVersion ?? string.Empty);
        }

        // The native JSON's shape, for DaprJson (which sets public properties).
        internal sealed class NativeMetadata
        {
            public string Id { get; set; }
            public string RuntimeVersion { get; set; }
            public Dictionary<string, string> Extended { get; set; }
            public List<NativeActor> Actors { get; set; }
            public List<NativeComponent> Components { get; set; }
            public List<NativeSubscription> Subscriptions { get; set; }
        }

        internal sealed class NativeActor
        {
            public string Type { get; set; }
            public int Count { get; set; }
        }

        internal sealed class NativeComponent
        {
            public string Name { get; set; }
            public string Type { get; set; }
            public string Version { get; set; }
            public string[] Capabilities { get; set; }
        }

        internal sealed class NativeSubscription
        {
            public string PubsubName { get; set; }
            public string Topic { get; set; }
            public Dictionary<string, string> Metadata { get; set; }
            public List<NativeRule> Rules { get; set; }
            public string DeadLetterTopic { get; set; }
            public DaprSubscriptionType Type { get; set; }
        }

        internal sealed class NativeRule
        {
            public string Match { get; set; }
            public string Path { get; set; }
        }
    }

    /// <summary>An actor type and how many of it run (dapr-rs has no actors: always none).</summary>
    public sealed class DaprActorMetadata
    {
        public DaprActorMetadata(string type, int count)
        {
            Type = type;
            Count = count;
        }

        public string Type { get; private set; }
        public int Count { get; private set; }
    }

    /// <summary>A loaded component.</summary>
    public sealed class DaprComponentsMetadata
    {
        public DaprComponentsMetadata(string name, string type, string version, string[] capabilities)
        {
            Name = name;
            Type = type;
            Version = version;
            Capabilities = capabilities;
        }

        public string Name { get; private set; }
        /// <summary>e.g. <c>pubsub.redis</c>.</summary>
        public string Type { get; private set; }
        public string Version { get; private set; }
        public string[] Capabilities { get; private set; }
    }

    /// <summary>Where a subscription the sidecar runs came from (the numbers of Dapr's <c>PubsubSubscriptionType</c>).</summary>
    public enum DaprSubscriptionType
    {
        Unknown = 0,
        /// <summary>A <c>Subscription</c> resource.</summary>
        Declarative = 1,
        /// <summary>What the app listed (<c>[Topic]</c> methods of a <see cref="DaprApp"/>).</summary>
        Programmatic = 2,
        /// <summary>A streaming subscription (<see cref="DaprClient.SubscribeAsync"/>).</summary>
        Streaming = 3,
    }

    /// <summary>A subscription the sidecar runs.</summary>
    public sealed class DaprSubscriptionMetadata
    {
        public DaprSubscriptionMetadata(string pubsubName, string topic, IReadOnlyDictionary<string, string> metadata, IReadOnlyList<DaprSubscriptionRule> rules, string deadLetterTopic, DaprSubscriptionType type)
        {
            PubsubName = pubsubName;
            Topic = topic;
            Metadata = metadata;
            Rules = rules;
            DeadLetterTopic = deadLetterTopic;
            Type = type;
        }

        public string PubsubName { get; private set; }
        public string Topic { get; private set; }
        /// <summary>The subscription's metadata (<c>rawPayload</c>, <c>[TopicMetadata]</c>…).</summary>
        public IReadOnlyDictionary<string, string> Metadata { get; private set; }
        /// <summary>Its routes: each rule's CEL match (empty for the default route) and path.</summary>
        public IReadOnlyList<DaprSubscriptionRule> Rules { get; private set; }
        /// <summary>Null when it has none.</summary>
        public string DeadLetterTopic { get; private set; }
        public DaprSubscriptionType Type { get; private set; }
    }

    /// <summary>A route of a subscription: events for which <see cref="Match"/> holds go to <see cref="Path"/>.</summary>
    public sealed class DaprSubscriptionRule
    {
        public DaprSubscriptionRule(string match, string path)
        {
            Match = match;
            Path = path;
        }

        public string Match { get; private set; }
        public string Path { get; private set; }
    }
}
