namespace BelizeMesh.Channel.Protocol;

/// <summary>What an application-phase record turned out to be.</summary>
internal enum RecordKind
{
    Data,
    KeyUpdate,
    Close,
}

/// <summary>
/// The application-phase record rules shared by both faces (docs/protocol.md 2.1–2.3): which record types are
/// allowed, key updates, close_notify, alerts; and the sender's "key update before the limit" rule.
/// </summary>
internal static class RecordLayer
{
    /// <summary>Room a caller must leave for one sealed record of <paramref name="plaintextLength"/> bytes plus a possible key_update in front.</summary>
    public static int MaxSealedLength(int plaintextLength) =>
        RecordProtector.SealedLength(0) + RecordProtector.SealedLength(plaintextLength);

    /// <summary>
    /// Authenticates and decrypts one whole application-phase record into <paramref name="plaintext"/> (which may be
    /// <c>record[5..]</c>). Applies key updates. Returns the number of application bytes (0 for key_update/close).
    /// </summary>
    /// <exception cref="PqChannelException">Any violation, failed authentication, or an error alert from the peer.</exception>
    public static int Open(RecordProtector read, ReadOnlySpan<byte> record, Span<byte> plaintext, out RecordKind kind)
    {
        var type = (ContentType)record[0];
        int payloadLength = record.Length - ProtocolConstants.HeaderLength;
        switch (type)
        {
            case ContentType.ApplicationData:
                if (read.PeerKeyExhausted)
                {
                    // AES-GCM's margin is gone past this point (RFC 8446 5.5): the peer had to update its key first.
                    throw new PqChannelException(ChannelFailure.ProtocolViolation, $"application data record {read.Sequence} under one key: the peer must send key_update after 2^24 records or 2^34 bytes");
                }

                kind = RecordKind.Data;
                return read.Open(record, plaintext);

            case ContentType.KeyUpdate:
                if (payloadLength != ProtocolConstants.TagLength)
                {
                    throw new PqChannelException(ChannelFailure.ProtocolViolation, $"key_update record carries {payloadLength - ProtocolConstants.TagLength} plaintext bytes; it must be empty");
                }

                if (read.Sequence == 0)
                {
                    // A key is updated because it was used: a sender updates only before a data record, so a
                    // key_update under a key that protected nothing (e.g. key_update after key_update) is a peer making
                    // the receiver ratchet for nothing; bounding it keeps key updates at most one per data record.
                    throw new PqChannelException(ChannelFailure.ProtocolViolation, "key_update under a key that has protected no record: updates must be separated by data");
                }

                read.Open(record, []);
                read.UpdateKey();
                kind = RecordKind.KeyUpdate;
                return 0;

            case ContentType.Alert:
                if (payloadLength == 1)
                {
                    throw HandshakeMachine.FromAlert(record[ProtocolConstants.HeaderLength], authenticated: false, duringHandshake: false);
                }

                if (payloadLength != 1 + ProtocolConstants.TagLength)
                {
                    throw new PqChannelException(ChannelFailure.ProtocolViolation, $"alert record of {payloadLength} bytes");
                }

                Span<byte> code = stackalloc byte[1];
                read.Open(record, code);
                if (code[0] != ProtocolConstants.AlertCloseNotify)
                {
                    throw HandshakeMachine.FromAlert(code[0], authenticated: true, duringHandshake: false);
                }

                kind = RecordKind.Close;
                return 0;

            default:
                throw new PqChannelException(ChannelFailure.ProtocolViolation, $"unexpected {type} record after the handshake");
        }
    }

    /// <summary>Seals application data (≤ 16 KiB), preceded by a key_update when the key is due. Returns bytes written.</summary>
    public static int SealData(RecordProtector write, ReadOnlySpan<byte> plaintext, Span<byte> destination)
    {
        int written = 0;
        if (write.NeedsKeyUpdate)
        {
            written = write.Seal(ContentType.KeyUpdate, [], destination);
            write.UpdateKey();
        }

        return written + write.Seal(ContentType.ApplicationData, plaintext, destination[written..]);
    }

    /// <summary>Seals an authenticated close_notify. Returns bytes written (22).</summary>
    public static int SealCloseNotify(RecordProtector write, Span<byte> destination) =>
        write.Seal(ContentType.Alert, [ProtocolConstants.AlertCloseNotify], destination);
}
