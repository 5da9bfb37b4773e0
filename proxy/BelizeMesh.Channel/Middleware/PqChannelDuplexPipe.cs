using System.Buffers;
using System.IO.Pipelines;
using BelizeMesh.Channel.Protocol;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Logging;

namespace BelizeMesh.Channel.Middleware;

/// <summary>
/// The record layer between Kestrel's transport pipe and the application: one loop decrypts records from the
/// transport into the application's input pipe (nothing is advanced into it before its tag verifies), another seals
/// what the application writes into ≤ 16 KiB records on the transport. Completing the application's output sends
/// close_notify (half-close); the peer's close_notify completes the application's input; a transport EOF without it
/// completes the input with <see cref="ChannelFailure.Truncated"/>. Any record failure aborts the connection.
/// </summary>
internal sealed class PqChannelDuplexPipe : IAsyncDisposable, IPqChannelWriteFeature
{
    // Both pipes run their continuations inline: decrypted bytes reach Kestrel's parser on the thread that read the
    // record (with inline socket completions, the epoll thread), and what Kestrel flushes is sealed and sent on the
    // thread that flushed it (HTTP/2 connections excepted, see WriteLoopAsync). With the thread pool's scheduler each direction cost a hand-off per request: a worker
    // wake-up plus the pool waking one more worker per dequeued item — 13 of the 19 context switches per request of
    // the pair at 1,000 req/s, HTTP/1.1 inside (perf/README.md, "data path", third session). Nothing slow runs in
    // these continuations: record sealing/opening is AES-GCM, and the handshake hops to the pool (ThreadPoolHop).
    private static readonly PipeOptions s_pipeOptions = new(
        readerScheduler: PipeScheduler.Inline, writerScheduler: PipeScheduler.Inline,
        pauseWriterThreshold: 256 * 1024, resumeWriterThreshold: 128 * 1024, useSynchronizationContext: false);

    private readonly ConnectionContext _context;
    private readonly IDuplexPipe _transport;
    private readonly RecordProtector _read;
    private readonly RecordProtector _write;
    private readonly ChannelMetrics? _metrics;
    private readonly ILogger _logger;
    private readonly Pipe _input = new(s_pipeOptions);
    private readonly Pipe _output = new(s_pipeOptions);
    private readonly Task _readLoop;
    private readonly Task _writeLoop;
    private volatile bool _failed;

    // Set once the first application bytes from the peer are the HTTP/2 connection preface (RFC 9113 3.4).
    private volatile bool _multiplexed;

    // Set by an application that batches its own writes (IPqChannelWriteFeature.SealOnFlush).
    private volatile bool _sealOnFlush;
    private bool _sniffed;
    private byte[]? _readScratch;
    private byte[]? _writeScratch;

    public PqChannelDuplexPipe(ConnectionContext context, IDuplexPipe transport, RecordProtector read, RecordProtector write, ChannelMetrics? metrics, ILogger logger)
    {
        _context = context;
        _transport = transport;
        _read = read;
        _write = write;
        _metrics = metrics;
        _logger = logger;
        Application = new DuplexPipe(_input.Reader, _output.Writer);
        _readLoop = ReadLoopAsync();
        _writeLoop = WriteLoopAsync();
    }

    /// <summary>The decrypted side, handed to the rest of the connection pipeline.</summary>
    public IDuplexPipe Application { get; }

    /// <inheritdoc/>
    public void SealOnFlush() => _sealOnFlush = true;

    private async Task ReadLoopAsync()
    {
        await Task.Yield();
        PipeReader transportInput = _transport.Input;
        try
        {
            while (true)
            {
                ReadResult result = await transportInput.ReadAsync().ConfigureAwait(false);
                if (result.IsCanceled)
                {
                    break;
                }

                ReadOnlySequence<byte> buffer = result.Buffer;
                bool closed;
                SequencePosition consumed = buffer.Start;
                try
                {
                    consumed = OpenRecords(buffer, out closed, out long received);
                    _metrics?.BytesReceived(received);
                }
                finally
                {
                    transportInput.AdvanceTo(consumed, buffer.End);
                }

                if (closed)
                {
                    await _input.Writer.CompleteAsync().ConfigureAwait(false);
                    return;
                }

                FlushResult flush = await _input.Writer.FlushAsync().ConfigureAwait(false);
                if (flush.IsCompleted)
                {
                    break; // the application stopped reading
                }

                if (result.IsCompleted)
                {
                    throw new PqChannelException(ChannelFailure.Truncated, "the transport closed without close_notify (truncation)");
                }
            }

            await _input.Writer.CompleteAsync().ConfigureAwait(false);
        }
        catch (PqChannelException ex)
        {
            // Failed before the application learns of it (through its input) and finishes its output: an authentication
            // failure or truncation must end in an abort, never in a close_notify that would tell the peer the stream
            // ended cleanly.
            _failed = true;
            ChannelLog.ChannelFailed(_logger, _context.ConnectionId, ex.Reason, ex.Message);
            _context.Abort(new ConnectionAbortedException(ex.Message, ex));
            await _input.Writer.CompleteAsync(ex).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or ConnectionAbortedException or OperationCanceledException or InvalidOperationException)
        {
            await _input.Writer.CompleteAsync(ex).ConfigureAwait(false);
        }
    }

    private static ReadOnlySpan<byte> Http2Preface => "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"u8;

    /// <summary>Opens every complete record in <paramref name="buffer"/> into the application's input pipe.</summary>
    private SequencePosition OpenRecords(ReadOnlySequence<byte> buffer, out bool closed, out long received)
    {
        closed = false;
        received = 0;
        while (true)
        {
            switch (RecordFraming.TryParse(buffer, out RecordHeader header, out ReadOnlySequence<byte> record, out string? error))
            {
                case RecordParseResult.NeedMoreData:
                    return buffer.Start;
                case RecordParseResult.Invalid:
                    throw new PqChannelException(ChannelFailure.ProtocolViolation, error!);
            }

            ReadOnlySpan<byte> recordSpan = Contiguous(record, ref _readScratch);

            int plaintextLength = header.Length - ProtocolConstants.TagLength;
            Span<byte> destination = plaintextLength > 0 ? _input.Writer.GetSpan(plaintextLength) : [];
            int n = RecordLayer.Open(_read, recordSpan, destination, out RecordKind kind);
            buffer = buffer.Slice(record.End);
            if (kind == RecordKind.Close)
            {
                closed = true;
                return buffer.Start;
            }

            if (n > 0)
            {
                if (!_sniffed)
                {
                    _sniffed = true;
                    ReadOnlySpan<byte> preface = Http2Preface;
                    int length = Math.Min(n, preface.Length);
                    _multiplexed = destination[..length].SequenceEqual(preface[..length]);
                }

                _input.Writer.Advance(n);
                received += n;
            }
        }
    }

    private async Task WriteLoopAsync()
    {
        await Task.Yield();
        PipeReader application = _output.Reader;
        PipeWriter transportOutput = _transport.Output;
        try
        {
            while (true)
            {
                ReadResult result = await application.ReadAsync().ConfigureAwait(false);
                if (_multiplexed && !_sealOnFlush && !result.IsCompleted && !result.IsCanceled && !result.Buffer.IsEmpty)
                {
                    // HTTP/2 inside: many streams write frames one after another. Continuing on the thread pool (as the
                    // pipe's default scheduler did) lets the frames written meanwhile join this batch — one record and
                    // one send for several responses under load, where sealing each flush at once cost the pair
                    // ~1.2x the CPU per request at 64 connections. HTTP/1.1 (one response per flush) is sealed and
                    // sent on the flushing thread, with no hand-off.
                    application.AdvanceTo(result.Buffer.Start);
                    await Task.Yield();
                    if (!application.TryRead(out result))
                    {
                        continue;
                    }
                }

                ReadOnlySequence<byte> buffer = result.Buffer;
                long sent = buffer.Length;
                if (!buffer.IsEmpty)
                {
                    SealRecords(buffer, transportOutput);
                }

                application.AdvanceTo(buffer.End);
                if (sent > 0)
                {
                    _metrics?.BytesSent(sent);
                    FlushResult flush = await transportOutput.FlushAsync().ConfigureAwait(false);
                    if (flush.IsCompleted || flush.IsCanceled)
                    {
                        break;
                    }
                }

                if (result.IsCompleted || result.IsCanceled)
                {
                    if (!_failed)
                    {
                        Span<byte> span = transportOutput.GetSpan(RecordProtector.SealedLength(1));
                        transportOutput.Advance(RecordLayer.SealCloseNotify(_write, span));
                        await transportOutput.FlushAsync().ConfigureAwait(false);
                    }

                    break;
                }
            }

            await application.CompleteAsync().ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or ConnectionAbortedException or OperationCanceledException or InvalidOperationException)
        {
            await application.CompleteAsync(ex).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Seals <paramref name="buffer"/> into records of at most 16 KiB plaintext, directly into the transport's memory.
    /// Each span the transport hands out is filled: a record that would not fit whole is cut to the room left (records
    /// may be any size up to 16 KiB), so a 32 KiB block carries two records instead of one and 16 KiB of slack, and a
    /// 64 KiB write goes out as two blocks rather than four.
    /// </summary>
    private void SealRecords(ReadOnlySequence<byte> buffer, PipeWriter transportOutput)
    {
        int overhead = RecordLayer.MaxSealedLength(0);
        while (!buffer.IsEmpty)
        {
            Span<byte> destination = transportOutput.GetSpan(RecordLayer.MaxSealedLength((int)Math.Min(buffer.Length, ProtocolConstants.MaxPlaintext)));
            int written = 0;
            while (!buffer.IsEmpty && destination.Length - written > overhead)
            {
                int take = (int)Math.Min(Math.Min(buffer.Length, ProtocolConstants.MaxPlaintext), destination.Length - written - overhead);
                ReadOnlySequence<byte> chunk = buffer.Slice(0, take);
                ReadOnlySpan<byte> plaintext = Contiguous(chunk, ref _writeScratch);

                written += RecordLayer.SealData(_write, plaintext, destination[written..]);
                buffer = buffer.Slice(chunk.End);
            }

            transportOutput.Advance(written);
        }
    }

    /// <summary>The bytes of <paramref name="slice"/> (at most one record) as one span: the segment itself when it is
    /// contiguous, else a copy in <paramref name="scratch"/>, rented on first use and returned (cleared) on dispose.</summary>
    private static ReadOnlySpan<byte> Contiguous(ReadOnlySequence<byte> slice, ref byte[]? scratch)
    {
        if (slice.IsSingleSegment)
        {
            return slice.FirstSpan;
        }

        scratch ??= ArrayPool<byte>.Shared.Rent(ProtocolConstants.MaxRecord);
        slice.CopyTo(scratch);
        return scratch.AsSpan(0, (int)slice.Length);
    }

    public async ValueTask DisposeAsync()
    {
        // The application is done with the connection: finishing its output sends close_notify; stop reading.
        await _output.Writer.CompleteAsync().ConfigureAwait(false);
        await _input.Reader.CompleteAsync().ConfigureAwait(false);
        await _writeLoop.ConfigureAwait(false);
        _transport.Input.CancelPendingRead();
        await _readLoop.ConfigureAwait(false);
        _read.Dispose();
        _write.Dispose();
        if (_readScratch is not null)
        {
            ArrayPool<byte>.Shared.Return(_readScratch, clearArray: true);
            _readScratch = null;
        }

        if (_writeScratch is not null)
        {
            ArrayPool<byte>.Shared.Return(_writeScratch, clearArray: true);
            _writeScratch = null;
        }
    }

    private sealed class DuplexPipe(PipeReader input, PipeWriter output) : IDuplexPipe
    {
        public PipeReader Input { get; } = input;

        public PipeWriter Output { get; } = output;
    }
}
