using System.Buffers.Binary;
using System.Security.Cryptography;

namespace BelizeMesh.Channel.Protocol;

/// <summary>
/// HKDF-SHA-384 helpers of the key schedule (docs/protocol.md, section 4): <c>HKDF-Expand-Label</c> with the
/// <c>"bm1 "</c> prefix, <c>Derive-Secret</c> and <c>HKDF-Extract</c>, all writing into caller spans.
/// </summary>
internal static class KeySchedule
{
    private static ReadOnlySpan<byte> LabelPrefix => "bm1 "u8;

    public static ReadOnlySpan<byte> ClientHandshakeTraffic => "c hs traffic"u8;
    public static ReadOnlySpan<byte> ServerHandshakeTraffic => "s hs traffic"u8;
    public static ReadOnlySpan<byte> ClientAuthHandshakeTraffic => "c ahs traffic"u8;
    public static ReadOnlySpan<byte> ServerAuthHandshakeTraffic => "s ahs traffic"u8;
    public static ReadOnlySpan<byte> ClientAppTraffic => "c ap traffic"u8;
    public static ReadOnlySpan<byte> ServerAppTraffic => "s ap traffic"u8;
    public static ReadOnlySpan<byte> ClientFinished => "c finished"u8;
    public static ReadOnlySpan<byte> ServerFinished => "s finished"u8;
    public static ReadOnlySpan<byte> Derived => "derived"u8;
    public static ReadOnlySpan<byte> Key => "key"u8;
    public static ReadOnlySpan<byte> Iv => "iv"u8;
    public static ReadOnlySpan<byte> TrafficUpdate => "traffic upd"u8;

    /// <summary>SHA-384 of the empty string, the context of <c>Derive-Secret(., "derived", "")</c>.</summary>
    private static ReadOnlySpan<byte> EmptyHash => [
        0x38, 0xb0, 0x60, 0xa7, 0x51, 0xac, 0x96, 0x38, 0x4c, 0xd9, 0x32, 0x7e, 0xb1, 0xb1, 0xe3, 0x6a,
        0x21, 0xfd, 0xb7, 0x11, 0x14, 0xbe, 0x07, 0x43, 0x4c, 0x0c, 0xc7, 0xbf, 0x63, 0xf6, 0xe1, 0xda,
        0x27, 0x4e, 0xde, 0xbf, 0xe7, 0x6f, 0x65, 0xfb, 0xd5, 0x1a, 0xd2, 0xf1, 0x48, 0x98, 0xb9, 0x5b];

    /// <summary><c>HKDF-Expand-Label(secret, label, context, output.Length)</c>.</summary>
    public static void ExpandLabel(ReadOnlySpan<byte> secret, ReadOnlySpan<byte> label, ReadOnlySpan<byte> context, Span<byte> output)
    {
        Span<byte> info = stackalloc byte[2 + 1 + 4 + 32 + 1 + ProtocolConstants.HashLength];
        int n = 0;
        BinaryPrimitives.WriteUInt16BigEndian(info, (ushort)output.Length);
        n += 2;
        info[n++] = (byte)(LabelPrefix.Length + label.Length);
        LabelPrefix.CopyTo(info[n..]);
        n += LabelPrefix.Length;
        label.CopyTo(info[n..]);
        n += label.Length;
        info[n++] = (byte)context.Length;
        context.CopyTo(info[n..]);
        n += context.Length;
        HKDF.Expand(HashAlgorithmName.SHA384, secret, output, info[..n]);
    }

    /// <summary><c>Derive-Secret(secret, label, messages)</c> given <c>Transcript-Hash(messages)</c>.</summary>
    public static void DeriveSecret(ReadOnlySpan<byte> secret, ReadOnlySpan<byte> label, ReadOnlySpan<byte> transcriptHash, Span<byte> output) =>
        ExpandLabel(secret, label, transcriptHash, output[..ProtocolConstants.HashLength]);

    /// <summary><c>HKDF-Extract(salt, ikm)</c> into a 48-byte output.</summary>
    public static void Extract(ReadOnlySpan<byte> salt, ReadOnlySpan<byte> ikm, Span<byte> output) =>
        HKDF.Extract(HashAlgorithmName.SHA384, ikm, salt, output[..ProtocolConstants.HashLength]);

    /// <summary>Next stage: <c>Extract(Derive-Secret(previous, "derived", ""), ikm)</c>, written over <paramref name="secret"/>.</summary>
    public static void Advance(Span<byte> secret, ReadOnlySpan<byte> ikm)
    {
        Span<byte> salt = stackalloc byte[ProtocolConstants.HashLength];
        DeriveSecret(secret, Derived, EmptyHash, salt);
        Extract(salt, ikm, secret);
        CryptographicOperations.ZeroMemory(salt);
    }

    /// <summary>Finished <c>verify_data = HMAC(Expand-Label(MS, label, "", 48), transcriptHash)</c>.</summary>
    public static void ComputeFinished(ReadOnlySpan<byte> masterSecret, ReadOnlySpan<byte> label, ReadOnlySpan<byte> transcriptHash, Span<byte> verifyData)
    {
        Span<byte> finishedKey = stackalloc byte[ProtocolConstants.HashLength];
        ExpandLabel(masterSecret, label, [], finishedKey);
        HMACSHA384.HashData(finishedKey, transcriptHash, verifyData);
        CryptographicOperations.ZeroMemory(finishedKey);
    }
}
