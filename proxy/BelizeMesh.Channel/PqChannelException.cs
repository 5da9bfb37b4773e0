namespace BelizeMesh.Channel;

/// <summary>A channel handshake or record-layer failure with a typed <see cref="ChannelFailure"/> reason.</summary>
public sealed class PqChannelException : IOException
{
    /// <summary>Creates the exception.</summary>
    public PqChannelException(ChannelFailure reason, string message, bool reportedByPeer = false, Exception? innerException = null)
        : base(Format(reason, message, reportedByPeer), innerException)
    {
        Reason = reason;
        ReportedByPeer = reportedByPeer;
        Detail = message;
    }

    /// <summary>The failure reason, the same value logs and metrics use.</summary>
    public ChannelFailure Reason { get; }

    /// <summary>True when the peer reported the failure in an alert rather than this side detecting it.</summary>
    public bool ReportedByPeer { get; }

    /// <summary>The human-readable detail without the reason prefix.</summary>
    public string Detail { get; }

    private static string Format(ChannelFailure reason, string message, bool reportedByPeer) =>
        reportedByPeer ? $"{reason} (reported by peer): {message}" : $"{reason}: {message}";
}
