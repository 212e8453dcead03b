// Test support: real `dapr-rs sidecar` processes on free loopback ports (the binary from
// DAPR_RS_BIN, else $CARGO_TARGET_DIR/release/dapr-rs), component files written per test, and an
// inbox of delivered events. The C# twin of bindings-node/__test__/sidecar.js.
using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Threading;

namespace DaprRs.Tests
{
    public sealed class Component
    {
        public string Name;
        public string Type;
        public Dictionary<string, string> Metadata = new Dictionary<string, string>();
    }

    public sealed class Sidecar : IDisposable
    {
        public const string Pubsub = "order_pub_sub";

        private Process process;
        private readonly string appId;
        private readonly string resources;
        private readonly int appPort;
        private readonly string protocol;
        private readonly Dictionary<string, string> env;

        public int HttpPort { get; private set; }
        public int GrpcPort { get; private set; }
        /// <summary>Where its Prometheus metrics are served (daprd's names).</summary>
        public int MetricsPort { get; private set; }
        public string GrpcEndpoint { get { return "http://127.0.0.1:" + GrpcPort; } }

        private Sidecar(string appId, string resources, int appPort, string protocol, Dictionary<string, string> env)
        {
            this.appId = appId;
            this.resources = resources;
            this.appPort = appPort;
            this.protocol = protocol;
            this.env = env ?? new Dictionary<string, string>();
            HttpPort = FreePort();
            GrpcPort = FreePort();
            MetricsPort = FreePort();
        }

        /// <summary>Starts a sidecar; returns once its outbound API answers.</summary>
        public static Sidecar Start(string appId, string resources, int appPort = 0, string protocol = "http", Dictionary<string, string> env = null)
        {
            var s = new Sidecar(appId, resources, appPort, protocol, env);
            s.Spawn();
            return s;
        }

        public static string Binary()
        {
            var target = Environment.GetEnvironmentVariable("CARGO_TARGET_DIR");
            var bin = Environment.GetEnvironmentVariable("DAPR_RS_BIN");
            if (string.IsNullOrEmpty(bin)) bin = Path.Combine(string.IsNullOrEmpty(target) ? Path.Combine(Root(), "target") : target, "release", "dapr-rs");
            if (!File.Exists(bin)) throw new InvalidOperationException("the dapr-rs sidecar binary is missing at " + bin + ": run `make sidecar` (or set DAPR_RS_BIN)");
            return bin;
        }

        /// <summary>The repository root (tests run from bindings-dotnet/bin).</summary>
        public static string Root()
        {
            var dir = new DirectoryInfo(AppDomain.CurrentDomain.BaseDirectory);
            while (dir != null && !File.Exists(Path.Combine(dir.FullName, "Cargo.toml")) ) dir = dir.Parent;
            while (dir != null && !Directory.Exists(Path.Combine(dir.FullName, "bindings-dotnet"))) dir = dir.Parent;
            if (dir == null) throw new InvalidOperationException("cannot find the repository root from " + AppDomain.CurrentDomain.BaseDirectory);
            return dir.FullName;
        }

        private void Spawn()
        {
            var args = new StringBuilder();
            args.AppendFormat("sidecar --app-id {0} --app-protocol {1} --resources-path {2} --dapr-http-port {3} --dapr-grpc-port {4}",
                appId, protocol, resources, HttpPort, GrpcPort);
            if (appPort > 0) args.Append(" --app-port ").Append(appPort);
            args.Append(" --metrics-port ").Append(MetricsPort); // several sidecars run at once; 9090 may be taken
            var info = new ProcessStartInfo(Binary(), args.ToString()) { UseShellExecute = false, RedirectStandardOutput = true };
            info.EnvironmentVariables.Remove("DAPR_API_TOKEN");
            info.EnvironmentVariables.Remove("APP_API_TOKEN");
            foreach (var kv in env) info.EnvironmentVariables[kv.Key] = kv.Value;
            process = Process.Start(info);
            process.OutputDataReceived += (s, e) => { };
            process.BeginOutputReadLine();
            WaitHttp("/v1.0/healthz/outbound", 204);
        }

        /// <summary>Waits until GET <paramref name="path"/> answers <paramref name="status"/>.</summary>
        public void WaitHttp(string path, int status, int timeoutMs = 20000)
        {
            var deadline = DateTime.UtcNow.AddMilliseconds(timeoutMs);
            while (true)
            {
                if (process.HasExited) throw new InvalidOperationException("sidecar " + appId + " exited with " + process.ExitCode + " while waiting for " + path);
                if (HttpStatus("http://127.0.0.1:" + HttpPort + path) == status) return;
                if (DateTime.UtcNow > deadline) throw new TimeoutException(path + " of sidecar " + appId + " did not answer " + status + " within " + timeoutMs + " ms");
                Thread.Sleep(20);
            }
        }

        /// <summary>The sum of the samples of metric <paramref name="name"/> whose labels include each of
        /// <paramref name="labels"/> (e.g. <c>topic="orders"</c>); 0 when there is none.</summary>
        public double Metric(string name, params string[] labels)
        {
            double sum = 0;
            foreach (var line in HttpGet("http://127.0.0.1:" + MetricsPort + "/metrics").Split('\n'))
            {
                if (!line.StartsWith(name + "{", StringComparison.Ordinal) && !line.StartsWith(name + " ", StringComparison.Ordinal)) continue;
                if (labels.Any(l => !line.Contains(l))) continue;
                sum += double.Parse(line.Substring(line.LastIndexOf(' ') + 1), System.Globalization.CultureInfo.InvariantCulture);
            }
            return sum;
        }

        /// <summary>
        /// <see cref="Metric"/> once it is at least <paramref name="atLeast"/> and has not moved for
        /// 300 ms: the sidecar records a call after the app answered it, so a handler's last event
        /// can arrive before its call is counted.
        /// </summary>
        public double SettledMetric(string name, double atLeast, params string[] labels)
        {
            var deadline = DateTime.UtcNow.AddSeconds(10);
            double last = double.NaN;
            var since = DateTime.UtcNow;
            while (true)
            {
                var value = Metric(name, labels);
                if (value != last) { last = value; since = DateTime.UtcNow; }
                else if (value >= atLeast && DateTime.UtcNow - since >= TimeSpan.FromMilliseconds(300)) return value;
                if (DateTime.UtcNow > deadline) throw new TimeoutException(name + " " + string.Join(",", labels) + " did not settle at " + atLeast + " or more within 10 s; last " + last);
                Thread.Sleep(50);
            }
        }

        /// <summary>The body of a GET that must answer 2xx within 10 s.</summary>
        public static string HttpGet(string url)
        {
            var req = (HttpWebRequest)WebRequest.Create(url);
            req.Timeout = 10000;
            using (var resp = (HttpWebResponse)req.GetResponse())
            using (var reader = new StreamReader(resp.GetResponseStream(), Encoding.UTF8))
            {
                return reader.ReadToEnd();
            }
        }

        private static int HttpStatus(string url)
        {
            try
            {
                var req = (HttpWebRequest)WebRequest.Create(url);
                req.Timeout = 2000;
                using (var resp = (HttpWebResponse)req.GetResponse()) return (int)resp.StatusCode;
            }
            catch (WebException e)
            {
                var resp = e.Response as HttpWebResponse;
                return resp == null ? 0 : (int)resp.StatusCode;
            }
        }

        public void Stop()
        {
            if (process == null || process.HasExited) return;
            Syscall.Kill(process.Id, 15);
            if (!process.WaitForExit(15000)) process.Kill();
            process.WaitForExit();
        }

        /// <summary>Stops the sidecar and starts it again on the same ports.</summary>
        public void Restart()
        {
            Stop();
            Spawn();
        }

        public void Dispose()
        {
            Stop();
        }

        public static int FreePort()
        {
            var listener = new TcpListener(IPAddress.Loopback, 0);
            listener.Start();
            int port = ((IPEndPoint)listener.LocalEndpoint).Port;
            listener.Stop();
            return port;
        }

        /// <summary>A temp resources dir with one YAML file per component.</summary>
        public static string ResourcesDir(params Component[] components)
        {
            var dir = Path.Combine(Path.GetTempPath(), "dapr-rs-dotnet-" + Guid.NewGuid().ToString("N"));
            Directory.CreateDirectory(dir);
            foreach (var c in components)
            {
                var sb = new StringBuilder();
                sb.Append("apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: ").Append(c.Name)
                  .Append("\nspec:\n  type: ").Append(c.Type).Append("\n  version: v1\n  metadata:\n");
                foreach (var kv in c.Metadata) sb.Append("  - name: ").Append(kv.Key).Append("\n    value: \"").Append(kv.Value).Append("\"\n");
                File.WriteAllText(Path.Combine(dir, c.Name + ".yaml"), sb.ToString());
            }
            return dir;
        }

        public static string InMemory()
        {
            return ResourcesDir(new Component { Name = Pubsub, Type = "pubsub.in-memory" });
        }

        /// <summary>A SQLite broker in its own file (it survives a sidecar restart).</summary>
        public static string Sqlite(out string dbPath)
        {
            dbPath = Path.Combine(ResourcesDir(), "pubsub.db");
            var c = new Component { Name = Pubsub, Type = "pubsub.sqlite" };
            c.Metadata["path"] = dbPath;
            return ResourcesDir(c);
        }

        public static string Unique(string prefix)
        {
            return prefix + "-" + Guid.NewGuid().ToString("N").Substring(0, 8);
        }
    }

    /// <summary>Subscriber methods hosted by a <see cref="DaprApp"/>, a sidecar delivering to it on
    /// the in-memory broker (running its subscriptions), and a client of that sidecar.</summary>
    public sealed class SubscribedApp : IDisposable
    {
        public readonly DaprApp App;
        public readonly Sidecar Sidecar;
        public readonly DaprClient Client;

        public SubscribedApp(object subscribers, AppProtocol protocol)
        {
            App = new DaprApp(protocol).MapSubscribers(subscribers);
            App.Start(0);
            Sidecar = Sidecar.Start("checkout", Sidecar.InMemory(), App.Port, protocol == AppProtocol.Grpc ? "grpc" : "http");
            Sidecar.WaitHttp("/v1.0/healthz", 204);
            Client = new DaprClientBuilder().UseGrpcEndpoint(Sidecar.GrpcEndpoint).Build();
        }

        public void Dispose()
        {
            Client.Dispose();
            Sidecar.Dispose();
            App.StopAsync().Wait();
            App.Dispose();
        }
    }

    /// <summary>kill(2), for a graceful SIGTERM (Process.Kill is SIGKILL).</summary>
    internal static class Syscall
    {
        [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "kill")]
        private static extern int kill(int pid, int sig);

        public static void Kill(int pid, int signal)
        {
            kill(pid, signal);
        }
    }

    /// <summary>Items delivered to handlers, taken in arrival order with a timeout.</summary>
    public sealed class Inbox<T>
    {
        private readonly BlockingCollection<T> items = new BlockingCollection<T>();

        public void Add(T item)
        {
            items.Add(item);
        }

        public List<T> Take(int count, int timeoutMs = 20000)
        {
            var got = new List<T>();
            var deadline = DateTime.UtcNow.AddMilliseconds(timeoutMs);
            while (got.Count < count)
            {
                T item;
                var left = (int)Math.Max(0, (deadline - DateTime.UtcNow).TotalMilliseconds);
                if (!items.TryTake(out item, left)) throw new TimeoutException("received " + got.Count + " of " + count + " items");
                got.Add(item);
            }
            return got;
        }

        public T TakeOne(int timeoutMs = 20000)
        {
            return Take(1, timeoutMs)[0];
        }

        /// <summary>Fails if anything arrives within <paramref name="ms"/>.</summary>
        public void NothingFor(int ms)
        {
            T item;
            if (items.TryTake(out item, ms)) throw new InvalidOperationException("unexpected item: " + item);
        }
    }
}
