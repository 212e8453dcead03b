// The .nupkg as a user consumes it: installed from a local folder source with `nuget install`, a
// classic project (xbuild) referencing its lib/ assembly and importing its build/ targets, and the
// quickstart's publisher loop with only its `using` lines changed, publishing to a subscriber in
// the same program; no file of the source tree is used.
using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using NUnit.Framework;

namespace DaprRs.Tests
{
    [TestFixture]
    public class PackageTests
    {
        private const string Program = @"using System;
using System.Collections.Generic;
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
           var received = new TaskCompletionSource<bool>();
           using (var subscriber = new DaprClientBuilder().Build())
           using (await subscriber.SubscribeAsync(""order_pub_sub"", ""orders"", (message, ct) =>
           {
               Console.WriteLine(""Subscriber received : "" + message.DataAs<int>());
               received.TrySetResult(true);
               return Task.FromResult(TopicResponseAction.Success);
           }))
           {
           string PUBSUB_NAME = ""order_pub_sub"";
           string TOPIC_NAME = ""orders"";
           for (int i = 0; i < 3; i++) {
                System.Threading.Thread.Sleep(50);
                Random random = new Random();
                int orderId = random.Next(1,1000);
                CancellationTokenSource source = new CancellationTokenSource();
                CancellationToken cancellationToken = source.Token;
                using (var client = new DaprClientBuilder().Build())
                await client.PublishEventAsync(PUBSUB_NAME, TOPIC_NAME, orderId, cancellationToken);
                Console.WriteLine(""Published data: "" + orderId);
           }
           await Task.WhenAny(received.Task, Task.Delay(20000));
           }
        }
    }
}
";

        private const string Project = @"<?xml version=""1.0"" encoding=""utf-8""?>
<Project ToolsVersion=""4.0"" DefaultTargets=""Build"" xmlns=""http://schemas.microsoft.com/developer/msbuild/2003"">
  <PropertyGroup>
    <OutputType>Exe</OutputType>
    <AssemblyName>OrderProcessingService</AssemblyName>
    <TargetFrameworkVersion>v4.6.2</TargetFrameworkVersion>
    <OutputPath>out/</OutputPath>
  </PropertyGroup>
  <ItemGroup>
    <Reference Include=""System"" />
    <Reference Include=""DaprRs""><HintPath>packages/DaprRs.VERSION/lib/net462/DaprRs.dll</HintPath></Reference>
    <Compile Include=""Program.cs"" />
  </ItemGroup>
  <Import Project=""$(MSBuildToolsPath)/Microsoft.CSharp.targets"" />
  <Import Project=""packages/DaprRs.VERSION/build/DaprRs.targets"" />
</Project>
";

        [Test]
        public void The_nupkg_builds_and_runs_the_quickstart_publisher()
        {
            var nupkg = Environment.GetEnvironmentVariable("DAPRRS_NUPKG");
            Assert.IsFalse(string.IsNullOrEmpty(nupkg), "DAPRRS_NUPKG is not set (run the tests with `make test-dotnet`)");
            Assert.IsTrue(File.Exists(nupkg), nupkg + " is missing (`make nuget` builds it)");
            var version = Path.GetFileNameWithoutExtension(nupkg).Substring("DaprRs.".Length);
            var dir = Path.Combine(Path.GetTempPath(), "daprrs-consumer-" + Guid.NewGuid().ToString("N"));
            Directory.CreateDirectory(dir);
            int exitCode;
            var output = ProcessTests.Run("nuget", "install DaprRs -Version " + version + " -Source \"" + Path.GetDirectoryName(nupkg) + "\" -OutputDirectory \"" + Path.Combine(dir, "packages") + "\" -NonInteractive", 120000, out exitCode);
            Assert.AreEqual(0, exitCode, output);
            var package = Path.Combine(dir, "packages", "DaprRs." + version);
            Assert.IsTrue(File.Exists(Path.Combine(package, "lib", "net462", "DaprRs.dll")), output);
            Assert.IsTrue(File.Exists(Path.Combine(package, "runtimes", "linux-x64", "native", "libdapr_rs_ffi.so")));
            Assert.IsTrue(File.Exists(Path.Combine(package, "build", "DaprRs.targets")));

            File.WriteAllText(Path.Combine(dir, "Program.cs"), Program);
            File.WriteAllText(Path.Combine(dir, "OrderProcessingService.csproj"), Project.Replace("VERSION", version));
            output = ProcessTests.Run("xbuild", "/nologo /v:minimal \"" + Path.Combine(dir, "OrderProcessingService.csproj") + "\"", 120000, out exitCode);
            Assert.AreEqual(0, exitCode, output);
            Assert.IsTrue(File.Exists(Path.Combine(dir, "out", "libdapr_rs_ffi.so")), "the package's targets must put the native library beside the app");

            using (var sidecar = Sidecar.Start("orderprocessing", Sidecar.InMemory()))
            {
                var env = new Dictionary<string, string> { { "DAPR_GRPC_PORT", sidecar.GrpcPort.ToString() }, { "DAPR_GRPC_ENDPOINT", "" } };
                output = ProcessTests.Run("mono", "\"" + Path.Combine(dir, "out", "OrderProcessingService.exe") + "\"", 60000, out exitCode, env);
                Assert.AreEqual(0, exitCode, output);
                var lines = output.Split('\n');
                Assert.AreEqual(3, lines.Count(l => l.StartsWith("Published data: ")), output);
                Assert.GreaterOrEqual(lines.Count(l => l.StartsWith("Subscriber received : ")), 1, output);
            }
        }
    }
}
