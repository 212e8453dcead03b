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
    /// <c>ERR_PUBSUB_NOT_FOUND</c>, null when none) and the message.
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
}
