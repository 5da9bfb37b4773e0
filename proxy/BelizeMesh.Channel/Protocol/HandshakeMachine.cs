using System.Buffers;
using System.Security.Cryptography;
using BelizeMesh.Quantum;
using MLKemParameterSet = BelizeMesh.Quantum.MLKemParameterSet;

namespace BelizeMesh.Channel.Protocol;

/// <summary>
/// The handshake of docs/protocol.md as a sans-I/O state machine shared by both faces: it consumes whole records
/// (already framed by <see cref="RecordFraming"/>) and appends the records to send to a buffer. The faces only
/// move bytes.
/// </summary>
/// <remarks>
/// Client:  1 send ClientHello → 2 ServerHello (HS) → 3 ServerCertificate: verify, send ClientKemCiphertext and
///          ClientCertificate (AHS) → 4 ServerKemCiphertext (MS) → 5 ServerFinished: check, send ClientFinished.
/// Server:  1 ClientHello: send ServerHello, ServerCertificate (HS) → 2 ClientKemCiphertext (AHS) →
///          3 ClientCertificate: verify, send ServerKemCiphertext and ServerFinished (MS) → 4 ClientFinished: check.
/// Every failure throws <see cref="PqChannelException"/>; after one, the machine is unusable.
/// </remarks>
internal sealed class HandshakeMachine : IDisposable
{
    private enum State
    {
        ClientStart,
        ClientWaitServerHello,
        ClientWaitServerCertificate,
        ClientWaitServerKemCiphertext,
        ClientWaitServerFinished,
        ServerWaitClientHello,
        ServerWaitClientKemCiphertext,
        ServerWaitClientCertificate,
        ServerWaitClientFinished,
        Complete,
        Failed,
    }

    private readonly ChannelCredentials _credentials;
    private readonly IPeerCertificateVerifier _verifier;
    private readonly string? _expectedPeerIdentity;
    private readonly long _recordsPerKey;
    private readonly long _bytesPerKey;
    private readonly IncrementalHash _transcript;
    private readonly byte[] _secret = new byte[ProtocolConstants.HashLength];
    // Rented for one record (or Start) and returned after it: a handshake waiting for its peer's next flight holds none.
    private byte[]? _scratch;
    private State _state;
    private EphemeralP256? _ecdh;
    private MLKemKey? _ephemeralKem;
    private RecordProtector? _read;
    private RecordProtector? _write;

    // The read keys before the last switch: a peer that rejected our last flight answers with an alert under the keys
    // it still had (it never derived the next ones), so that alert is opened with these to report its real reason.
    private RecordProtector? _previousRead;
    private RecordProtector? _applicationRead;
    private RecordProtector? _applicationWrite;
    private byte[]? _expectedClientFinished;
    private bool _receivedAny;
    private bool _ownsEphemerals = true;
    private int _holdsLease;
    private int _disposed;

    private HandshakeMachine(bool isClient, PqChannelOptions options, string? expectedPeerIdentity)
    {
        IsClient = isClient;
        _expectedPeerIdentity = expectedPeerIdentity;
        _recordsPerKey = options.RecordsPerKey;
        _bytesPerKey = options.BytesPerKey;
        _transcript = IncrementalHash.CreateHash(HashAlgorithmName.SHA384);
        _state = isClient ? State.ClientStart : State.ServerWaitClientHello;

        // One read of the options per handshake (so a rotation swaps them for the next handshake, never in the middle
        // of one), with a lease that keeps a retired private key from being disposed until this handshake is over.
        // Last, so that nothing after it can throw and leak the lease.
        CredentialSet set = options.LeaseCredentials();
        _credentials = set.Credentials!;
        _verifier = set.Verifier!;
        _holdsLease = 1;
    }

    private HandshakeMachine(HandshakeMachine other)
    {
        IsClient = other.IsClient;
        _credentials = other._credentials;
        _verifier = other._verifier;
        _expectedPeerIdentity = other._expectedPeerIdentity;
        _recordsPerKey = other._recordsPerKey;
        _bytesPerKey = other._bytesPerKey;
        _transcript = other._transcript.Clone();
        other._secret.CopyTo(_secret, 0);
        _state = other._state;
        // The ephemeral keys are only read (derive, decapsulate), so a clone borrows them; the original disposes them.
        _ecdh = other._ecdh;
        _ephemeralKem = other._ephemeralKem;
        _ownsEphemerals = false;

        _read = other._read?.Clone();
        _previousRead = other._previousRead?.Clone();
        _write = other._write?.Clone();
        _applicationRead = other._applicationRead?.Clone();
        _applicationWrite = other._applicationWrite?.Clone();
        _expectedClientFinished = (byte[]?)other._expectedClientFinished?.Clone();
        _receivedAny = other._receivedAny;
        PeerIdentity = other.PeerIdentity;
        if (other._holdsLease != 0)
        {
            _holdsLease = _credentials.TryLease() ? 1 : throw new InvalidOperationException("the credentials were retired; a clone could outlive their private key");
        }
    }

    /// <summary>What a sender is about to put on the wire: the handshake message and, for an encrypted one, the write
    /// protector it is about to be sealed with (before its sequence advances).</summary>
    internal delegate void SendObserver(ContentType type, ReadOnlySpan<byte> message, RecordProtector? write);

    /// <summary>Tests only (the structure-aware fuzzer): sees each message before it is framed or sealed, so a test can
    /// re-seal a mutated copy under the same key and sequence. Not copied by <see cref="Clone"/>.</summary>
    internal SendObserver? ObserveSendForTest { get; set; }

    public bool IsClient { get; }

    /// <summary>Tests only: true while the machine holds a key-schedule stage secret (HS, AHS or MS).</summary>
    internal bool HoldsStageSecretForTest => _secret.AsSpan().ContainsAnyExcept((byte)0);

    public bool IsComplete => _state == State.Complete;

    /// <summary>True once a record has been accepted; before that, foreign bytes mean <see cref="ChannelFailure.NotPqChannel"/>.</summary>
    public bool ReceivedAnyRecord => _receivedAny;

    /// <summary>The peer's SPIFFE ID once its certificate has been verified.</summary>
    public string? PeerIdentity { get; private set; }

    public static HandshakeMachine CreateClient(PqChannelOptions options, string expectedPeerIdentity)
    {
        ArgumentException.ThrowIfNullOrEmpty(expectedPeerIdentity);
        return new HandshakeMachine(isClient: true, options, expectedPeerIdentity);
    }

    public static HandshakeMachine CreateServer(PqChannelOptions options) => new(isClient: false, options, expectedPeerIdentity: null);

    /// <summary>Test seam: an independent copy in the same state, so one state can be fed many mutated inputs.</summary>
    internal HandshakeMachine Clone() => new(this);

    /// <summary>Client only: writes flight 1 (ClientHello).</summary>
    public void Start(IBufferWriter<byte> output)
    {
        if (_state != State.ClientStart)
        {
            throw new InvalidOperationException("Start is for a client that has not started");
        }

        _ecdh = EphemeralP256.Generate();
        _ephemeralKem = MLKemKey.Generate(MLKemParameterSet.MLKem1024);

        Span<byte> m = Scratch;
        int n = 0;
        m[n++] = (byte)HandshakeType.ClientHello;
        m[n++] = 2;
        Write16(m, ref n, ProtocolConstants.Version1);
        m[n++] = 2;
        Write16(m, ref n, ProtocolConstants.SuiteP256MlKem1024Aes256GcmSha384);
        RandomNumberGenerator.Fill(m.Slice(n, ProtocolConstants.RandomLength));
        n += ProtocolConstants.RandomLength;
        Write16(m, ref n, ProtocolConstants.EcdhShareLength);
        _ecdh.ExportShare(m.Slice(n, ProtocolConstants.EcdhShareLength));
        n += ProtocolConstants.EcdhShareLength;
        Write16(m, ref n, ProtocolConstants.KemEncapsulationKeyLength);
        _ephemeralKem.ExportEncapsulationKey(m.Slice(n, ProtocolConstants.KemEncapsulationKeyLength));
        n += ProtocolConstants.KemEncapsulationKeyLength;

        SendPlain(m[..n], output);
        _state = State.ClientWaitServerHello;
        ReleaseScratch();
    }

    /// <summary>Consumes one whole record (header + payload) and appends any response records to <paramref name="output"/>.</summary>
    public void ProcessRecord(ReadOnlySpan<byte> record, IBufferWriter<byte> output)
    {
        if (_state is State.Complete or State.Failed or State.ClientStart)
        {
            throw new InvalidOperationException($"the handshake cannot take records in state {_state}");
        }

        try
        {
            ProcessRecordCore(record, output);
            _receivedAny = true;
        }
        catch
        {
            _state = State.Failed;
            ReleaseCredentials();
            throw;
        }
        finally
        {
            // Nothing in the scratch outlives one record: a handshake waiting for its peer's next flight holds none.
            ReleaseScratch();
        }

        if (_state == State.Complete)
        {
            ReleaseCredentials(); // the private key is not needed after the handshake: a retired one may go now
        }
    }

    /// <summary>
    /// Best effort: appends an alert for <paramref name="failure"/>, encrypted when this side holds write keys.
    /// Returns false when no alert should be sent (the peer is not speaking this protocol).
    /// </summary>
    public bool TryWriteAlert(ChannelFailure failure, IBufferWriter<byte> output)
    {
        if (failure == ChannelFailure.NotPqChannel)
        {
            return false;
        }

        ReadOnlySpan<byte> body = [(byte)failure];
        RecordProtector? protector = _applicationWrite ?? _write;
        if (protector is null)
        {
            Span<byte> span = output.GetSpan(ProtocolConstants.HeaderLength + 1);
            new RecordHeader(ContentType.Alert, 1).Write(span);
            span[ProtocolConstants.HeaderLength] = body[0];
            output.Advance(ProtocolConstants.HeaderLength + 1);
        }
        else
        {
            output.Advance(protector.Seal(ContentType.Alert, body, output.GetSpan(RecordProtector.SealedLength(1))));
        }

        return true;
    }

    /// <summary>After completion: hands over the application traffic protectors (read, write); the caller owns them.</summary>
    public (RecordProtector Read, RecordProtector Write) TakeApplicationProtectors()
    {
        if (_state != State.Complete || _applicationRead is null || _applicationWrite is null)
        {
            throw new InvalidOperationException("the handshake is not complete");
        }

        var result = (_applicationRead, _applicationWrite);
        _applicationRead = null;
        _applicationWrite = null;
        return result;
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return; // disposed already (the server middleware releases it as soon as the handshake is over)
        }

        ReleaseCredentials();
        _transcript.Dispose();
        CryptographicOperations.ZeroMemory(_secret);
        ReleaseScratch();
        DisposeEphemerals();
        _read?.Dispose();
        _previousRead?.Dispose();
        _write?.Dispose();
        _applicationRead?.Dispose();
        _applicationWrite?.Dispose();
        if (_expectedClientFinished is not null)
        {
            CryptographicOperations.ZeroMemory(_expectedClientFinished);
        }

        _state = State.Failed;
    }

    private byte[] Scratch => _scratch ??= ArrayPool<byte>.Shared.Rent(ProtocolConstants.MaxRecord);

    private void ReleaseScratch()
    {
        byte[]? scratch = _scratch;
        _scratch = null;
        if (scratch is not null)
        {
            CryptographicOperations.ZeroMemory(scratch);
            ArrayPool<byte>.Shared.Return(scratch);
        }
    }

    private void ProcessRecordCore(ReadOnlySpan<byte> record, IBufferWriter<byte> output)
    {
        if (RecordFraming.TryParse(record, out RecordHeader header, out string? error) != RecordParseResult.Complete ||
            record.Length != ProtocolConstants.HeaderLength + header.Length)
        {
            throw new PqChannelException(_receivedAny ? ChannelFailure.ProtocolViolation : ChannelFailure.NotPqChannel,
                error ?? "incomplete record handed to the handshake");
        }

        if (header.Type == ContentType.Alert)
        {
            throw AlertReceived(record);
        }

        ContentType expected = _state is State.ClientWaitServerHello or State.ServerWaitClientHello ? ContentType.Hello : ContentType.Handshake;
        if (header.Type != expected)
        {
            throw new PqChannelException(ChannelFailure.ProtocolViolation, $"expected a {expected} record in state {_state}, got {header.Type}");
        }

        ReadOnlySpan<byte> message;
        if (expected == ContentType.Hello)
        {
            message = record[ProtocolConstants.HeaderLength..];
        }
        else
        {
            int length = OpenHandshakeRecord(record);
            message = Scratch.AsSpan(0, length);
        }

        if (message.IsEmpty)
        {
            throw new PqChannelException(ChannelFailure.ProtocolViolation, "empty handshake message");
        }

        var type = (HandshakeType)message[0];
        HandshakeType expectedType = _state switch
        {
            State.ClientWaitServerHello => HandshakeType.ServerHello,
            State.ClientWaitServerCertificate => HandshakeType.ServerCertificate,
            State.ClientWaitServerKemCiphertext => HandshakeType.ServerKemCiphertext,
            State.ClientWaitServerFinished => HandshakeType.ServerFinished,
            State.ServerWaitClientHello => HandshakeType.ClientHello,
            State.ServerWaitClientKemCiphertext => HandshakeType.ClientKemCiphertext,
            State.ServerWaitClientCertificate => HandshakeType.ClientCertificate,
            State.ServerWaitClientFinished => HandshakeType.ClientFinished,
            _ => throw new InvalidOperationException(_state.ToString()),
        };
        if (type != expectedType)
        {
            throw new PqChannelException(ChannelFailure.ProtocolViolation, $"expected {expectedType}, got handshake message type {(byte)type}");
        }

        switch (_state)
        {
            case State.ServerWaitClientHello: OnClientHello(message, output); break;
            case State.ClientWaitServerHello: OnServerHello(message); break;
            case State.ClientWaitServerCertificate: OnServerCertificate(message, output); break;
            case State.ServerWaitClientKemCiphertext: OnClientKemCiphertext(message); break;
            case State.ServerWaitClientCertificate: OnClientCertificate(message, output); break;
            case State.ClientWaitServerKemCiphertext: OnServerKemCiphertext(message); break;
            case State.ClientWaitServerFinished: OnServerFinished(message, output); break;
            case State.ServerWaitClientFinished: OnClientFinished(message); break;
        }
    }

    // Server, flight 1 → 2.
    private void OnClientHello(ReadOnlySpan<byte> message, IBufferWriter<byte> output)
    {
        var r = new MessageReader(message[1..], "ClientHello");
        bool versionOk = ReadOffer(ref r, "versions", ProtocolConstants.Version1);
        bool suiteOk = ReadOffer(ref r, "suites", ProtocolConstants.SuiteP256MlKem1024Aes256GcmSha384);
        r.ReadBytes(ProtocolConstants.RandomLength, "random");
        if (!versionOk || !suiteOk)
        {
            throw new PqChannelException(ChannelFailure.NoCommonParameters,
                versionOk ? "the client offers no suite this server supports (need 0x0001 BM_P256_MLKEM1024_AES256GCM_SHA384)" : "the client offers no protocol version this server supports (need bm1 = 0x0001)");
        }

        ReadOnlySpan<byte> peerShare = r.ReadVector16("ecdh_share", ProtocolConstants.EcdhShareLength);
        ReadOnlySpan<byte> ephemeralEk = r.ReadVector16("kem_ek", ProtocolConstants.KemEncapsulationKeyLength);
        r.ExpectEnd();
        _transcript.AppendData(message);

        // The ML-KEM key check (FIPS 203 section 7.2) comes first: a ClientHello that fails it costs the server no P-256
        // key generation and no ECDH (docs/protocol.md 7.1). The secrets are zeroed on every path, failures included.
        using MLKemKey peerEphemeral = ImportPeerKey(ephemeralEk, ChannelFailure.ProtocolViolation, "ClientHello.kem_ek");
        Span<byte> ikm = stackalloc byte[ProtocolConstants.EcdhSecretLength + ProtocolConstants.KemSharedSecretLength];
        try
        {
            using var ecdh = EphemeralP256.Generate();
            DeriveEcdh(ecdh, peerShare, ikm[..ProtocolConstants.EcdhSecretLength]);

            Span<byte> reply = stackalloc byte[1 + 2 + 2 + ProtocolConstants.RandomLength + 2 + ProtocolConstants.EcdhShareLength + 2 + ProtocolConstants.KemCiphertextLength];
            int n = 0;
            reply[n++] = (byte)HandshakeType.ServerHello;
            Write16(reply, ref n, ProtocolConstants.Version1);
            Write16(reply, ref n, ProtocolConstants.SuiteP256MlKem1024Aes256GcmSha384);
            RandomNumberGenerator.Fill(reply.Slice(n, ProtocolConstants.RandomLength));
            n += ProtocolConstants.RandomLength;
            Write16(reply, ref n, ProtocolConstants.EcdhShareLength);
            ecdh.ExportShare(reply.Slice(n, ProtocolConstants.EcdhShareLength));
            n += ProtocolConstants.EcdhShareLength;
            Write16(reply, ref n, ProtocolConstants.KemCiphertextLength);
            peerEphemeral.Encapsulate(reply.Slice(n, ProtocolConstants.KemCiphertextLength), ikm[ProtocolConstants.EcdhSecretLength..]);
            n += ProtocolConstants.KemCiphertextLength;
            SendPlain(reply[..n], output);
            EnterHandshakeSecret(ikm);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(ikm);
        }

        SendCertificate(HandshakeType.ServerCertificate, output);
        _state = State.ServerWaitClientKemCiphertext;
    }

    // Client, flight 2a.
    private void OnServerHello(ReadOnlySpan<byte> message)
    {
        var r = new MessageReader(message[1..], "ServerHello");
        ushort version = r.ReadUInt16("version");
        ushort suite = r.ReadUInt16("suite");
        if (version != ProtocolConstants.Version1 || suite != ProtocolConstants.SuiteP256MlKem1024Aes256GcmSha384)
        {
            throw new PqChannelException(ChannelFailure.ProtocolViolation,
                $"the server chose version 0x{version:x4} and suite 0x{suite:x4}, which this client did not offer");
        }

        r.ReadBytes(ProtocolConstants.RandomLength, "random");
        ReadOnlySpan<byte> peerShare = r.ReadVector16("ecdh_share", ProtocolConstants.EcdhShareLength);
        ReadOnlySpan<byte> ciphertext = r.ReadVector16("kem_ct", ProtocolConstants.KemCiphertextLength);
        r.ExpectEnd();
        _transcript.AppendData(message);

        Span<byte> ikm = stackalloc byte[ProtocolConstants.EcdhSecretLength + ProtocolConstants.KemSharedSecretLength];
        DeriveEcdh(_ecdh!, peerShare, ikm[..ProtocolConstants.EcdhSecretLength]);
        _ephemeralKem!.Decapsulate(ciphertext, ikm[ProtocolConstants.EcdhSecretLength..]);
        DisposeEphemerals();
        EnterHandshakeSecret(ikm);
        _state = State.ClientWaitServerCertificate;
    }

    // Client, flight 2b → 3.
    private void OnServerCertificate(ReadOnlySpan<byte> message, IBufferWriter<byte> output)
    {
        ReadOnlySpan<byte> serverEk = VerifyPeerCertificate(message, "ServerCertificate", out MLKemKey? verifiedKey);
        if (!string.Equals(PeerIdentity, _expectedPeerIdentity, StringComparison.Ordinal))
        {
            throw new PqChannelException(ChannelFailure.IdentityMismatch,
                $"identity mismatch: the server presented {PeerIdentity}, the route expects {_expectedPeerIdentity}");
        }

        _transcript.AppendData(message);

        Span<byte> reply = stackalloc byte[3 + ProtocolConstants.KemCiphertextLength];
        Span<byte> sharedSecret = stackalloc byte[ProtocolConstants.KemSharedSecretLength];
        reply[0] = (byte)HandshakeType.ClientKemCiphertext;
        int n = 1;
        Write16(reply, ref n, ProtocolConstants.KemCiphertextLength);
        EncapsulateToPeer(verifiedKey, serverEk, "the server certificate's ML-KEM-1024 key", reply[n..], sharedSecret);

        SendEncrypted(reply, output);
        EnterAuthenticatedHandshakeSecret(sharedSecret);

        SendCertificate(HandshakeType.ClientCertificate, output);
        _state = State.ClientWaitServerKemCiphertext;
    }

    // Server, flight 3a.
    private void OnClientKemCiphertext(ReadOnlySpan<byte> message)
    {
        var r = new MessageReader(message[1..], "ClientKemCiphertext");
        ReadOnlySpan<byte> ciphertext = r.ReadVector16("ct", ProtocolConstants.KemCiphertextLength);
        r.ExpectEnd();
        _transcript.AppendData(message);
        Span<byte> sharedSecret = stackalloc byte[ProtocolConstants.KemSharedSecretLength];
        _credentials.PrivateKey.Decapsulate(ciphertext, sharedSecret);
        EnterAuthenticatedHandshakeSecret(sharedSecret);
        _state = State.ServerWaitClientCertificate;
    }

    // Server, flight 3b → 4.
    private void OnClientCertificate(ReadOnlySpan<byte> message, IBufferWriter<byte> output)
    {
        ReadOnlySpan<byte> clientEk = VerifyPeerCertificate(message, "ClientCertificate", out MLKemKey? verifiedKey);
        _transcript.AppendData(message);

        Span<byte> reply = stackalloc byte[3 + ProtocolConstants.KemCiphertextLength];
        Span<byte> sharedSecret = stackalloc byte[ProtocolConstants.KemSharedSecretLength];
        reply[0] = (byte)HandshakeType.ServerKemCiphertext;
        int n = 1;
        Write16(reply, ref n, ProtocolConstants.KemCiphertextLength);
        EncapsulateToPeer(verifiedKey, clientEk, "the client certificate's ML-KEM-1024 key", reply[n..], sharedSecret);

        SendEncrypted(reply, output);
        KeySchedule.Advance(_secret, sharedSecret); // MS
        CryptographicOperations.ZeroMemory(sharedSecret);

        Span<byte> finished = stackalloc byte[1 + ProtocolConstants.HashLength];
        finished[0] = (byte)HandshakeType.ServerFinished;
        Span<byte> hash = stackalloc byte[ProtocolConstants.HashLength];
        _transcript.GetCurrentHash(hash);
        KeySchedule.ComputeFinished(_secret, KeySchedule.ServerFinished, hash, finished[1..]);
        SendEncrypted(finished, output);

        _transcript.GetCurrentHash(hash);
        _expectedClientFinished = new byte[ProtocolConstants.HashLength];
        KeySchedule.ComputeFinished(_secret, KeySchedule.ClientFinished, hash, _expectedClientFinished);
        EnterApplicationSecrets(hash);

        // MS has nothing left to derive on this side (docs/protocol.md section 4: zeroed as soon as the next stage no
        // longer needs it); flight 5 is checked against _expectedClientFinished.
        CryptographicOperations.ZeroMemory(_secret);
        _state = State.ServerWaitClientFinished;
    }

    // Client, flight 4a.
    private void OnServerKemCiphertext(ReadOnlySpan<byte> message)
    {
        var r = new MessageReader(message[1..], "ServerKemCiphertext");
        ReadOnlySpan<byte> ciphertext = r.ReadVector16("ct", ProtocolConstants.KemCiphertextLength);
        r.ExpectEnd();
        _transcript.AppendData(message);
        Span<byte> sharedSecret = stackalloc byte[ProtocolConstants.KemSharedSecretLength];
        _credentials.PrivateKey.Decapsulate(ciphertext, sharedSecret);
        KeySchedule.Advance(_secret, sharedSecret); // MS
        CryptographicOperations.ZeroMemory(sharedSecret);
        _state = State.ClientWaitServerFinished;
    }

    // Client, flight 4b → 5.
    private void OnServerFinished(ReadOnlySpan<byte> message, IBufferWriter<byte> output)
    {
        var r = new MessageReader(message[1..], "ServerFinished");
        ReadOnlySpan<byte> verifyData = r.ReadBytes(ProtocolConstants.HashLength, "verify_data");
        r.ExpectEnd();
        Span<byte> hash = stackalloc byte[ProtocolConstants.HashLength];
        Span<byte> expected = stackalloc byte[ProtocolConstants.HashLength];
        _transcript.GetCurrentHash(hash);
        KeySchedule.ComputeFinished(_secret, KeySchedule.ServerFinished, hash, expected);
        if (!CryptographicOperations.FixedTimeEquals(expected, verifyData))
        {
            throw new PqChannelException(ChannelFailure.KeyMismatch,
                "ServerFinished does not verify: the two sides derived different keys (this side's private key does not match its certificate, or the handshake was altered)");
        }

        _transcript.AppendData(message);
        _transcript.GetCurrentHash(hash);

        Span<byte> finished = stackalloc byte[1 + ProtocolConstants.HashLength];
        finished[0] = (byte)HandshakeType.ClientFinished;
        KeySchedule.ComputeFinished(_secret, KeySchedule.ClientFinished, hash, finished[1..]);
        SendEncrypted(finished, output);
        EnterApplicationSecrets(hash);
        Finish();
    }

    // Server, flight 5.
    private void OnClientFinished(ReadOnlySpan<byte> message)
    {
        var r = new MessageReader(message[1..], "ClientFinished");
        ReadOnlySpan<byte> verifyData = r.ReadBytes(ProtocolConstants.HashLength, "verify_data");
        r.ExpectEnd();
        if (!CryptographicOperations.FixedTimeEquals(_expectedClientFinished, verifyData))
        {
            throw new PqChannelException(ChannelFailure.KeyMismatch,
                "ClientFinished does not verify: the client could not decapsulate to its certificate's key (its private key does not match its certificate, or the handshake was altered)");
        }

        _transcript.AppendData(message);
        Finish();
    }

    /// <summary>
    /// Gives up the lease on the credentials (idempotent). Runs by itself when the handshake completes, fails or is
    /// disposed; a face calls it early when it will not run the handshake after all (a plaintext connection).
    /// </summary>
    public void ReleaseCredentials()
    {
        if (Interlocked.Exchange(ref _holdsLease, 0) != 0)
        {
            _credentials.ReleaseLease();
        }
    }

    private void DisposeEphemerals()
    {
        if (_ownsEphemerals)
        {
            _ecdh?.Dispose();
            _ephemeralKem?.Dispose();
        }

        _ecdh = null;
        _ephemeralKem = null;
    }

    private void Finish()
    {
        CryptographicOperations.ZeroMemory(_secret);
        _read?.Dispose();
        _read = null;
        _previousRead?.Dispose();
        _previousRead = null;
        _write?.Dispose();
        _write = null;
        _state = State.Complete;
    }

    /// <summary>Encapsulates to the peer's certificate key: the verifier's already-imported key when it has one (a
    /// returning peer), else an import of <paramref name="ek"/> (FIPS 203 section 7.2 check) used once.</summary>
    private static void EncapsulateToPeer(MLKemKey? verifiedKey, ReadOnlySpan<byte> ek, string what, Span<byte> ciphertext, Span<byte> sharedSecret)
    {
        if (verifiedKey is not null && verifiedKey.Algorithm == MLKemParameterSet.MLKem1024)
        {
            verifiedKey.Encapsulate(ciphertext, sharedSecret);
            return;
        }

        using MLKemKey key = ImportPeerKey(ek, ChannelFailure.BadCertificate, what);
        key.Encapsulate(ciphertext, sharedSecret);
    }

    private ReadOnlySpan<byte> VerifyPeerCertificate(ReadOnlySpan<byte> message, string name, out MLKemKey? verifiedKey)
    {
        var r = new MessageReader(message[1..], name);
        ReadOnlySpan<byte> der = r.ReadVector16("certificate", maxLength: ProtocolConstants.MaxCertificateLength);
        r.ExpectEnd();

        PeerVerification verification;
        try
        {
            verification = _verifier.Verify(der);
        }
        catch (Exception ex) when (ex is not PqChannelException and not OutOfMemoryException)
        {
            throw new PqChannelException(ChannelFailure.BadCertificate, $"{name} could not be checked: {ex.Message}", innerException: ex);
        }

        if (!verification.IsValid)
        {
            throw new PqChannelException(verification.Failure!.Value, $"{name} rejected: {verification.Detail}");
        }

        if (verification.KemPublicKey.Length != ProtocolConstants.KemEncapsulationKeyLength)
        {
            throw new PqChannelException(ChannelFailure.BadCertificate,
                $"{name} holds a {verification.KemPublicKey.Length}-byte public key, not an ML-KEM-1024 encapsulation key");
        }

        PeerIdentity = verification.Identity;
        verifiedKey = verification.KemKey;
        return verification.KemPublicKey.Span;
    }

    private PqChannelException AlertReceived(ReadOnlySpan<byte> record)
    {
        int payloadLength = record.Length - ProtocolConstants.HeaderLength;
        byte code;
        bool authenticated;
        if (payloadLength == 1)
        {
            code = record[ProtocolConstants.HeaderLength];
            authenticated = false;
        }
        else if (_read is not null && payloadLength == 1 + ProtocolConstants.TagLength)
        {
            code = OpenAlert(record);
            authenticated = true;
        }
        else
        {
            return new PqChannelException(ChannelFailure.ProtocolViolation, $"alert record of {payloadLength} bytes");
        }

        return FromAlert(code, authenticated, duringHandshake: true);
    }

    /// <summary>Opens an encrypted alert under the current read keys or, failing that, under the previous ones (the peer
    /// failed on our last flight before it could switch). When neither opens it, the current keys' failure stands.</summary>
    private byte OpenAlert(ReadOnlySpan<byte> record)
    {
        try
        {
            OpenHandshakeRecord(record);
            return Scratch[0];
        }
        catch (PqChannelException) when (_previousRead is not null && TryOpenWithPrevious(record))
        {
            return Scratch[0];
        }
    }

    private bool TryOpenWithPrevious(ReadOnlySpan<byte> record)
    {
        try
        {
            _previousRead!.Open(record, Scratch);
            return true;
        }
        catch (PqChannelException)
        {
            return false;
        }
    }

    /// <summary>Decrypts a handshake-phase record into the scratch buffer. A failure right after the switch to the
    /// authenticated handshake keys means the peer (client side) or this side (server side) could not decapsulate.</summary>
    private int OpenHandshakeRecord(ReadOnlySpan<byte> record)
    {
        try
        {
            return _read!.Open(record, Scratch);
        }
        catch (PqChannelException ex) when (_state is State.ClientWaitServerKemCiphertext && _read!.Sequence == 0)
        {
            throw new PqChannelException(ChannelFailure.KeyMismatch,
                "the server could not derive the authenticated handshake keys: it does not hold the private key of its certificate (or the record was altered)", innerException: ex);
        }
        catch (PqChannelException ex) when (_state is State.ServerWaitClientCertificate && _read!.Sequence == 0)
        {
            throw new PqChannelException(ChannelFailure.KeyMismatch,
                "the client's certificate did not decrypt under the authenticated handshake keys: this side's private key does not match its certificate (or the record was altered)", innerException: ex);
        }
    }

    /// <summary>Maps an alert code to the exception a reader sees.</summary>
    internal static PqChannelException FromAlert(byte code, bool authenticated, bool duringHandshake)
    {
        string suffix = authenticated ? "" : " (unauthenticated alert)";
        if (code == ProtocolConstants.AlertCloseNotify)
        {
            return new PqChannelException(ChannelFailure.Truncated,
                (duringHandshake ? "the peer closed the channel during the handshake" : "unauthenticated close_notify") + suffix);
        }

        ChannelFailure reason = Enum.IsDefined((ChannelFailure)code) ? (ChannelFailure)code : ChannelFailure.ProtocolViolation;
        return new PqChannelException(reason, $"the peer aborted with alert {code} ({reason}){suffix}", reportedByPeer: true);
    }

    private void EnterHandshakeSecret(Span<byte> ikm)
    {
        KeySchedule.Extract(stackalloc byte[ProtocolConstants.HashLength], ikm, _secret); // HS; salt 0^48
        CryptographicOperations.ZeroMemory(ikm);
        SetTrafficKeys(KeySchedule.ClientHandshakeTraffic, KeySchedule.ServerHandshakeTraffic);
    }

    private void EnterAuthenticatedHandshakeSecret(Span<byte> sharedSecret)
    {
        KeySchedule.Advance(_secret, sharedSecret); // AHS
        CryptographicOperations.ZeroMemory(sharedSecret);
        SetTrafficKeys(KeySchedule.ClientAuthHandshakeTraffic, KeySchedule.ServerAuthHandshakeTraffic);
    }

    private void SetTrafficKeys(ReadOnlySpan<byte> clientLabel, ReadOnlySpan<byte> serverLabel)
    {
        Span<byte> hash = stackalloc byte[ProtocolConstants.HashLength];
        Span<byte> client = stackalloc byte[ProtocolConstants.HashLength];
        Span<byte> server = stackalloc byte[ProtocolConstants.HashLength];
        _transcript.GetCurrentHash(hash);
        KeySchedule.DeriveSecret(_secret, clientLabel, hash, client);
        KeySchedule.DeriveSecret(_secret, serverLabel, hash, server);
        _previousRead?.Dispose();
        _previousRead = _read;
        _write?.Dispose();
        _read = new RecordProtector(IsClient ? server : client);
        _write = new RecordProtector(IsClient ? client : server);
        CryptographicOperations.ZeroMemory(client);
        CryptographicOperations.ZeroMemory(server);
    }

    private void EnterApplicationSecrets(ReadOnlySpan<byte> transcriptHash)
    {
        Span<byte> client = stackalloc byte[ProtocolConstants.HashLength];
        Span<byte> server = stackalloc byte[ProtocolConstants.HashLength];
        KeySchedule.DeriveSecret(_secret, KeySchedule.ClientAppTraffic, transcriptHash, client);
        KeySchedule.DeriveSecret(_secret, KeySchedule.ServerAppTraffic, transcriptHash, server);
        _applicationRead = new RecordProtector(IsClient ? server : client, _recordsPerKey, _bytesPerKey);
        _applicationWrite = new RecordProtector(IsClient ? client : server, _recordsPerKey, _bytesPerKey);
        CryptographicOperations.ZeroMemory(client);
        CryptographicOperations.ZeroMemory(server);
    }

    private void SendCertificate(HandshakeType type, IBufferWriter<byte> output)
    {
        ReadOnlySpan<byte> der = _credentials.CertificateDer.Span;
        Span<byte> m = Scratch;
        m[0] = (byte)type;
        int n = 1;
        Write16(m, ref n, (ushort)der.Length);
        der.CopyTo(m[n..]);
        SendEncrypted(m[..(n + der.Length)], output);
    }

    private void SendPlain(ReadOnlySpan<byte> message, IBufferWriter<byte> output)
    {
        ObserveSendForTest?.Invoke(ContentType.Hello, message, null);
        _transcript.AppendData(message);
        Span<byte> span = output.GetSpan(ProtocolConstants.HeaderLength + message.Length);
        new RecordHeader(ContentType.Hello, message.Length).Write(span);
        message.CopyTo(span[ProtocolConstants.HeaderLength..]);
        output.Advance(ProtocolConstants.HeaderLength + message.Length);
    }

    private void SendEncrypted(ReadOnlySpan<byte> message, IBufferWriter<byte> output)
    {
        ObserveSendForTest?.Invoke(ContentType.Handshake, message, _write);
        _transcript.AppendData(message);
        output.Advance(_write!.Seal(ContentType.Handshake, message, output.GetSpan(RecordProtector.SealedLength(message.Length))));
    }

    private static bool ReadOffer(ref MessageReader r, string field, ushort wanted)
    {
        int length = r.ReadByte(field + " length");
        if (length == 0 || (length & 1) != 0)
        {
            throw new PqChannelException(ChannelFailure.ProtocolViolation, $"ClientHello: {field} length {length} is not a positive even number");
        }

        bool found = false;
        for (int i = 0; i < length / 2; i++)
        {
            found |= r.ReadUInt16(field) == wanted;
        }

        return found;
    }

    private static void DeriveEcdh(EphemeralP256 own, ReadOnlySpan<byte> peerShare, Span<byte> secret)
    {
        if (peerShare[0] != 0x04)
        {
            throw new PqChannelException(ChannelFailure.ProtocolViolation, "ecdh_share is not an uncompressed P-256 point (first byte must be 0x04)");
        }

        try
        {
            own.DeriveSecret(peerShare, secret);
        }
        catch (CryptographicException ex)
        {
            throw new PqChannelException(ChannelFailure.ProtocolViolation, "ecdh_share is not a valid P-256 point", innerException: ex);
        }
    }

    private static MLKemKey ImportPeerKey(ReadOnlySpan<byte> ek, ChannelFailure failure, string what)
    {
        try
        {
            return MLKemKey.ImportEncapsulationKey(MLKemParameterSet.MLKem1024, ek);
        }
        catch (CryptographicException ex)
        {
            throw new PqChannelException(failure, $"{what} is not a valid ML-KEM-1024 encapsulation key: {ex.Message}", innerException: ex);
        }
    }

    private static void Write16(Span<byte> destination, ref int offset, ushort value)
    {
        destination[offset] = (byte)(value >> 8);
        destination[offset + 1] = (byte)value;
        offset += 2;
    }
}
