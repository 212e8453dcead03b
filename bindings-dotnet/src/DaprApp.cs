using System;
using System.Collections.Generic;
using System.Linq;
using System.Reflection;
using System.Threading;
using System.Threading.Tasks;
using DaprRs.Native;

namespace DaprRs
{
    /// <summary>The protocol the sidecar calls the app with (<c>--app-protocol</c>).</summary>
    public enum AppProtocol
    {
        Grpc,
        Http,
    }

    /// <summary>
    /// Hosts <c>[Topic]</c> methods without ASP.NET: serves the gRPC <c>AppCallback</c> or the HTTP
    /// <c>/dapr/subscribe</c> routes (through dapr-rs core) that the sidecar delivers to, and calls
    /// the methods on the thread pool. Events (and a batch handler's batches) are pulled from the
    /// native side, so user code never runs on a native thread.
    /// </summary>
    public sealed class DaprApp : IDisposable
    {
        private readonly AppHostHandle host;
        // By subscription index, as the native side numbers them: each has an event handler or a batch handler.
        private readonly List<Func<Delivery, Task<TopicResponseAction>>> handlers = new List<Func<Delivery, Task<TopicResponseAction>>>();
        private readonly List<Func<BulkDelivery, Task<BulkSubscribeAppResponse>>> batchHandlers = new List<Func<BulkDelivery, Task<BulkSubscribeAppResponse>>>();
        private readonly AppProtocol protocol;
        private Task pullLoop;
        private int port;

        /// <summary>An app served over <paramref name="protocol"/> (gRPC, as <c>dapr run --app-protocol grpc</c>, by default).</summary>
        public unsafe DaprApp(AppProtocol protocol = AppProtocol.Grpc)
        {
            NativeCall.EnsureInitialized();
            this.protocol = protocol;
            host = new AppHostHandle((IntPtr)NativeMethods.dapr_rs_app_new());
        }

        /// <summary>The bound port once started.</summary>
        public int Port { get { return port; } }

        /// <summary>
        /// Subscribes every <c>[Topic]</c> method of <paramref name="target"/> (instance and static
        /// methods), with the <c>[BulkSubscribe]</c> and <c>[TopicMetadata]</c> beside it; a mistake in
        /// those is an <see cref="InvalidArgumentException"/> naming the method. A method taking a
        /// <see cref="BulkSubscribeMessage{TValue}"/> gets each batch whole and returns a
        /// <see cref="BulkSubscribeAppResponse"/> (or a Task of one); its topics need a <c>[BulkSubscribe]</c>.
        /// </summary>
        public DaprApp MapSubscribers(object target)
        {
            if (target == null) throw new ArgumentNullException("target");
            return Map(target.GetType(), target);
        }

        /// <summary>Subscribes every static <c>[Topic]</c> method of <paramref name="type"/>.</summary>
        public DaprApp MapSubscribers(Type type)
        {
            if (type == null) throw new ArgumentNullException("type");
            return Map(type, null);
        }

        private DaprApp Map(Type type, object target)
        {
            var flags = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Static | (target != null ? BindingFlags.Instance : 0);
            int found = 0;
            foreach (var method in type.GetMethods(flags))
            {
                var attributes = method.GetCustomAttributes(true);
                if (!attributes.OfType<TopicAttribute>().Any())
                {
                    // [BulkSubscribe] or [TopicMetadata] alone subscribe nothing: a forgotten [Topic].
                    if (attributes.Any(a => a is BulkSubscribeAttribute || a is TopicMetadataAttribute))
                    {
                        throw new InvalidArgumentException(type.FullName + "." + method.Name + " has [BulkSubscribe] or [TopicMetadata] but no [Topic]", StatusCode.InvalidArgument, null);
                    }
                    continue;
                }
                var owner = type.FullName + "." + method.Name;
                var subscriptions = AppSubscription.Of(attributes, owner);
                var instance = method.IsStatic ? null : target;
                var valueType = BatchValueType(method);
                if (valueType != null)
                {
                    RequireBulkSubscribe(subscriptions, owner);
                    var batchHandler = BatchMethodHandler(method, instance, valueType);
                    foreach (var subscription in subscriptions) SubscribeBatches(subscription, batchHandler);
                    found += subscriptions.Count;
                    continue;
                }
                var handler = MethodHandler(method, instance);
                foreach (var subscription in subscriptions)
                {
                    Subscribe(subscription, handler);
                    found++;
                }
            }
            if (found == 0) throw new ArgumentException(type.FullName + " has no [Topic] methods");
            return this;
        }

        /// <summary>Subscribes <paramref name="handler"/> to the topic <paramref name="topic"/> describes.</summary>
        public DaprApp MapTopic<TData>(TopicAttribute topic, Func<TData, Task<TopicResponseAction>> handler)
        {
            return MapTopic(topic, new Attribute[0], handler);
        }

        /// <summary>
        /// Subscribes <paramref name="handler"/> as a method carrying <paramref name="topic"/> and
        /// <paramref name="subscriptionAttributes"/> (<see cref="BulkSubscribeAttribute"/>,
        /// <see cref="TopicMetadataAttribute"/>) would be.
        /// </summary>
        public DaprApp MapTopic<TData>(TopicAttribute topic, IEnumerable<Attribute> subscriptionAttributes, Func<TData, Task<TopicResponseAction>> handler)
        {
            if (handler == null) throw new ArgumentNullException("handler");
            var subscription = MappedSubscription("MapTopic", topic, subscriptionAttributes);
            Subscribe(subscription, delivery => handler((TData)delivery.DataAs(typeof(TData))));
            return this;
        }

        /// <summary>
        /// Subscribes a batch handler, as a method taking a <see cref="BulkSubscribeMessage{TValue}"/>
        /// and carrying <paramref name="topic"/> and <paramref name="subscriptionAttributes"/> (which
        /// need a <see cref="BulkSubscribeAttribute"/> of the topic) would be.
        /// </summary>
        public DaprApp MapBulkTopic<TData>(TopicAttribute topic, IEnumerable<Attribute> subscriptionAttributes, Func<BulkSubscribeMessage<TData>, Task<BulkSubscribeAppResponse>> handler)
        {
            if (handler == null) throw new ArgumentNullException("handler");
            var subscription = MappedSubscription("MapBulkTopic", topic, subscriptionAttributes);
            RequireBulkSubscribe(new[] { subscription }, "MapBulkTopic(" + topic.PubsubName + "/" + topic.Name + ")");
            SubscribeBatches(subscription, batch => handler(batch.MessageOf<TData>()));
            return this;
        }

        private static AppSubscription MappedSubscription(string call, TopicAttribute topic, IEnumerable<Attribute> subscriptionAttributes)
        {
            if (topic == null) throw new ArgumentNullException("topic");
            if (subscriptionAttributes == null) throw new ArgumentNullException("subscriptionAttributes");
            var owner = call + "(" + topic.PubsubName + "/" + topic.Name + ")";
            var attributes = new List<object> { topic };
            foreach (var attribute in subscriptionAttributes)
            {
                if (!(attribute is BulkSubscribeAttribute || attribute is TopicMetadataAttribute))
                {
                    var what = attribute == null ? "null" : attribute.GetType().Name;
                    throw new InvalidArgumentException(owner + ": subscriptionAttributes takes [BulkSubscribe] and [TopicMetadata], not " + what, StatusCode.InvalidArgument, null);
                }
                attributes.Add(attribute);
            }
            return AppSubscription.Of(attributes, owner).Single();
        }

        private void Subscribe(AppSubscription subscription, Func<Delivery, Task<TopicResponseAction>> handler)
        {
            AddSubscription(subscription, false);
            handlers.Add(handler);
            batchHandlers.Add(null);
        }

        private void SubscribeBatches(AppSubscription subscription, Func<BulkDelivery, Task<BulkSubscribeAppResponse>> handler)
        {
            AddSubscription(subscription, true);
            handlers.Add(null);
            batchHandlers.Add(handler);
        }

        private unsafe void AddSubscription(AppSubscription subscription, bool batchHandler)
        {
            if (pullLoop != null) throw new InvalidOperationException("subscriptions must be added before the app starts");
            var request = BridgeRequests.AppSubscribe(subscription.Topic, subscription.Metadata, subscription.BulkSubscribe, batchHandler);
            using (var h = host.Borrow())
            fixed (byte* r = request)
            {
                NativeCall.Check(NativeMethods.dapr_rs_app_subscribe(h.Pointer, r, request.Length));
            }
        }

        /// <summary>The TValue of a method's one BulkSubscribeMessage&lt;TValue&gt; parameter; null: the method takes events one by one.</summary>
        private static Type BatchValueType(MethodInfo method)
        {
            var parameters = method.GetParameters();
            if (parameters.Length != 1) return null;
            var type = parameters[0].ParameterType;
            return type.IsGenericType && type.GetGenericTypeDefinition() == typeof(BulkSubscribeMessage<>) ? type.GetGenericArguments()[0] : null;
        }

        // Without [BulkSubscribe] the sidecar would call a batch handler with batches of one: a forgotten attribute.
        private static void RequireBulkSubscribe(IEnumerable<AppSubscription> subscriptions, string owner)
        {
            foreach (var subscription in subscriptions.Where(s => s.BulkSubscribe == null))
            {
                throw new InvalidArgumentException(owner + " takes a BulkSubscribeMessage, but no [BulkSubscribe] names its topic " + subscription.Topic.Name, StatusCode.InvalidArgument, null);
            }
        }

        /// <summary>Calls a batch method: its parameter gets the batch, its result is the batch's answer.</summary>
        private static Func<BulkDelivery, Task<BulkSubscribeAppResponse>> BatchMethodHandler(MethodInfo method, object target, Type valueType)
        {
            var returnType = method.ReturnType;
            if (returnType != typeof(BulkSubscribeAppResponse) && returnType != typeof(Task<BulkSubscribeAppResponse>))
            {
                throw new ArgumentException("[Topic] method " + method.Name + " takes a BulkSubscribeMessage, so it must return BulkSubscribeAppResponse or Task<BulkSubscribeAppResponse>");
            }
            return async batch =>
            {
                var message = batch.MessageAs(valueType);
                object result;
                try
                {
                    result = method.Invoke(target, new[] { message });
                }
                catch (TargetInvocationException e)
                {
                    throw e.InnerException ?? e;
                }
                var task = result as Task<BulkSubscribeAppResponse>;
                return task != null ? await task.ConfigureAwait(false) : (BulkSubscribeAppResponse)result;
            };
        }

        /// <summary>Calls a [Topic] method: its one parameter gets the data, its result becomes the answer.</summary>
        private static Func<Delivery, Task<TopicResponseAction>> MethodHandler(MethodInfo method, object target)
        {
            var parameters = method.GetParameters();
            if (parameters.Length > 1) throw new ArgumentException("[Topic] method " + method.Name + " must take at most one parameter (the event data)");
            var returnType = method.ReturnType;
            bool ok = returnType == typeof(void) || returnType == typeof(Task) || returnType == typeof(TopicResponseAction) || returnType == typeof(Task<TopicResponseAction>);
            if (!ok) throw new ArgumentException("[Topic] method " + method.Name + " must return void, Task, TopicResponseAction or Task<TopicResponseAction>");
            return async delivery =>
            {
                var args = parameters.Length == 0 ? new object[0] : new[] { delivery.DataAs(parameters[0].ParameterType) };
                object result;
                try
                {
                    result = method.Invoke(target, args);
                }
                catch (TargetInvocationException e)
                {
                    throw e.InnerException ?? e;
                }
                var task = result as Task<TopicResponseAction>;
                if (task != null) return await task.ConfigureAwait(false);
                var plain = result as Task;
                if (plain != null)
                {
                    await plain.ConfigureAwait(false);
                    return TopicResponseAction.Success;
                }
                return result is TopicResponseAction ? (TopicResponseAction)result : TopicResponseAction.Success;
            };
        }

        /// <summary>
        /// Starts serving on <paramref name="port"/> (0 picks a free port; see <see cref="Port"/>)
        /// at <paramref name="host"/>; returns once the port is bound.
        /// </summary>
        public unsafe void Start(int port, string listenHost = "127.0.0.1")
        {
            if (pullLoop != null) throw new InvalidOperationException("the app has already started");
            var request = BridgeRequests.AppStart(protocol == AppProtocol.Grpc ? "grpc" : "http", listenHost, port);
            int bound = 0;
            using (var h = host.Borrow())
            fixed (byte* r = request)
            {
                NativeCall.Check(NativeMethods.dapr_rs_app_start(h.Pointer, r, request.Length, &bound));
            }
            this.port = bound;
            // Both queues end once the server is gone (one without handlers at once).
            pullLoop = Task.WhenAll(Task.Run(() => PullLoop()), Task.Run(() => BulkDelivery.Pump(NextBatch, batch => batchHandlers[batch.Subscription](batch))));
        }

        /// <summary>
        /// Serves until <paramref name="cancellationToken"/> is cancelled (or <see cref="StopAsync"/>),
        /// then stops gracefully. The port defaults to <c>APP_PORT</c>, as <c>dapr run</c> sets it.
        /// </summary>
        public async Task RunAsync(int? port = null, CancellationToken cancellationToken = default(CancellationToken))
        {
            int appPort = port ?? AppPortFromEnvironment();
            Start(appPort);
            using (cancellationToken.Register(() => { _ = StopAsync(); }))
            {
                await pullLoop.ConfigureAwait(false);
            }
        }

        private static int AppPortFromEnvironment()
        {
            var text = Environment.GetEnvironmentVariable("APP_PORT");
            int value;
            if (string.IsNullOrEmpty(text) || !int.TryParse(text, out value)) throw new InvalidOperationException("no port given and APP_PORT is not set to a number");
            return value;
        }

        /// <summary>
        /// Stops taking deliveries; completes once those in flight are answered (within the native
        /// server's grace of 5 s). <paramref name="cancellationToken"/> cancels the wait, not the
        /// stop: the server ends all the same, and the sidecar redelivers what it left unanswered.
        /// </summary>
        public Task StopAsync(CancellationToken cancellationToken = default(CancellationToken))
        {
            return NativeCall.WaitOrCancel(StopAndDrain(), cancellationToken);
        }

        private async Task StopAndDrain()
        {
            await StopNative().ConfigureAwait(false);
            // The pull loop ends once the native queue does (the server and its handlers are gone).
            if (pullLoop != null) await pullLoop.ConfigureAwait(false);
        }

        private unsafe Task<IntPtr> StopNative()
        {
            return NativeCall.Run(userData =>
            {
                using (var h = host.Borrow())
                {
                    return (IntPtr)NativeMethods.dapr_rs_app_stop(h.Pointer, (void*)userData);
                }
            }, CancellationToken.None);
        }

        private Task PullLoop()
        {
            return DeliveryPump.Run(Next, delivery => handlers[delivery.Subscription](delivery), CancellationToken.None);
        }

        private unsafe Task<IntPtr> NextBatch()
        {
            return NativeCall.Run(userData =>
            {
                using (var h = host.Borrow())
                {
                    return (IntPtr)NativeMethods.dapr_rs_app_next_batch(h.Pointer, (void*)userData);
                }
            }, CancellationToken.None);
        }

        private unsafe Task<IntPtr> Next()
        {
            return NativeCall.Run(userData =>
            {
                using (var h = host.Borrow())
                {
                    return (IntPtr)NativeMethods.dapr_rs_app_next(h.Pointer, (void*)userData);
                }
            }, CancellationToken.None);
        }

        public void Dispose()
        {
            host.Dispose();
        }
    }
}
