using System;

namespace DaprRs
{
    /// <summary>gRPC status codes, numbered as gRPC numbers them (Grpc.Core.StatusCode).</summary>
    public enum StatusCode
    {
        OK = 0,
        Cancelled = 1,
        Unknown = 2,
        InvalidArgument = 3,
        DeadlineExceeded = 4,
        NotFound = 5,
        AlreadyExists = 6,
        PermissionDenied = 7,
        ResourceExhausted = 8,
        FailedPrecondition = 9,
        Aborted = 10,
        OutOfRange = 11,
        Unimplemented = 12,
        Internal = 13,
        Unavailable = 14,
        DataLoss = 15,
        Unauthenticated = 16,
    }

    /// <summary>
    /// A failed Dapr call: the gRPC status code, the Dapr error code the sidecar sent (e.g.
    /// <c>ERR_PUBSUB_NOT_FOUND</c>, null when none) and the message. What went wrong picks the
    /// subclass (the same classes as Python's <c>DaprError</c> subclasses); anything else is a
    /// DaprException itself, so <c>catch (DaprException)</c> catches every failed call.
    /// </summary>
    public class DaprException : Exception
    {
        public DaprException(string message, StatusCode statusCode, string errorCode)
            : base(message)
        {
            StatusCode = statusCode;
            ErrorCode = errorCode;
        }

        public StatusCode StatusCode { get; private set; }

        /// <summary>The Dapr <c>errorCode</c>, or null when the sidecar sent none.</summary>
        public string ErrorCode { get; private set; }
    }

    /// <summary>The sidecar has no pubsub component of that name (<c>ERR_PUBSUB_NOT_FOUND</c>).</summary>
    public class PubsubNotFoundException : DaprException
    {
        public PubsubNotFoundException(string message, StatusCode statusCode, string errorCode)
            : base(message, statusCode, errorCode) { }
    }

    /// <summary>The pubsub component's scopes do not allow this app the topic (<c>ERR_PUBSUB_FORBIDDEN</c>).</summary>
    public class TopicForbiddenException : DaprException
    {
        public TopicForbiddenException(string message, StatusCode statusCode, string errorCode)
            : base(message, statusCode, errorCode) { }
    }

    /// <summary>A bad argument, found before the call left the process or by the sidecar (<c>InvalidArgument</c>).</summary>
    public class InvalidArgumentException : DaprException
    {
        public InvalidArgumentException(string message, StatusCode statusCode, string errorCode)
            : base(message, statusCode, errorCode) { }
    }

    /// <summary>The sidecar could not be reached (not started, wrong address, gone).</summary>
    public class SidecarUnavailableException : DaprException
    {
        public SidecarUnavailableException(string message, StatusCode statusCode, string errorCode)
            : base(message, statusCode, errorCode) { }
    }

    /// <summary>The call, or the wait for the sidecar, ran out of time (<c>DeadlineExceeded</c>).</summary>
    public class DaprTimeoutException : DaprException
    {
        public DaprTimeoutException(string message, StatusCode statusCode, string errorCode)
            : base(message, statusCode, errorCode) { }
    }
}
