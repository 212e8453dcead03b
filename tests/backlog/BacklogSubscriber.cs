// The backlog test's subscriber app in C#: a DaprApp (gRPC app protocol) with PREFIX-0 …
// PREFIX-(COUNT-1) subscribed at run time (MapTopic), recording every delivery before answering
// Success.
//
// Usage: mono BacklogSubscriber.exe APP_PORT PUBSUB PREFIX COUNT DELIVERIES_FILE
// Each delivery appends "<topic> <data>" to DELIVERIES_FILE.
using System;
using System.IO;
using System.Text;
using System.Threading.Tasks;
using DaprRs;

static class BacklogSubscriber
{
    static void Main(string[] args)
    {
        int port = int.Parse(args[0]);
        string pubsub = args[1], prefix = args[2];
        int count = int.Parse(args[3]);
        using (var deliveries = new FileStream(args[4], FileMode.Append, FileAccess.Write, FileShare.ReadWrite))
        using (var app = new DaprApp(AppProtocol.Grpc))
        {
            for (int i = 0; i < count; i++)
            {
                var topic = prefix + "-" + i;
                app.MapTopic<string>(new TopicAttribute(pubsub, topic), data =>
                {
                    Record(deliveries, topic, data);
                    return Task.FromResult(TopicResponseAction.Success);
                });
            }
            app.RunAsync(port).GetAwaiter().GetResult();
        }
    }

    // One write per line under a lock (handlers run on the thread pool), flushed to the kernel
    // before the handler answers and the sidecar acknowledges the message.
    static void Record(FileStream deliveries, string topic, string data)
    {
        var line = Encoding.UTF8.GetBytes(topic + " " + data + "\n");
        lock (deliveries)
        {
            deliveries.Write(line, 0, line.Length);
            deliveries.Flush();
        }
    }
}
