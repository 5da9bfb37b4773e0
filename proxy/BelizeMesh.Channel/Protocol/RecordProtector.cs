using System.Buffers.Binary;
using System.Security.Cryptography;

namespace BelizeMesh.Channel.Protocol;

/// <summary>
/// One direction of record protection (docs/protocol.md, 2.1–2.2): AES-256-GCM with key and IV from a traffic
/// secret, nonce = IV xor the implicit 64-bit sequence number, the 5-byte header as associated data, and the
/// key-update ratchet. Allocation-free per record; the traffic secret is zeroed on update and dispose.
/// Every record goes through <see cref="AesGcmIntrinsics"/> (AES-NI and PCLMULQDQ, no interop), faster than .NET's
/// <see cref="AesGcm"/> (OpenSSL) at every record size since it takes eight blocks per step (perf/README.md, "data
/// path, twelfth session"); where the CPU lacks AES-NI every record goes through <see cref="AesGcm"/>, created on the
/// first record.
/// Not thread-safe: one reader or one writer owns it.
/// </summary>
internal sealed class RecordProtector : IDisposable
{
    private readonly byte[] _secret = new byte[ProtocolConstants.HashLength];
    private readonly byte[] _iv = new byte[ProtocolConstants.IvLength];
    private readonly byte[] _key = new byte[ProtocolConstants.KeyLength];
    private readonly long _recordsPerKey;
    private readonly long _bytesPerKey;
    private AesGcmIntrinsics? _intrinsics;
    private AesGcm? _platform;
    private bool _disposed;
    private ulong _sequence;
    private long _bytes;

    public RecordProtector(ReadOnlySpan<byte> trafficSecret, long recordsPerKey = ProtocolConstants.MaxRecordsPerKey, long bytesPerKey = ProtocolConstants.MaxBytesPerKey)
    {
        trafficSecret.CopyTo(_secret);
        _recordsPerKey = recordsPerKey;
        _bytesPerKey = bytesPerKey;
        CreateAead();
    }

    private RecordProtector(RecordProtector other)
    {
        other._secret.CopyTo(_secret, 0);
        other._iv.CopyTo(_iv, 0);
        other._key.CopyTo(_key, 0);
        _recordsPerKey = other._recordsPerKey;
        _bytesPerKey = other._bytesPerKey;
        _sequence = other._sequence;
        _bytes = other._bytes;
        Generation = other.Generation;
        _intrinsics = NewIntrinsics(_key);
    }

    /// <summary>Sequence number of the next record under the current key.</summary>
    public ulong Sequence => _sequence;

    /// <summary>Number of key updates done so far (for tests and metrics).</summary>
    public int Generation { get; private set; }

    /// <summary>True when the sender should send a key_update before the next record.</summary>
    public bool NeedsKeyUpdate => (long)_sequence >= _recordsPerKey || _bytes >= _bytesPerKey;

    /// <summary>
    /// Receiver side: true when the peer has used this key up to the protocol's limit (2^24 records or 2^34 bytes,
    /// docs/protocol.md 2.2), so the next record must be its key_update. The local sending thresholds (which tests
    /// and operators may lower) do not bind the peer; the protocol's maxima do.
    /// </summary>
    public bool PeerKeyExhausted => (long)_sequence >= ProtocolConstants.MaxRecordsPerKey || _bytes >= ProtocolConstants.MaxBytesPerKey;

    /// <summary>Total record size for a plaintext of <paramref name="plaintextLength"/> bytes.</summary>
    public static int SealedLength(int plaintextLength) => ProtocolConstants.HeaderLength + plaintextLength + ProtocolConstants.TagLength;

    /// <summary>
    /// Writes header, ciphertext and tag into <paramref name="destination"/>; returns the record length. The plaintext
    /// may be <c>destination[5..]</c> itself (in place) or any buffer that does not partially overlap it.
    /// </summary>
    public int Seal(ContentType type, ReadOnlySpan<byte> plaintext, Span<byte> destination)
    {
        if (plaintext.Length > ProtocolConstants.MaxPlaintext)
        {
            throw new ArgumentOutOfRangeException(nameof(plaintext), "a record holds at most 16384 plaintext bytes");
        }

        int total = SealedLength(plaintext.Length);
        Span<byte> record = destination[..total];
        new RecordHeader(type, plaintext.Length + ProtocolConstants.TagLength).Write(record);
        Span<byte> nonce = stackalloc byte[ProtocolConstants.IvLength];
        ComputeNonce(nonce);
        Span<byte> ciphertext = record.Slice(ProtocolConstants.HeaderLength, plaintext.Length);
        Span<byte> tag = record.Slice(ProtocolConstants.HeaderLength + plaintext.Length, ProtocolConstants.TagLength);
        if (_intrinsics is { } intrinsics)
        {
            intrinsics.Encrypt(nonce, plaintext, ciphertext, tag, record[..ProtocolConstants.HeaderLength]);
        }
        else
        {
            Platform().Encrypt(nonce, plaintext, ciphertext, tag, record[..ProtocolConstants.HeaderLength]);
        }

        _sequence++;
        _bytes += plaintext.Length;
        return total;
    }

    /// <summary>
    /// Authenticates and decrypts <paramref name="record"/> (header + payload, framing already checked) into
    /// <paramref name="plaintext"/> (which may be <c>record[5..]</c>, in place). Returns the plaintext length.
    /// </summary>
    /// <exception cref="PqChannelException"><see cref="ChannelFailure.BadRecordMac"/> when authentication fails;
    /// nothing of the plaintext may be used then (it is cleared).</exception>
    public int Open(ReadOnlySpan<byte> record, Span<byte> plaintext)
    {
        int payloadLength = record.Length - ProtocolConstants.HeaderLength;
        if (payloadLength < ProtocolConstants.TagLength)
        {
            throw new PqChannelException(ChannelFailure.BadRecordMac, $"encrypted record of {payloadLength} bytes is shorter than its 16-byte tag");
        }

        int length = payloadLength - ProtocolConstants.TagLength;
        Span<byte> nonce = stackalloc byte[ProtocolConstants.IvLength];
        ComputeNonce(nonce);
        try
        {
            ReadOnlySpan<byte> ciphertext = record.Slice(ProtocolConstants.HeaderLength, length);
            ReadOnlySpan<byte> tag = record.Slice(ProtocolConstants.HeaderLength + length, ProtocolConstants.TagLength);
            if (_intrinsics is { } intrinsics)
            {
                intrinsics.Decrypt(nonce, ciphertext, tag, plaintext[..length], record[..ProtocolConstants.HeaderLength]);
            }
            else
            {
                Platform().Decrypt(nonce, ciphertext, tag, plaintext[..length], record[..ProtocolConstants.HeaderLength]);
            }
        }
        catch (AuthenticationTagMismatchException ex)
        {
            throw new PqChannelException(ChannelFailure.BadRecordMac,
                $"record {_sequence} (type {(ContentType)record[0]}) failed authentication: tampered, reordered, replayed or not for this key", innerException: ex);
        }

        _sequence++;
        _bytes += length;
        return length;
    }

    /// <summary>Test-only: moves the sequence number on by <paramref name="records"/> as if that many records had
    /// passed (both ends of a test pair must move alike), to reach the per-key limit without 2^24 records.</summary>
    internal void AdvanceSequenceForTest(ulong records) => _sequence += records;

    /// <summary>Ratchets to the next traffic secret (<c>"traffic upd"</c>) and resets the sequence number.</summary>
    public void UpdateKey()
    {
        Span<byte> next = stackalloc byte[ProtocolConstants.HashLength];
        KeySchedule.ExpandLabel(_secret, KeySchedule.TrafficUpdate, [], next);
        next.CopyTo(_secret);
        CryptographicOperations.ZeroMemory(next);
        DisposeAead();
        CreateAead();
        _sequence = 0;
        _bytes = 0;
        Generation++;
    }

    /// <summary>An independent copy in the same state (tests: replaying one state against many mutated inputs).</summary>
    public RecordProtector Clone() => new(this);

    public void Dispose()
    {
        _disposed = true;
        DisposeAead();
        CryptographicOperations.ZeroMemory(_secret);
        CryptographicOperations.ZeroMemory(_iv);
        CryptographicOperations.ZeroMemory(_key);
    }

    private void CreateAead()
    {
        KeySchedule.ExpandLabel(_secret, KeySchedule.Key, [], _key);
        KeySchedule.ExpandLabel(_secret, KeySchedule.Iv, [], _iv);
        _intrinsics = NewIntrinsics(_key);
    }

    private static AesGcmIntrinsics? NewIntrinsics(byte[] key) => AesGcmIntrinsics.IsSupported ? new AesGcmIntrinsics(key) : null;

    /// <summary>
    /// OpenSSL's AES-GCM under the current key, made on first use (CPUs without AES-NI). After <see cref="Dispose"/>
    /// every record lands here (no intrinsics instance) and is refused: the key is zero by then.
    /// </summary>
    private AesGcm Platform()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        return _platform ??= new AesGcm(_key, ProtocolConstants.TagLength);
    }

    private void DisposeAead()
    {
        _intrinsics?.Dispose();
        _intrinsics = null;
        _platform?.Dispose();
        _platform = null;
    }

    private void ComputeNonce(Span<byte> nonce)
    {
        _iv.CopyTo(nonce);
        ulong mixed = BinaryPrimitives.ReadUInt64BigEndian(nonce[4..]) ^ _sequence;
        BinaryPrimitives.WriteUInt64BigEndian(nonce[4..], mixed);
    }
}
