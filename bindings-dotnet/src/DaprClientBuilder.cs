using System;
using DaprRs.Native;

namespace DaprRs
{
    /// <summary>
    /// Builds a <see cref="DaprClient"/>, as Dapr.Client's builder does. Unset values come from the
    /// environment: <c>DAPR_GRPC_ENDPOINT</c> (else <c>DAPR_RUNTIME_HOST</c> / <c>DAPR_GRPC_PORT</c>,
    /// else 127.0.0.1:50001) and <c>DAPR_API_TOKEN</c>.
    /// </summary>
    public sealed class DaprClientBuilder
    {
        private string grpcEndpoint;
        private string daprApiToken;
        private TimeSpan timeout = TimeSpan.Zero;

        /// <summary>The sidecar's gRPC endpoint, e.g. <c>http://127.0.0.1:50001</c>.</summary>
        public DaprClientBuilder UseGrpcEndpoint(string grpcEndpoint)
        {
            if (string.IsNullOrEmpty(grpcEndpoint)) throw new ArgumentException("the gRPC endpoint must not be empty", "grpcEndpoint");
            this.grpcEndpoint = grpcEndpoint;
            return this;
        }

        /// <summary>Sent as <c>dapr-api-token</c> on every call; null or empty sends none.</summary>
        public DaprClientBuilder UseDaprApiToken(string apiToken)
        {
            daprApiToken = apiToken ?? string.Empty;
            return this;
        }

        /// <summary>The deadline of each call (zero: none).</summary>
        public DaprClientBuilder UseTimeout(TimeSpan timeout)
        {
            if (timeout < TimeSpan.Zero) throw new ArgumentOutOfRangeException("timeout", "the timeout must not be negative");
            this.timeout = timeout;
            return this;
        }

        public unsafe DaprClient Build()
        {
            NativeCall.EnsureInitialized();
            var request = BridgeRequests.ClientOptions(grpcEndpoint, daprApiToken, timeout);
            void* client = null;
            fixed (byte* r = request)
            {
                NativeCall.Check(NativeMethods.dapr_rs_client_new(r, request.Length, &client));
            }
            return new DaprClient(new ClientHandle((IntPtr)client));
        }
    }
}
