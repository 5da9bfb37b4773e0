using System.Buffers.Binary;
using System.Security.Cryptography;
using BelizeMesh.Channel.Protocol;

namespace BelizeMesh.Channel.Tests;

/// <summary>
/// The record layer's AES-256-GCM (<see cref="AesGcmIntrinsics"/> for every record on CPUs with AES-NI) makes standard
/// records: each is checked against .NET's <see cref="AesGcm"/> (OpenSSL) with the key and IV derived as docs/protocol.md
/// 2.1 says, at sizes around the eight-block (128-byte) and four-block steps, up to the largest record, across a key update.
/// </summary>
public sealed class RecordCipherTests
{
    private static readonly byte[] s_secret = Enumerable.Range(1, ProtocolConstants.HashLength).Select(i => (byte)(i * 7)).ToArray();

    public static TheoryData<int> Lengths => [0, 1, 127, 128, 129, 191, 300, 4095, 4096, 4097, 9000, ProtocolConstants.MaxPlaintext - 1, ProtocolConstants.MaxPlaintext];

    [Theory]
    [MemberData(nameof(Lengths))]
    public void Records_of_every_size_are_standard_aes_256_gcm_under_the_derived_key_and_nonce(int length)
        => SealsAndOpensLikeTheReference(() => new RecordProtector(s_secret), length);

    private static void SealsAndOpensLikeTheReference(Func<RecordProtector> create, int length)
    {
        using RecordProtector sender = create();
        using RecordProtector receiver = create();
        byte[] secret = (byte[])s_secret.Clone();
        var random = new Random(length);
        for (int generation = 0; generation < 2; generation++)
        {
            for (ulong sequence = 0; sequence < 3; sequence++)
            {
                byte[] plaintext = new byte[length];
                random.NextBytes(plaintext);
                byte[] record = new byte[RecordProtector.SealedLength(length)];
                sender.Seal(ContentType.ApplicationData, plaintext, record);

                // The reference: AesGcm with key/iv from the traffic secret, nonce = iv ^ sequence, the header as AAD.
                byte[] key = new byte[ProtocolConstants.KeyLength];
                byte[] nonce = new byte[ProtocolConstants.IvLength];
                KeySchedule.ExpandLabel(secret, KeySchedule.Key, [], key);
                KeySchedule.ExpandLabel(secret, KeySchedule.Iv, [], nonce);
                BinaryPrimitives.WriteUInt64BigEndian(nonce.AsSpan(4), BinaryPrimitives.ReadUInt64BigEndian(nonce.AsSpan(4)) ^ sequence);
                using var reference = new AesGcm(key, ProtocolConstants.TagLength);
                byte[] opened = new byte[length];
                reference.Decrypt(nonce, record.AsSpan(ProtocolConstants.HeaderLength, length), record.AsSpan(ProtocolConstants.HeaderLength + length), opened, record.AsSpan(0, ProtocolConstants.HeaderLength));
                Assert.True(plaintext.AsSpan().SequenceEqual(opened), $"{length} bytes, generation {generation}, record {sequence}: OpenSSL opened something else");

                // And the record layer opens what the reference seals.
                byte[] sealedByReference = (byte[])record.Clone();
                reference.Encrypt(nonce, plaintext, sealedByReference.AsSpan(ProtocolConstants.HeaderLength, length), sealedByReference.AsSpan(ProtocolConstants.HeaderLength + length), record.AsSpan(0, ProtocolConstants.HeaderLength));
                Assert.Equal(Convert.ToHexString(record), Convert.ToHexString(sealedByReference));
                byte[] back = new byte[length];
                Assert.Equal(length, receiver.Open(sealedByReference, back));
                Assert.True(plaintext.AsSpan().SequenceEqual(back));
            }

            sender.UpdateKey();
            receiver.UpdateKey();
            byte[] next = new byte[ProtocolConstants.HashLength];
            KeySchedule.ExpandLabel(secret, KeySchedule.TrafficUpdate, [], next);
            secret = next;
        }
    }

    [Theory]
    [MemberData(nameof(Lengths))]
    public void A_tampered_record_of_any_size_fails_as_bad_record_mac(int length)
    {
        using var sender = new RecordProtector(s_secret);
        using var receiver = new RecordProtector(s_secret);
        byte[] record = new byte[RecordProtector.SealedLength(length)];
        sender.Seal(ContentType.ApplicationData, new byte[length], record);
        record[^1] ^= 0x80;
        byte[] plaintext = new byte[length];
        PqChannelException failure = Assert.Throws<PqChannelException>(() => receiver.Open(record, plaintext));
        Assert.Equal(ChannelFailure.BadRecordMac, failure.Reason);
    }

    [Theory]
    [InlineData(100)]
    [InlineData(ProtocolConstants.MaxPlaintext)]
    public void A_disposed_protector_refuses_to_seal_or_open_rather_than_use_its_zeroed_key(int length)
    {
        var protector = new RecordProtector(s_secret);
        byte[] record = new byte[RecordProtector.SealedLength(length)];
        protector.Seal(ContentType.ApplicationData, new byte[length], record);
        protector.Dispose();
        Assert.Throws<ObjectDisposedException>(() => protector.Seal(ContentType.ApplicationData, new byte[length], new byte[record.Length]));
        Assert.Throws<ObjectDisposedException>(() => protector.Open(record, new byte[length]));
    }
}
