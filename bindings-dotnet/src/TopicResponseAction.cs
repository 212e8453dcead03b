namespace DaprRs
{
    /// <summary>What became of a delivered event (the values of gRPC's TopicEventResponseStatus).</summary>
    public enum TopicResponseAction
    {
        /// <summary>Processed: the broker may forget it.</summary>
        Success = 0,
        /// <summary>Deliver it again later.</summary>
        Retry = 1,
        /// <summary>Give up on it (to the dead-letter topic when one is set).</summary>
        Drop = 2,
    }
}
