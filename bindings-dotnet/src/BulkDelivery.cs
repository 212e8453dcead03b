// A batch pulled from the native side for a batch handler: read once from its encoded
// DeliveredBatch (native/proto/dapr_rs_bridge.proto) into managed values, answered once with the
// handler's statuses by entry id or its failure. What they mean (an entry left out, a failure:
// RETRY) core decides (dapr_rs_core::statuses_by_entry_id), as for every binding.
using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using DaprRs.Native;

namespace DaprRs
{
    /// <summary>A delivered batch; <see cref="Answer"/> answers it and frees the handle.</summary>
    internal sealed class BulkDelivery
    {
        private IntPtr handle;

        // proto3 defaults: a field left out (subscription 0) is its default.
        internal int Subscription;
        internal string PubsubName = string.Empty;
        internal string Topic = string.Empty;
        /// <summary>Each entry's id and event, in the batch's order.</summary>
        internal readonly List<KeyValuePair<string, Delivery>> Entries = new List<KeyValuePair<string, Delivery>>();

        internal BulkDelivery(IntPtr handle)
        {
            this.handle = handle;
        }

        /// <summary>Reads the batch; throws on bytes that are no DeliveredBatch (the batch is then answered as a failure).</summary>
        internal unsafe void Read()
        {
            var view = NativeMethods.dapr_rs_batch_view((void*)handle);
            var batch = new ProtoReader(NativeCall.Copy(view.encoded_ptr, view.encoded_len));
            for (int field; (field = batch.NextField()) != 0;)
            {
                switch (field)
                {
                    case 1: Subscription = batch.Int32(); break;
                    case 2: PubsubName = batch.String(); break;
                    case 3: Topic = batch.String(); break;
                    case 4: Entries.Add(ReadEntry(batch.Message())); break;
                    default: batch.Skip(); break;
                }
            }
        }

        private KeyValuePair<string, Delivery> ReadEntry(ProtoReader entry)
        {
            string entryId = string.Empty, attributes = "{}";
            byte[] data = new byte[0];
            var kind = DataKind.Bytes;
            for (int field; (field = entry.NextField()) != 0;)
            {
                switch (field)
                {
                    case 1: entryId = entry.String(); break;
                    case 2: attributes = entry.String(); break;
                    case 3: data = entry.Bytes(); break;
                    case 4: kind = (DataKind)entry.Int32(); break;
                    default: entry.Skip(); break;
                }
            }
            return new KeyValuePair<string, Delivery>(entryId, new Delivery(attributes, data, kind, Subscription));
        }

        /// <summary>The batch as a handler takes it, each entry's event read as <typeparamref name="TValue"/>.</summary>
        internal BulkSubscribeMessage<TValue> MessageOf<TValue>()
        {
            var entries = Entries.Select(e => new BulkSubscribeMessageEntry<TValue>(
                e.Key, e.Value.Attributes.DataContentType, e.Value.Attributes.Metadata.ToDictionary(m => m.Key, m => m.Value), (TValue)e.Value.DataAs(typeof(TValue)))).ToList();
            return new BulkSubscribeMessage<TValue>(entries, Topic, new Dictionary<string, string>()) { Pubsub = PubsubName };
        }

        /// <summary><see cref="MessageOf{TValue}"/> for a value type known at run time (a method's parameter).</summary>
        internal object MessageAs(Type valueType)
        {
            var read = typeof(BulkDelivery).GetMethod("MessageOf", System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Instance);
            try
            {
                return read.MakeGenericMethod(valueType).Invoke(this, null);
            }
            catch (System.Reflection.TargetInvocationException e)
            {
                throw e.InnerException ?? e;
            }
        }

        /// <summary>
        /// Reads the batch, runs <paramref name="handler"/> on it and answers it: with the statuses it
        /// returned, or, when reading, the handler or its answer failed, with that failure, which core
        /// answers RETRY for every entry. Answers once; later calls do nothing.
        /// </summary>
        internal async Task Answer(Func<BulkDelivery, Task<BulkSubscribeAppResponse>> handler)
        {
            byte[] answer;
            try
            {
                Read();
                var response = await handler(this).ConfigureAwait(false);
                if (response == null) throw new InvalidOperationException("the batch handler returned no BulkSubscribeAppResponse");
                answer = BridgeRequests.BatchAnswer(response.Statuses ?? new List<BulkSubscribeAppResponseEntry>());
            }
            catch (Exception e)
            {
                answer = BridgeRequests.BatchFailure(e.GetType().Name + ": " + e.Message);
            }
            Send(answer);
        }

        private unsafe void Send(byte[] answer)
        {
            var h = Interlocked.Exchange(ref handle, IntPtr.Zero);
            if (h == IntPtr.Zero) return;
            fixed (byte* a = answer)
            {
                NativeCall.Check(NativeMethods.dapr_rs_batch_ack((void*)h, a, answer.Length));
            }
        }

        /// <summary>The pull loop of a <see cref="DaprApp"/>'s batch handlers, as <see cref="DeliveryPump"/> is its event handlers'.</summary>
        internal static Task Pump(Func<Task<IntPtr>> next, Func<BulkDelivery, Task<BulkSubscribeAppResponse>> handler)
        {
            return DeliveryPump.Run(next, ptr => new BulkDelivery(ptr), async batch =>
            {
                try
                {
                    await batch.Answer(handler).ConfigureAwait(false);
                }
                catch (Exception e)
                {
                    // The native side refused the answer (an unknown status): it answered the batch RETRY.
                    Console.Error.WriteLine("DaprRs: cannot answer a batch of " + batch.Topic + ": " + e.Message);
                }
            });
        }
    }
}
