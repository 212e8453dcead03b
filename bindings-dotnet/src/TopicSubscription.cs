using System;
using System.Collections.Generic;
using System.Threading;
using System.Threading.Tasks;
using DaprRs.Native;

namespace DaprRs
{
    /// <summary>A message of a streaming subscription.</summary>
    public sealed class TopicMessage
    {
        internal TopicMessage(Delivery delivery)
        {
            Delivery = delivery;
        }

        internal Delivery Delivery { get; private set; }

        public string Id { get { return Delivery.Attributes.Id; } }
        public string Source { get { return Delivery.Attributes.Source; } }
        public string Type { get { return Delivery.Attributes.Type; } }
        public string SpecVersion { get { return Delivery.Attributes.SpecVersion; } }
        public string DataContentType { get { return Delivery.Attributes.DataContentType; } }
        public string Subject { get { return Delivery.Attributes.Subject; } }
        public string Topic { get { return Delivery.Attributes.Topic; } }
        public string PubSubName { get { return Delivery.Attributes.PubsubName; } }
        public Dictionary<string, object> Extensions { get { return Delivery.Attributes.Extensions; } }
        /// <summary>The broker message's metadata: always empty here, as daprd sends a stream none.</summary>
        public IReadOnlyDictionary<string, string> Metadata { get { return Delivery.Attributes.Metadata; } }

        /// <summary>The payload bytes.</summary>
        public byte[] Data { get { return Delivery.Data; } }

        /// <summary>The payload as <typeparamref name="T"/> (JSON; or the text / bytes themselves).</summary>
        public T DataAs<T>()
        {
            return (T)Delivery.DataAs(typeof(T));
        }
    }

    /// <summary>Handles one message of a streaming subscription; an exception is answered Retry (core's rule, as for <c>[Topic]</c> methods).</summary>
    public delegate Task<TopicResponseAction> TopicMessageHandler(TopicMessage message, CancellationToken cancellationToken);

    /// <summary>Options of a streaming subscription.</summary>
    public sealed class DaprSubscriptionOptions
    {
        public DaprSubscriptionOptions()
        {
            Metadata = new Dictionary<string, string>();
        }

        /// <summary>Where events the handler drops (or that keep failing) go.</summary>
        public string DeadLetterTopic { get; set; }

        /// <summary>Deliver the broker's message as it was published, not wrapped in a CloudEvent.</summary>
        public bool EnableRawPayload { get; set; }

        public Dictionary<string, string> Metadata { get; set; }

        internal Dictionary<string, string> EffectiveMetadata()
        {
            var metadata = new Dictionary<string, string>(Metadata ?? new Dictionary<string, string>());
            if (EnableRawPayload) metadata["rawPayload"] = "true";
            return metadata;
        }
    }

    /// <summary>
    /// A running streaming subscription. Messages are pulled from the native side one at a time and
    /// handled on the thread pool; dispose it to end it.
    /// </summary>
    public sealed class TopicSubscription : IDisposable
    {
        private readonly StreamHandle stream;
        private readonly TopicMessageHandler handler;
        private readonly CancellationTokenSource stopping = new CancellationTokenSource();

        internal TopicSubscription(StreamHandle stream, TopicMessageHandler handler)
        {
            this.stream = stream;
            this.handler = handler;
            Completion = Task.Run(() => PullLoop());
        }

        /// <summary>Ends when the subscription ends (disposed, or refused by the sidecar: then faulted).</summary>
        public Task Completion { get; private set; }

        private Task PullLoop()
        {
            return DeliveryPump.Run(Next, delivery => handler(new TopicMessage(delivery), stopping.Token), stopping.Token);
        }

        private unsafe Task<IntPtr> Next()
        {
            return NativeCall.Run(userData =>
            {
                using (var s = stream.Borrow())
                {
                    return (IntPtr)NativeMethods.dapr_rs_stream_next(s.Pointer, (void*)userData);
                }
            }, CancellationToken.None);
        }

        public unsafe void Dispose()
        {
            stopping.Cancel();
            if (!stream.IsClosed)
            {
                try
                {
                    using (var s = stream.Borrow()) NativeMethods.dapr_rs_stream_close(s.Pointer);
                }
                catch (ObjectDisposedException) { }
            }
            stream.Dispose();
        }
    }
}
