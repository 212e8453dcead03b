using System;
using CheckoutService.controller;
using DaprRs;

namespace CheckoutService
{
    class Program
    {
        static void Main(string[] args)
        {
            // Serves the sidecar's calls on APP_PORT (set by `dapr-rs run --app-port`) until stopped.
            var port = int.Parse(Environment.GetEnvironmentVariable("APP_PORT") ?? "6002");
            using (var app = new DaprApp(AppProtocol.Http).MapSubscribers(new CheckoutServiceController()))
            {
                app.RunAsync(port).GetAwaiter().GetResult();
            }
        }
    }
}
