// A delivered event pulled from the native side: read once into managed values, answered once.
// A batch's entries (BulkDelivery) are read into the same shape, and answered with their batch.
using System;
using System.Collections.Generic;
using System.Text;
using System.Threading;
using System.Threading.Tasks;
using DaprRs.Native;

namespace DaprRs
{
    /// <summary>A delivered event read out of its native handle; <see cref="Answer"/> answers it and frees the handle.</summary>
    internal sealed class Delivery
    {
        private IntPtr handle;

        internal readonly CloudEvent Attributes;
        internal readonly string Path;
        internal readonly byte[] Data;
        internal readonly DataKind Kind;
        internal readonly int Subscription;

        internal unsafe Delivery(IntPtr handle)
            : this(NativeMethods.dapr_rs_event_view((void*)handle))
        {
            this.handle = handle;
        }

        private unsafe Delivery(DaprEventView view)
            : this(NativeCall.Decode(view.attributes_ptr, view.attributes_len), NativeCall.Copy(view.data_ptr, view.data_len), (DataKind)view.data_kind, view.subscription)
        {
        }

        /// <summary>An event read from its parts (<paramref name="attributesJson"/> as <c>DaprEventView</c> has it), with no handle of its own.</summary>
        internal Delivery(string attributesJson, byte[] data, DataKind kind, int subscription)
        {
            var attributes = DaprJson.Deserialize<Dictionary<string, object>>(attributesJson);
            var extensions = (attributes.ContainsKey("extensions") ? attributes["extensions"] as Dictionary<string, object> : null) ?? new Dictionary<string, object>();
            Attributes = new CloudEvent
            {
                Id = Text(attributes, "id"),
                Source = Text(attributes, "source"),
                Type = Text(attributes, "type"),
                SpecVersion = Text(attributes, "specversion"),
                DataContentType = Text(attributes, "datacontenttype"),
                Topic = Text(attributes, "topic"),
                PubsubName = Text(attributes, "pubsubname"),
                // Core keeps every attribute but the required ones and Dapr's in the extensions.
                Subject = Text(extensions, "subject"),
                Extensions = extensions,
                Metadata = Metadata(attributes),
            };
            Path = Text(attributes, "path");
            Data = data;
            Kind = kind;
            Subscription = subscription;
        }

        /// <summary>The <c>metadata</c> object of the attributes (absent from an older native library: empty).</summary>
        private static Dictionary<string, string> Metadata(Dictionary<string, object> attributes)
        {
            var metadata = new Dictionary<string, string>();
            object value;
            if (attributes.TryGetValue("metadata", out value) && value is Dictionary<string, object> pairs)
            {
                foreach (var pair in pairs) metadata[pair.Key] = pair.Value as string ?? string.Empty;
            }
            return metadata;
        }

        private static string Text(Dictionary<string, object> attributes, string name)
        {
            object value;
            return attributes.TryGetValue(name, out value) ? value as string ?? string.Empty : string.Empty;
        }

        /// <summary>
        /// Runs <paramref name="handler"/> on the event and answers it: with the action it returned,
        /// or with its exception as a failure, which core answers RETRY (dapr_rs_core::answer_of,
        /// the rule of every binding). Answers once; later calls do nothing.
        /// </summary>
        internal async Task Answer(Func<Delivery, Task<TopicResponseAction>> handler)
        {
            byte[] answer;
            try
            {
                answer = BridgeRequests.Status(await handler(this).ConfigureAwait(false));
            }
            catch (Exception e)
            {
                answer = BridgeRequests.Failure(e.GetType().Name + ": " + e.Message);
            }
            Send(answer);
        }

        private unsafe void Send(byte[] answer)
        {
            var h = Interlocked.Exchange(ref handle, IntPtr.Zero);
            if (h == IntPtr.Zero) return;
            fixed (byte* a = answer)
            {
                NativeCall.Check(NativeMethods.dapr_rs_event_ack((void*)h, a, answer.Length));
            }
        }

        /// <summary>
        /// The payload as <paramref name="type"/>: byte[] gets the bytes; string gets text (a JSON
        /// string's value); <see cref="CloudEvent{T}"/> gets the attributes and the data; any other
        /// type is read from the payload as JSON (camelCase or any case).
        /// </summary>
        internal object DataAs(Type type)
        {
            if (type.IsGenericType && type.GetGenericTypeDefinition() == typeof(CloudEvent<>))
            {
                var ce = (CloudEvent)Activator.CreateInstance(type);
                ce.Id = Attributes.Id;
                ce.Source = Attributes.Source;
                ce.Type = Attributes.Type;
                ce.SpecVersion = Attributes.SpecVersion;
                ce.DataContentType = Attributes.DataContentType;
                ce.Subject = Attributes.Subject;
                ce.Topic = Attributes.Topic;
                ce.PubsubName = Attributes.PubsubName;
                ce.Extensions = Attributes.Extensions;
                ce.Metadata = Attributes.Metadata;
                type.GetProperty("Data").SetValue(ce, DataAs(type.GetGenericArguments()[0]), null);
                return ce;
            }
            if (type == typeof(CloudEvent)) return Attributes;
            if (type == typeof(byte[])) return Data;
            var text = Encoding.UTF8.GetString(Data);
            if (type == typeof(string))
            {
                if (Kind == DataKind.Json)
                {
                    var trimmed = text.TrimStart();
                    if (trimmed.StartsWith("\"", StringComparison.Ordinal)) return DaprJson.Deserialize<string>(text);
                }
                return text;
            }
            return DaprJson.Deserialize(text, type);
        }
    }

    /// <summary>The pull loop of a <see cref="DaprApp"/> or a <see cref="TopicSubscription"/>: asks the
    /// native side for the next delivery until there is none (closed) or its handle is disposed, and
    /// answers each on the thread pool, so no user code runs on a native thread.</summary>
    internal static class DeliveryPump
    {
        internal static Task Run(Func<Task<IntPtr>> next, Func<Delivery, Task<TopicResponseAction>> handler, CancellationToken stopping)
        {
            return Run(next, ptr => new Delivery(ptr), delivery => Answer(delivery, handler, stopping));
        }

        /// <summary>The loop for any pulled handle (an event, a batch): <paramref name="read"/> wraps it, <paramref name="answer"/> runs on the thread pool.</summary>
        internal static async Task Run<T>(Func<Task<IntPtr>> next, Func<IntPtr, T> read, Func<T, Task> answer)
        {
            while (true)
            {
                IntPtr ptr;
                try
                {
                    ptr = await next().ConfigureAwait(false);
                }
                catch (ObjectDisposedException)
                {
                    return;
                }
                if (ptr == IntPtr.Zero) return;
                var delivery = read(ptr);
                _ = Task.Run(() => answer(delivery));
            }
        }

        private static async Task Answer(Delivery delivery, Func<Delivery, Task<TopicResponseAction>> handler, CancellationToken stopping)
        {
            try
            {
                await delivery.Answer(handler).ConfigureAwait(false);
            }
            catch (Exception e)
            {
                // Once its owner stopped, an answer has nowhere to go; the sidecar redelivers the event.
                if (!stopping.IsCancellationRequested) Console.Error.WriteLine("DaprRs: cannot answer event " + delivery.Attributes.Id + ": " + e.Message);
            }
        }
    }
}
