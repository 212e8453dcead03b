// The native handles as SafeHandles: each is freed exactly once, by its own free function, even
// when its owner is never disposed.
using System;
using System.Runtime.InteropServices;

namespace DaprRs.Native
{
    internal abstract class NativeHandle : SafeHandle
    {
        protected NativeHandle(IntPtr handle) : base(IntPtr.Zero, true)
        {
            SetHandle(handle);
        }

        public override bool IsInvalid { get { return handle == IntPtr.Zero; } }

        /// <summary>
        /// The raw pointer for one native call, kept valid (not freed by another thread) until the
        /// lease is disposed; throws ObjectDisposedException once the handle is closed.
        /// </summary>
        internal Lease Borrow()
        {
            bool added = false;
            DangerousAddRef(ref added);
            return new Lease(this);
        }

        internal unsafe struct Lease : IDisposable
        {
            private readonly NativeHandle owner;
            internal readonly void* Pointer;

            internal Lease(NativeHandle owner)
            {
                this.owner = owner;
                Pointer = (void*)owner.DangerousGetHandle();
            }

            public void Dispose()
            {
                owner.DangerousRelease();
            }
        }
    }

    internal sealed unsafe class ClientHandle : NativeHandle
    {
        internal ClientHandle(IntPtr handle) : base(handle) { }

        protected override bool ReleaseHandle()
        {
            NativeMethods.dapr_rs_client_free((void*)handle);
            return true;
        }
    }

    internal sealed unsafe class AppHostHandle : NativeHandle
    {
        internal AppHostHandle(IntPtr handle) : base(handle) { }

        protected override bool ReleaseHandle()
        {
            NativeMethods.dapr_rs_app_free((void*)handle);
            return true;
        }
    }

    internal sealed unsafe class StreamHandle : NativeHandle
    {
        internal StreamHandle(IntPtr handle) : base(handle) { }

        protected override bool ReleaseHandle()
        {
            NativeMethods.dapr_rs_stream_free((void*)handle);
            return true;
        }
    }
}
