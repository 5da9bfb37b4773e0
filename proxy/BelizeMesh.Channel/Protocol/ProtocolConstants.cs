namespace BelizeMesh.Channel.Protocol;

/// <summary>Record content types (docs/protocol.md, section 2).</summary>
internal enum ContentType : byte
{
    Hello = 0x01,
    Handshake = 0x02,
    Alert = 0x03,
    ApplicationData = 0x04,
    KeyUpdate = 0x05,
}

/// <summary>Handshake message types (docs/protocol.md, section 3).</summary>
internal enum HandshakeType : byte
{
    ClientHello = 1,
    ServerHello = 2,
    ServerCertificate = 11,
    ClientKemCiphertext = 12,
    ClientCertificate = 13,
    ServerKemCiphertext = 14,
    ServerFinished = 20,
    ClientFinished = 21,
}

/// <summary>Sizes and identifiers fixed by version 1 of the protocol.</summary>
internal static class ProtocolConstants
{
    public const byte Marker0 = 0x42; // 'B'
    public const byte Marker1 = 0x4D; // 'M'
    public const int HeaderLength = 5;
    public const int TagLength = 16;
    public const int MaxPlaintext = 16 * 1024;
    public const int MaxCiphertext = MaxPlaintext + TagLength;
    public const int MaxRecord = HeaderLength + MaxCiphertext;

    /// <summary>Records one key may protect (docs/protocol.md 2.2): a sender updates before it, a receiver enforces it.</summary>
    public const long MaxRecordsPerKey = 1L << 24;

    /// <summary>Plaintext bytes one key may protect before its sender starts a new key (docs/protocol.md 2.2).</summary>
    public const long MaxBytesPerKey = 1L << 34;

    /// <summary>ServerCertificate/ClientCertificate: type byte + 2-byte length + DER within one record.</summary>
    public const int MaxCertificateLength = MaxPlaintext - 3;

    public const ushort Version1 = 0x0001;
    public const ushort SuiteP256MlKem1024Aes256GcmSha384 = 0x0001;

    public const int RandomLength = 32;
    public const int EcdhShareLength = 65;
    public const int EcdhSecretLength = 32;
    public const int KemEncapsulationKeyLength = 1568;
    public const int KemCiphertextLength = 1568;
    public const int KemSharedSecretLength = 32;
    public const int HashLength = 48;
    public const int KeyLength = 32;
    public const int IvLength = 12;

    public const byte AlertCloseNotify = 0;
}
