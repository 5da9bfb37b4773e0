using System.Buffers;
using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using Microsoft.AspNetCore.Connections;

namespace BelizeMesh.Channel.Middleware;

/// <summary>
/// A memory pool for Kestrel's socket transport whose blocks hold whole channel records. Kestrel's own pool hands out
/// 4 KiB blocks and its transport receives at most one block per <c>recv</c>, so a 16 KiB record arrives in four
/// receives, four pipe flushes and four wake-ups of the record reader, and spans segments (one more copy before it can
/// be opened). With 32 KiB blocks a receive takes a whole record and most of the next. Registered as the host's
/// <see cref="IMemoryPoolFactory{T}"/> (Kestrel asks it for every listener's pool), see
/// <see cref="ListenOptionsPqChannelExtensions.AddPqChannelMemoryPool(Microsoft.Extensions.DependencyInjection.IServiceCollection, int)"/>.
/// </summary>
/// <remarks>
/// Blocks are pinned arrays (the transport pins them for the socket anyway) kept in a bounded free list: a pool that
/// grew under a burst gives the surplus back to the GC instead of holding it for the life of the process. Like
/// Kestrel's own pool, blocks are not cleared between uses: on a channel listener they carry ciphertext (the decrypted
/// pipe has its own memory), on a plaintext listener the HTTP bytes Kestrel would have held in its blocks anyway.
/// </remarks>
public sealed class RecordSizedMemoryPoolFactory : IMemoryPoolFactory<byte>
{
    /// <summary>32 KiB: two full records (16 KiB + 21 bytes each) do not quite fit, one always does with room for the next's start.</summary>
    public const int DefaultBlockSize = 32 * 1024;

    /// <summary>Free blocks a pool keeps: 256 × 32 KiB = 8 MiB at most held beyond what connections are using.</summary>
    public const int DefaultMaxRetainedBlocks = 256;

    private readonly int _blockSize;
    private readonly int _maxRetainedBlocks;

    /// <param name="blockSize">Bytes per block, at least 4 KiB.</param>
    /// <param name="maxRetainedBlocks">Free blocks each pool keeps for reuse; more are released to the GC.</param>
    public RecordSizedMemoryPoolFactory(int blockSize = DefaultBlockSize, int maxRetainedBlocks = DefaultMaxRetainedBlocks)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(blockSize, 4096);
        ArgumentOutOfRangeException.ThrowIfNegative(maxRetainedBlocks);
        _blockSize = blockSize;
        _maxRetainedBlocks = maxRetainedBlocks;
    }

    private readonly ConcurrentQueue<WeakReference<Pool>> _pools = new();

    /// <inheritdoc />
    public MemoryPool<byte> Create(MemoryPoolOptions? options = null)
    {
        var pool = new Pool(_blockSize, _maxRetainedBlocks);
        _pools.Enqueue(new WeakReference<Pool>(pool));
        return pool;
    }

    /// <summary>
    /// Lets every pool's free blocks go to the GC (blocks in use are untouched) and returns how many bytes that was: a
    /// sidecar that went quiet after a burst gives back up to <see cref="DefaultMaxRetainedBlocks"/> blocks per listener.
    /// </summary>
    public long ReleaseRetainedBlocks()
    {
        long released = 0;
        foreach (WeakReference<Pool> reference in _pools)
        {
            if (reference.TryGetTarget(out Pool? pool))
            {
                released += pool.ReleaseFree();
            }
        }

        return released;
    }

    private sealed class Pool(int blockSize, int maxRetained) : MemoryPool<byte>
    {
        private readonly ConcurrentQueue<Block> _free = new();
        private int _freeCount;
        private bool _disposed;

        public override int MaxBufferSize => blockSize;

        public override IMemoryOwner<byte> Rent(int minBufferSize = -1)
        {
            ArgumentOutOfRangeException.ThrowIfGreaterThan(minBufferSize, blockSize);
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_free.TryDequeue(out Block? block))
            {
                Interlocked.Decrement(ref _freeCount);
                block.Rented = true;
                return block;
            }

            return new Block(this, blockSize) { Rented = true };
        }

        internal void Return(Block block)
        {
            if (!_disposed && Interlocked.Increment(ref _freeCount) <= maxRetained)
            {
                _free.Enqueue(block);
                return;
            }

            Interlocked.Decrement(ref _freeCount);
        }

        public long ReleaseFree()
        {
            long released = 0;
            while (_free.TryDequeue(out _))
            {
                Interlocked.Decrement(ref _freeCount);
                released += blockSize;
            }

            return released;
        }

        protected override void Dispose(bool disposing)
        {
            _disposed = true;
            _free.Clear();
        }
    }

    private sealed class Block : IMemoryOwner<byte>
    {
        private readonly Pool _pool;

        public Block(Pool pool, int size)
        {
            _pool = pool;
            Memory = MemoryMarshal.CreateFromPinnedArray(GC.AllocateUninitializedArray<byte>(size, pinned: true), 0, size);
        }

        public bool Rented { get; set; }

        public Memory<byte> Memory { get; }

        public void Dispose()
        {
            if (Rented)
            {
                Rented = false;
                _pool.Return(this);
            }
        }
    }
}
