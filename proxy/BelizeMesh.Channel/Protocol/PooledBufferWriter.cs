using System.Buffers;
using System.Security.Cryptography;

namespace BelizeMesh.Channel.Protocol;

/// <summary>A growable output buffer over <see cref="ArrayPool{T}"/>, for handshake flights. Cleared before it returns memory.
/// Nothing is rented until the first write and <see cref="Clear"/> returns the buffer, so a connection waiting for its
/// peer's flight holds none.</summary>
internal sealed class PooledBufferWriter : IBufferWriter<byte>, IDisposable
{
    private readonly int _initialCapacity;
    private byte[] _buffer = [];
    private int _written;

    public PooledBufferWriter(int initialCapacity = 16 * 1024)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(initialCapacity);
        _initialCapacity = initialCapacity;
    }

    public ReadOnlyMemory<byte> WrittenMemory => _buffer.AsMemory(0, _written);

    public ReadOnlySpan<byte> WrittenSpan => _buffer.AsSpan(0, _written);

    public int WrittenCount => _written;

    public void Advance(int count)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        if (_written + count > _buffer.Length)
        {
            throw new InvalidOperationException("advanced past the end of the buffer");
        }

        _written += count;
    }

    public Memory<byte> GetMemory(int sizeHint = 0)
    {
        Ensure(sizeHint);
        return _buffer.AsMemory(_written);
    }

    public Span<byte> GetSpan(int sizeHint = 0)
    {
        Ensure(sizeHint);
        return _buffer.AsSpan(_written);
    }

    /// <summary>Forgets what was written and returns the buffer to the pool (the next write rents again): a connection
    /// that sent its flight and waits for the peer's holds no buffer.</summary>
    public void Clear()
    {
        CryptographicOperations.ZeroMemory(_buffer.AsSpan(0, _written));
        _written = 0;
        if (_buffer.Length != 0)
        {
            ArrayPool<byte>.Shared.Return(_buffer);
            _buffer = [];
        }
    }

    public void Dispose() => Clear();

    private void Ensure(int sizeHint)
    {
        int need = Math.Max(sizeHint, 1);
        if (_buffer.Length - _written >= need)
        {
            return;
        }

        byte[] bigger = ArrayPool<byte>.Shared.Rent(Math.Max(Math.Max(_buffer.Length * 2, _initialCapacity), _written + need));
        if (_buffer.Length != 0)
        {
            _buffer.AsSpan(0, _written).CopyTo(bigger);
            CryptographicOperations.ZeroMemory(_buffer.AsSpan(0, _written));
            ArrayPool<byte>.Shared.Return(_buffer);
        }

        _buffer = bigger;
    }
}
