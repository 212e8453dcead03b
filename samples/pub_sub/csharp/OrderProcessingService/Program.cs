// The Dapr pub/sub quickstart's C# publisher on DaprRs: the quickstart's loop with only its `using`
// lines changed (and `using var` / async Main spelled as Mono's C# 7 compiler accepts them).
using System;
using System.Threading;
using System.Threading.Tasks;
using DaprRs;

namespace EventService
{
    class Program
    {
        static void Main(string[] args)
        {
            MainAsync(args).GetAwaiter().GetResult();
        }

        static async Task MainAsync(string[] args)
        {
           // Set by `make quickstart`: how many orders, and how far apart.
           int ORDER_COUNT = int.Parse(Environment.GetEnvironmentVariable("ORDER_COUNT") ?? "10");
           int PUBLISH_INTERVAL_MS = int.Parse(Environment.GetEnvironmentVariable("PUBLISH_INTERVAL_MS") ?? "200");
           using (var client = new DaprClientBuilder().Build())
           {
               await client.WaitForSidecarAsync(TimeSpan.FromSeconds(60));
           }
           string PUBSUB_NAME = "order_pub_sub";
           string TOPIC_NAME = "orders";
           for (int orderId = 1; orderId <= ORDER_COUNT; orderId++) {
                CancellationTokenSource source = new CancellationTokenSource();
                CancellationToken cancellationToken = source.Token;
                using (var client = new DaprClientBuilder().Build())
                await client.PublishEventAsync(PUBSUB_NAME, TOPIC_NAME, orderId, cancellationToken);
                Console.WriteLine("Published data: " + orderId);
                System.Threading.Thread.Sleep(PUBLISH_INTERVAL_MS);
           }
        }
    }
}
