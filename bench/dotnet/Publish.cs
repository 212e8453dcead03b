// Publish throughput of the .NET binding (DaprRs under Mono) against a sidecar: serial (1 in
// flight) and 100 in flight, the same JSON payload as bench/src/bin/publish_throughput.rs.
// Usage: mono Publish.exe <grpc endpoint> <count>. Prints one line per run (scripts/bench.sh).
using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Threading;
using System.Threading.Tasks;
using DaprRs;

class Publish
{
    public class Order
    {
        public int OrderId { get; set; }
    }

    static void Main(string[] args)
    {
        Console.OutputEncoding = new System.Text.UTF8Encoding(false);
        Run(args[0], int.Parse(args[1])).GetAwaiter().GetResult();
    }

    static async Task<double> Rate(DaprClient client, int count, int inFlight)
    {
        int next = 0;
        var order = new Order { OrderId = 42 };
        var watch = Stopwatch.StartNew();
        var workers = new List<Task>();
        for (int w = 0; w < inFlight; w++)
        {
            workers.Add(Task.Run(async () =>
            {
                while (Interlocked.Increment(ref next) <= count)
                {
                    await client.PublishEventAsync("order_pub_sub", "bench", order).ConfigureAwait(false);
                }
            }));
        }
        await Task.WhenAll(workers);
        return count / watch.Elapsed.TotalSeconds;
    }

    static async Task Run(string endpoint, int count)
    {
        using (var client = new DaprClientBuilder().UseGrpcEndpoint(endpoint).Build())
        {
            await client.WaitForSidecarAsync(TimeSpan.FromSeconds(20));
            foreach (var inFlight in new[] { 1, 100 })
            {
                int n = inFlight == 1 ? Math.Max(1000, count / 5) : count;
                await Rate(client, 2000, inFlight); // warm-up: the connection, the JIT
                var rate = await Rate(client, n, inFlight);
                Console.WriteLine("dotnet publish (Mono), " + inFlight + " in flight: " + Math.Round(rate) + " events/s (" + n + " events)");
            }
        }
        // The floor under the binding (issue #19): a call handed to the native runtime and completed
        // back with nothing to do, serially, best of 3.
        int calls = Math.Max(1000, count / 5);
        double floorUs = double.MaxValue;
        for (int round = 0; round < 3; round++)
        {
            var watch = Stopwatch.StartNew();
            for (int i = 0; i < calls; i++) await DaprClient.NativeRoundTripAsync().ConfigureAwait(false);
            floorUs = Math.Min(floorUs, watch.Elapsed.TotalMilliseconds * 1000.0 / calls);
        }
        Console.WriteLine("dotnet native floor: a call through the C ABI's runtime and back with nothing to do takes " + floorUs.ToString("F1") + " µs (best of 3 x " + calls + " calls)");
    }
}
