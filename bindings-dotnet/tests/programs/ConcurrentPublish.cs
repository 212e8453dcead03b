// A program of its own, run by ProcessTests as a child process: publishes COUNT events at once to a
// topic it also subscribes to (a streaming subscription, and optionally a DaprApp), waits until
// every one is delivered, prints what it saw, and returns from Main without disposing anything —
// the process must then exit on its own.
// Usage: ConcurrentPublish.exe <grpc endpoint> <topic> <count> [app]
using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Threading;
using System.Threading.Tasks;
using DaprRs;

class ConcurrentPublish
{
    static int Main(string[] args)
    {
        if (args.Length > 3 && args[3] == "app")
        {
            // An app server too (its own native threads), left running.
            var app = new DaprApp(AppProtocol.Grpc);
            app.MapTopic<int>(new TopicAttribute("order_pub_sub", args[1] + "-app"), n => Task.FromResult(TopicResponseAction.Success));
            app.Start(0);
            Console.WriteLine("app server on port " + app.Port);
        }
        return Run(args[0], args[1], int.Parse(args[2])).GetAwaiter().GetResult();
    }

    static async Task<int> Run(string endpoint, string topic, int count)
    {
        var client = new DaprClientBuilder().UseGrpcEndpoint(endpoint).Build();
        await client.WaitForSidecarAsync(TimeSpan.FromSeconds(20));
        var seen = new ConcurrentDictionary<int, bool>();
        var all = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
        await client.SubscribeAsync("order_pub_sub", topic, (message, ct) =>
        {
            seen[message.DataAs<int>()] = true;
            if (seen.Count == count) all.TrySetResult(true);
            return Task.FromResult(TopicResponseAction.Success);
        });
        var started = DateTime.UtcNow;
        var publishes = new List<Task>(count);
        for (int i = 0; i < count; i++) publishes.Add(client.PublishEventAsync("order_pub_sub", topic, i));
        await Task.WhenAll(publishes);
        var published = DateTime.UtcNow - started;
        var done = await Task.WhenAny(all.Task, Task.Delay(TimeSpan.FromSeconds(90)));
        Console.WriteLine("published " + count + " in " + (int)published.TotalMilliseconds + " ms, received " + seen.Count);
        // No Dispose: the process must still exit when Main returns.
        return done == all.Task ? 0 : 1;
    }
}
