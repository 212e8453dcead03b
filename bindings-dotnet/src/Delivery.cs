// A delivered event pulled from the native side: read once into managed values, answered once.
using System;
using System.Collections.Generic;
using System.Text;
using System.Threading.Tasks;
using DaprRs.Native;

namespace DaprRs
{
    /// <summary>The ABI's payload kinds (native/src/abi.rs `DATA_*`): what is published, and how the
    /// native side decoded a delivered payload (`DaprEventView`).</summary>
    internal enum DataKind
    {
        Bytes = 0,
        Text = 1,
        Json = 2,
    }

    /// <summary>A delivered event read out of its native handle; <see cref="Ack"/> answers it and frees the handle.</summary>
    internal sealed unsafe class Delivery
    {
        private IntPtr handle;

        internal readonly CloudEvent Attributes;
        internal readonly string Path;
        internal readonly byte[] Data;
        internal readonly DataKind Kind;
        internal readonly int Subscription;

        internal Delivery(IntPtr handle)
        {
            this.handle = handle;
            var view = NativeMethods.dapr_rs_event_view((void*)handle);
            var attributes = DaprJson.Deserialize<Dictionary<string, object>>(NativeCall.Decode(view.attributes_ptr, view.attributes_len));
            Attributes = new CloudEvent
            {
                Id = Text(attributes, "id"),
                Source = Text(attributes, "source"),
                Type = Text(attributes, "type"),
                SpecVersion = Text(attributes, "specversion"),
                DataContentType = Text(attributes, "datacontenttype"),
                Topic = Text(attributes, "topic"),
                PubsubName = Text(attributes, "pubsubname"),
                Extensions = (attributes.ContainsKey("extensions") ? attributes["extensions"] as Dictionary<string, object> : null) ?? new Dictionary<string, object>(),
            };
            Path = Text(attributes, "path");
            Data = NativeCall.Copy(view.data_ptr, view.data_len);
            Kind = (DataKind)view.data_kind;
            Subscription = view.subscription;
        }

        private static string Text(Dictionary<string, object> attributes, string name)
        {
            object value;
            return attributes.TryGetValue(name, out value) ? value as string ?? string.Empty : string.Empty;
        }

        /// <summary>Answers the event (once; later calls do nothing).</summary>
        internal void Ack(TopicResponseAction action)
        {
            var h = System.Threading.Interlocked.Exchange(ref handle, IntPtr.Zero);
            if (h == IntPtr.Zero) return;
            NativeCall.Check(NativeMethods.dapr_rs_event_ack((void*)h, (int)action));
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
                ce.Topic = Attributes.Topic;
                ce.PubsubName = Attributes.PubsubName;
                ce.Extensions = Attributes.Extensions;
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
    /// hands each to the thread pool, so no user code runs on a native thread.</summary>
    internal static class DeliveryPump
    {
        internal static async Task Run(Func<Task<IntPtr>> next, Func<Delivery, Task> handle)
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
                var delivery = new Delivery(ptr);
                _ = Task.Run(() => handle(delivery));
            }
        }
    }
}
