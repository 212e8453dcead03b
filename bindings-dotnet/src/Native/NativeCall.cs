// The bridge under the C# API: loads the native library's callback, turns its async calls into
// Tasks, its errors into DaprException and its subclasses, and reads the buffers it returns. Every
// declaration it calls is generated from the Rust side (NativeMethods.g.cs, by csbindgen in
// native/build.rs); the requests it takes are encoded by BridgeRequests.
using System;
using System.Runtime.InteropServices;
using System.Text;
using System.Threading;
using System.Threading.Tasks;

namespace DaprRs.Native
{
    internal static class NativeCall
    {
        // Kept in a static field: the native side calls it for the life of the process.
        private static readonly unsafe NativeMethods.dapr_rs_init_completion_delegate Completion = OnCompletion;
        private static readonly UTF8Encoding Utf8 = new UTF8Encoding(false, true);

        static NativeCall()
        {
            NativeMethods.dapr_rs_init(Completion);
            // Mono waits at exit for native threads that have called into managed code: stop the
            // runtime first. nunit and other hosts unload a child domain instead of exiting.
            AppDomain.CurrentDomain.ProcessExit += (s, e) => NativeMethods.dapr_rs_shutdown();
            AppDomain.CurrentDomain.DomainUnload += (s, e) => NativeMethods.dapr_rs_shutdown();
        }

        /// <summary>Makes sure the static constructor ran (the callback is registered).</summary>
        internal static void EnsureInitialized() { }

        /// <summary>One call in flight: the task its completion settles.</summary>
        private sealed class Pending
        {
            internal readonly TaskCompletionSource<IntPtr> Result =
                new TaskCompletionSource<IntPtr>(TaskCreationOptions.RunContinuationsAsynchronously);
        }

        // Runs on a tokio thread: it only settles the task (continuations run on the thread pool).
        private static unsafe void OnCompletion(void* userData, void* result, DaprError* error)
        {
            try
            {
                var handle = GCHandle.FromIntPtr((IntPtr)userData);
                var pending = (Pending)handle.Target;
                handle.Free();
                if (error != null)
                {
                    var exception = ToException(error);
                    NativeMethods.dapr_rs_error_free(error);
                    pending.Result.TrySetException(exception);
                }
                else
                {
                    pending.Result.TrySetResult((IntPtr)result);
                }
            }
            catch (Exception)
            {
                // Never let an exception unwind into Rust.
            }
        }

        /// <summary>
        /// Starts a native async call (<paramref name="start"/> gets the user data and returns the
        /// operation handle) and awaits its result pointer; the token cancels the native call.
        /// </summary>
        internal static async Task<IntPtr> Run(Func<IntPtr, IntPtr> start, CancellationToken cancellationToken)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var pending = new Pending();
            var userData = GCHandle.ToIntPtr(GCHandle.Alloc(pending));
            IntPtr operation;
            try
            {
                operation = start(userData);
            }
            catch
            {
                GCHandle.FromIntPtr(userData).Free();
                throw;
            }
            try
            {
                using (cancellationToken.Register(() => Cancel(operation)))
                {
                    return await pending.Result.Task.ConfigureAwait(false);
                }
            }
            catch (DaprException e) when (e.StatusCode == StatusCode.Cancelled && cancellationToken.IsCancellationRequested)
            {
                throw new OperationCanceledException(e.Message, e, cancellationToken);
            }
            finally
            {
                Free(operation);
            }
        }

        /// <summary>
        /// <paramref name="task"/>, or an OperationCanceledException once the token is cancelled; the
        /// task runs on (for work that must finish whoever waits for it, as an app's stop).
        /// </summary>
        internal static async Task WaitOrCancel(Task task, CancellationToken cancellationToken)
        {
            var cancelled = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
            using (cancellationToken.Register(() => cancelled.TrySetCanceled(cancellationToken)))
            {
                // The cancellation first: a token cancelled already wins over work that finished too.
                await (await Task.WhenAny(cancelled.Task, task).ConfigureAwait(false)).ConfigureAwait(false);
            }
        }

        private static unsafe void Cancel(IntPtr operation)
        {
            NativeMethods.dapr_rs_operation_cancel((void*)operation);
        }

        private static unsafe void Free(IntPtr operation)
        {
            NativeMethods.dapr_rs_operation_free((void*)operation);
        }

        /// <summary>Throws the error a synchronous native call returned (if any) and frees it.</summary>
        internal static unsafe void Check(DaprError* error)
        {
            if (error == null) return;
            var exception = ToException(error);
            NativeMethods.dapr_rs_error_free(error);
            throw exception;
        }

        // The one place an error becomes an exception; its class is the kind core decided
        // (dapr_rs_core::Error::kind), so it matches Python's and Node's by construction.
        private static unsafe DaprException ToException(DaprError* error)
        {
            var message = Decode(error->message);
            var statusCode = (StatusCode)error->grpc_code;
            var errorCode = Decode(error->error_code);
            if (errorCode.Length == 0) errorCode = null;
            switch (error->kind)
            {
                case DaprErrorKind.PubsubNotFound: return new PubsubNotFoundException(message, statusCode, errorCode);
                case DaprErrorKind.TopicForbidden: return new TopicForbiddenException(message, statusCode, errorCode);
                case DaprErrorKind.InvalidArgument: return new InvalidArgumentException(message, statusCode, errorCode);
                case DaprErrorKind.SidecarUnavailable: return new SidecarUnavailableException(message, statusCode, errorCode);
                case DaprErrorKind.Timeout: return new DaprTimeoutException(message, statusCode, errorCode);
                default: return new DaprException(message, statusCode, errorCode);
            }
        }

        internal static unsafe string Decode(DaprBuffer buffer)
        {
            return Decode(buffer.ptr, buffer.len);
        }

        internal static unsafe string Decode(byte* ptr, int len)
        {
            if (ptr == null || len <= 0) return string.Empty;
            return Utf8.GetString(ptr, len);
        }

        internal static unsafe byte[] Copy(byte* ptr, int len)
        {
            var bytes = new byte[Math.Max(len, 0)];
            if (len > 0) Marshal.Copy((IntPtr)ptr, bytes, 0, len);
            return bytes;
        }

        /// <summary>Reads and frees a buffer a call returned.</summary>
        internal static unsafe string TakeString(IntPtr buffer)
        {
            if (buffer == IntPtr.Zero) return string.Empty;
            try { return Decode(*(DaprBuffer*)buffer); }
            finally { NativeMethods.dapr_rs_buffer_free((DaprBuffer*)buffer); }
        }
    }
}
