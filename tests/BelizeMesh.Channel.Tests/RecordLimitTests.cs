using BelizeMesh.Channel.Protocol;

namespace BelizeMesh.Channel.Tests;

/// <summary>What a receiver accepts of a peer's key use (docs/protocol.md 2.2): the per-key limit and key updates.</summary>
public sealed class RecordLimitTests
{
    private static readonly byte[] Secret = [.. Enumerable.Range(1, 48).Select(i => (byte)i)];

    /// <summary>A sender that never updates on its own (its threshold is past the protocol's) and the receiver's view.</summary>
    private static (RecordProtector Sender, RecordProtector Receiver) Pair() =>
        (new RecordProtector(Secret, recordsPerKey: long.MaxValue, bytesPerKey: long.MaxValue), new RecordProtector(Secret));

    private static byte[] Seal(RecordProtector sender, ContentType type, int length = 10)
    {
        byte[] record = new byte[RecordProtector.SealedLength(length)];
        sender.Seal(type, new byte[length], record);
        return record;
    }

    private static int Open(RecordProtector receiver, byte[] record) =>
        RecordLayer.Open(receiver, record, new byte[record.Length], out _);

    [Fact]
    public void Receiver_rejects_data_past_two_to_the_24_records_under_one_key()
    {
        var (sender, receiver) = Pair();
        using (sender)
        using (receiver)
        {
            sender.AdvanceSequenceForTest((1UL << 24) - 1);
            receiver.AdvanceSequenceForTest((1UL << 24) - 1);
            Assert.Equal(10, Open(receiver, Seal(sender, ContentType.ApplicationData))); // the last record the key may protect

            var ex = Assert.Throws<PqChannelException>(() => Open(receiver, Seal(sender, ContentType.ApplicationData)));
            Assert.Equal(ChannelFailure.ProtocolViolation, ex.Reason);
            Assert.Contains("application data record 16777216 under one key: the peer must send key_update", ex.Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Receiver_accepts_the_key_update_that_comes_at_the_limit_and_data_under_the_new_key()
    {
        var (sender, receiver) = Pair();
        using (sender)
        using (receiver)
        {
            sender.AdvanceSequenceForTest(1UL << 24);
            receiver.AdvanceSequenceForTest(1UL << 24);
            Open(receiver, Seal(sender, ContentType.KeyUpdate, length: 0));
            sender.UpdateKey();
            Assert.Equal(10, Open(receiver, Seal(sender, ContentType.ApplicationData)));
            Assert.Equal(1, receiver.Generation);
        }
    }

    [Fact]
    public void Receiver_rejects_a_key_update_under_a_key_that_protected_nothing()
    {
        var (sender, receiver) = Pair();
        using (sender)
        using (receiver)
        {
            // First record of the channel.
            var first = Assert.Throws<PqChannelException>(() => Open(receiver, Seal(sender, ContentType.KeyUpdate, length: 0)));
            Assert.Equal(ChannelFailure.ProtocolViolation, first.Reason);
            Assert.Contains("key_update under a key that has protected no record", first.Message, StringComparison.Ordinal);
        }

        (sender, receiver) = Pair();
        using (sender)
        using (receiver)
        {
            // Data, key_update (fine), then key_update straight after: a flood of ratchets for nothing.
            Open(receiver, Seal(sender, ContentType.ApplicationData));
            Open(receiver, Seal(sender, ContentType.KeyUpdate, length: 0));
            sender.UpdateKey();
            var second = Assert.Throws<PqChannelException>(() => Open(receiver, Seal(sender, ContentType.KeyUpdate, length: 0)));
            Assert.Equal(ChannelFailure.ProtocolViolation, second.Reason);
            Assert.Equal(1, receiver.Generation);
        }
    }

    [Fact]
    public void Options_refuse_key_update_thresholds_beyond_the_protocol_limit()
    {
        PqChannelOptions options = TestPki.Instance.ClientOptions();
        options.RecordsPerKey = (1L << 24) + 1;
        var ex = Assert.Throws<InvalidOperationException>(() => new PqChannelStream(new MemoryStream(), options));
        Assert.Contains("within the protocol's 2^24 records / 2^34 bytes per key", ex.Message, StringComparison.Ordinal);
    }
}
