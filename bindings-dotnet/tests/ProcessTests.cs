// Whole programs in child processes: 10,000 concurrent publishes all delivered, and the process
// exits on its own when Main returns (Mono hangs at exit if the native runtime is left running).
using System;
using System.Diagnostics;
using System.IO;
using System.Linq;
using NUnit.Framework;

namespace DaprRs.Tests
{
    [TestFixture]
    public class ProcessTests
    {
        public static string Run(string file, string args, int timeoutMs, out int exitCode, System.Collections.Generic.Dictionary<string, string> env = null)
        {
            var info = new ProcessStartInfo(file, args) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
            if (env != null) foreach (var kv in env) info.EnvironmentVariables[kv.Key] = kv.Value;
            using (var p = Process.Start(info))
            {
                var stdout = p.StandardOutput.ReadToEndAsync();
                var stderr = p.StandardError.ReadToEndAsync();
                if (!p.WaitForExit(timeoutMs))
                {
                    // What it hangs on: its threads (native names), and Mono's managed thread dump (SIGQUIT).
                    var threads = string.Join(", ", Directory.GetDirectories("/proc/" + p.Id + "/task").Select(t => ReadOrEmpty(t + "/comm").Trim() + " in " + ReadOrEmpty(t + "/wchan")));
                    Syscall.Kill(p.Id, 3);
                    System.Threading.Thread.Sleep(1000);
                    p.Kill();
                    p.WaitForExit();
                    Assert.Fail(file + " " + args + " did not exit within " + timeoutMs + " ms; threads: " + threads + "; output: " + stdout.Result + stderr.Result);
                }
                p.WaitForExit();
                exitCode = p.ExitCode;
                return stdout.Result + stderr.Result;
            }
        }

        private static string ReadOrEmpty(string path)
        {
            try { return File.ReadAllText(path); }
            catch (Exception) { return string.Empty; }
        }

        [Test]
        public void Ten_thousand_concurrent_publishes_are_all_delivered_and_the_process_exits()
        {
            string db;
            using (var sidecar = Sidecar.Start("loadtest", Sidecar.Sqlite(out db)))
            {
                var program = Path.Combine(AppDomain.CurrentDomain.BaseDirectory, "ConcurrentPublish.exe");
                int exitCode;
                var output = Run("mono", "\"" + program + "\" " + sidecar.GrpcEndpoint + " " + Sidecar.Unique("load") + " 10000", 180000, out exitCode);
                StringAssert.Contains("received 10000", output);
                Assert.AreEqual(0, exitCode, output);
            }
        }

        [Test]
        public void A_process_with_a_client_a_subscription_and_an_app_server_exits_on_its_own()
        {
            using (var sidecar = Sidecar.Start("exittest", Sidecar.InMemory()))
            {
                var program = Path.Combine(AppDomain.CurrentDomain.BaseDirectory, "ConcurrentPublish.exe");
                int exitCode;
                var output = Run("mono", "\"" + program + "\" " + sidecar.GrpcEndpoint + " " + Sidecar.Unique("exit") + " 10 app", 30000, out exitCode);
                StringAssert.Contains("app server on port", output);
                StringAssert.Contains("received 10", output);
                Assert.AreEqual(0, exitCode, output);
            }
        }
    }
}
