using System.Buffers;
using BelizeMesh.Channel.Middleware;

namespace BelizeMesh.Channel.Tests;

public sealed class RecordSizedMemoryPoolTests
{
    [Fact]
    public void Pool_hands_out_blocks_of_the_configured_size_and_refuses_larger_requests()
    {
        using MemoryPool<byte> pool = new RecordSizedMemoryPoolFactory(blockSize: 32 * 1024).Create();
        Assert.Equal(32 * 1024, pool.MaxBufferSize);
        using IMemoryOwner<byte> small = pool.Rent(1);
        using IMemoryOwner<byte> whole = pool.Rent();
        Assert.Equal(32 * 1024, small.Memory.Length);
        Assert.Equal(32 * 1024, whole.Memory.Length);
        Assert.Throws<ArgumentOutOfRangeException>(() => pool.Rent((32 * 1024) + 1));
    }

    [Fact]
    public void Returned_blocks_are_reused_and_a_second_dispose_does_not_return_a_block_twice()
    {
        using MemoryPool<byte> pool = new RecordSizedMemoryPoolFactory(blockSize: 4096).Create();
        IMemoryOwner<byte> first = pool.Rent();
        Memory<byte> memory = first.Memory;
        first.Dispose();
        first.Dispose();
        using IMemoryOwner<byte> again = pool.Rent();
        using IMemoryOwner<byte> other = pool.Rent();
        Assert.True(again.Memory.Equals(memory), "the returned block should be handed out again");
        Assert.False(other.Memory.Equals(memory), "a block disposed twice must not be handed out twice");
    }

    [Fact]
    public void Pool_keeps_at_most_the_configured_number_of_free_blocks()
    {
        using MemoryPool<byte> pool = new RecordSizedMemoryPoolFactory(blockSize: 4096, maxRetainedBlocks: 2).Create();
        IMemoryOwner<byte>[] rented = [pool.Rent(), pool.Rent(), pool.Rent()];
        foreach (IMemoryOwner<byte> block in rented)
        {
            block.Dispose();
        }

        // Two come back from the free list, the third rent is a new block.
        using IMemoryOwner<byte> a = pool.Rent();
        using IMemoryOwner<byte> b = pool.Rent();
        using IMemoryOwner<byte> c = pool.Rent();
        int reused = new[] { a, b, c }.Count(x => rented.Any(r => r.Memory.Equals(x.Memory)));
        Assert.Equal(2, reused);
    }

    [Fact]
    public void Factory_rejects_blocks_smaller_than_a_page()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new RecordSizedMemoryPoolFactory(blockSize: 1024));
    }
}
