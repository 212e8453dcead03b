// Publish throughput of the .NET binding (DaprRs under Mono) against a sidecar: serial (1 in
// flight) and 100 in flight, the same JSON payload as bench/src/bin/publish_throughput.rs.
// Usage: mono Publish.exe <grpc endpoint> <count> [work µs: the bare core's serial publish, for the
// floor; "rates-only": the two rates alone (the bench's interleaved rounds)]. Prints one line per
// run (scripts/bench.sh).
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
        bool ratesOnly = args.Length > 2 && args[2] == "rates-only";
        int workUs = args.Length > 2 && !ratesOnly ? int.Parse(args[2]) : 0;
        Run(args[0], int.Parse(args[1]), workUs, ratesOnly).GetAwaiter().GetResult();
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

    static async Task Run(string endpoint, int count, int workUs, bool ratesOnly)
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
        if (ratesOnly) return;
        // The floor under the binding (issue #19): a call handed to the native runtime and completed
        // back, best of 3; with nothing to do, serially (the caller is still awake when it completes)
        // and 100 in flight (as the publish runs above), then serially with a serial publish's time of
        // work on the runtime (the caller has gone idle and is woken).
        int calls = Math.Max(1000, count / 5);
        Console.WriteLine("dotnet native floor: a call through the C ABI's runtime and back with nothing to do takes " + (await FloorUs(calls, 0)).ToString("F1") + " µs (best of 3 x " + calls + " calls); " + (await FloorUs(calls, 0, 100)).ToString("F1") + " µs a call, 100 in flight");
        if (workUs > 0)
        {
            double us = await FloorUs(calls, workUs);
            Console.WriteLine("dotnet native floor, caller idle: a call the C ABI's runtime completes after " + workUs + " µs of work takes " + us.ToString("F1") + " µs, " + (us - workUs).ToString("F1") + " µs over the work (best of 3 x " + calls + " calls)");
        }
    }

    static async Task<double> FloorUs(int calls, int workUs, int inFlight = 1)
    {
        double best = double.MaxValue;
        for (int round = 0; round < 3; round++)
        {
            int next = 0;
            var watch = Stopwatch.StartNew();
            var workers = new List<Task>();
            for (int w = 0; w < inFlight; w++)
            {
                workers.Add(Task.Run(async () =>
                {
                    while (Interlocked.Increment(ref next) <= calls)
                    {
                        await DaprClient.NativeRoundTripAsync(workUs).ConfigureAwait(false);
                    }
                }));
            }
            await Task.WhenAll(workers);
            best = Math.Min(best, watch.Elapsed.TotalMilliseconds * 1000.0 / calls);
        }
        return best;
    }
}
