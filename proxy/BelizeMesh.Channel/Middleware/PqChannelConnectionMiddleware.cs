using System.Buffers;
using System.Diagnostics;
using System.IO.Pipelines;
using BelizeMesh.Channel.Protocol;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Logging;

namespace BelizeMesh.Channel.Middleware;

/// <summary>
/// Kestrel connection middleware terminating the post-quantum channel over System.IO.Pipelines, shaped like
/// Kestrel's <c>HttpsConnectionMiddleware</c>.
/// </summary>
/// <remarks>
/// 1. Options are validated in the constructor, so bad configuration fails at startup.
/// 2. The handshake reads records straight from <c>context.Transport.Input</c> (<see cref="RecordFraming"/>, length
///    checked before buffering) under a timed cancellation source linked to the connection's lifetime.
/// 3. Each expected failure (typed channel failure, timeout, transport error) is logged at Debug, counted, answered
///    with an alert when possible, and the connection is closed without throwing.
/// 4. On success the peer identity becomes an <see cref="IPqChannelFeature"/>, <c>context.Transport</c> is swapped for
///    the decrypted pipe (<see cref="PqChannelDuplexPipe"/>) and restored in <c>finally</c>.
/// </remarks>
internal sealed class PqChannelConnectionMiddleware
{
    private readonly ConnectionDelegate _next;
    private readonly PqChannelOptions _options;
    private readonly ILogger _logger;

    public PqChannelConnectionMiddleware(ConnectionDelegate next, PqChannelOptions options, ILoggerFactory loggerFactory)
    {
        ArgumentNullException.ThrowIfNull(next);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(loggerFactory);
        options.Validate();
        _next = next;
        _options = options;
        _logger = loggerFactory.CreateLogger("BelizeMesh.Channel.Inbound");
    }

    public async Task OnConnectionAsync(ConnectionContext context)
    {
        // The handshake runs on the thread pool: a no-op when the connection starts on a pool thread (Task.Yield here
        // was a second hop per connection: server CPU per handshake 1.07x with inline socket completions), else the
        // caller returns to its loop at once.
        await ThreadPoolHop.FromEventLoop;

        long started = Stopwatch.GetTimestamp();
        IDuplexPipe transport = context.Transport;
        using var machine = HandshakeMachine.CreateServer(_options);
        using var output = new PooledBufferWriter();
        // Only the deadline cancels the handshake reads. Not ConnectionClosed: Kestrel fires it when the peer
        // half-closes, which would cancel a read of bytes that already arrived (a plaintext request followed by FIN in
        // PERMISSIVE mode); a peer that really goes away completes the input pipe, which the reads handle.
        using var deadline = new CancellationTokenSource();
        if (_options.HandshakeTimeout != Timeout.InfiniteTimeSpan)
        {
            deadline.CancelAfter(_options.HandshakeTimeout);
        }

        try
        {
            if (_options.AllowPlaintext && await IsForeignProtocolAsync(transport.Input, deadline.Token).ConfigureAwait(false))
            {
                // The connection may live for hours and never uses the credentials: do not hold a retired key that long.
                machine.ReleaseCredentials();
                ChannelLog.PlaintextAccepted(_logger, context.ConnectionId);
                _options.Metrics?.PlaintextAccepted();
                await _next(context).ConfigureAwait(false);
                return;
            }

            // Admission before any handshake work: a refused source costs a dictionary lookup and a 6-byte alert.
            if (context.Features.Get<IHandshakeAdmission>() is { } admission && !admission.TryAdmit(context, out string? refusal))
            {
                throw new PqChannelException(ChannelFailure.Overloaded, refusal);
            }

            await HandshakeAsync(transport, machine, output, deadline.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (deadline.IsCancellationRequested)
        {
            ChannelLog.HandshakeTimedOut(_logger, context.ConnectionId, _options.HandshakeTimeout);
            _options.Metrics?.HandshakeFailed(isClient: false, ChannelFailure.Timeout, Stopwatch.GetElapsedTime(started));
            return;
        }
        catch (PqChannelException ex)
        {
            ChannelLog.HandshakeFailed(_logger, context.ConnectionId, ex.Reason, ex.Message);
            _options.Metrics?.HandshakeFailed(isClient: false, ex.Reason, Stopwatch.GetElapsedTime(started));
            await TrySendAlertAsync(transport, machine, output, ex).ConfigureAwait(false);
            return;
        }
        catch (IOException ex)
        {
            ChannelLog.HandshakeTransportFailed(_logger, context.ConnectionId, ex);
            _options.Metrics?.HandshakeFailed(isClient: false, ChannelFailure.Truncated, Stopwatch.GetElapsedTime(started));
            return;
        }

        TimeSpan elapsed = Stopwatch.GetElapsedTime(started);
        string peer = machine.PeerIdentity!;
        ChannelLog.HandshakeSucceeded(_logger, context.ConnectionId, peer, elapsed.TotalMilliseconds);
        _options.Metrics?.HandshakeSucceeded(isClient: false, elapsed);
        context.Features.Set<IPqChannelFeature>(new PqChannelFeature(peer, ProtocolConstants.Version1, elapsed));

        var (read, write) = machine.TakeApplicationProtectors();

        // The channel needs only its two record protectors: the handshake's 32 KiB record scratch, its flight buffer,
        // transcript, ephemeral keys and credential lease go now, not when the connection closes (an idle channel held
        // them: 69 → 20 KiB per idle channel, perf/README.md "footprint"). The using declarations dispose them again: no-ops.
        output.Dispose();
        machine.Dispose();
        var channel = new PqChannelDuplexPipe(context, transport, read, write, _options.Metrics, _logger);
        context.Features.Set<IPqChannelWriteFeature>(channel);
        _options.Metrics?.ChannelOpened(isClient: false);
        try
        {
            context.Transport = channel.Application;
            await _next(context).ConfigureAwait(false);
        }
        finally
        {
            await channel.DisposeAsync().ConfigureAwait(false);
            context.Transport = transport;
            _options.Metrics?.ChannelClosed(isClient: false);
        }
    }

    /// <summary>
    /// Peeks at the first bytes without consuming them (examined = start, so the next reader sees them at once):
    /// true when they cannot start a channel record. Decides on the first byte for HTTP and TLS, at most three bytes.
    /// </summary>
    private static async Task<bool> IsForeignProtocolAsync(PipeReader input, CancellationToken cancellationToken)
    {
        while (true)
        {
            ReadResult result = await input.ReadAsync(cancellationToken).ConfigureAwait(false);
            ReadOnlySequence<byte> buffer = result.Buffer;
            int available = (int)Math.Min(buffer.Length, 3);
            bool foreign = LooksForeign(buffer.Slice(0, available));
            if (foreign || available == 3 || result.IsCompleted)
            {
                input.AdvanceTo(buffer.Start, buffer.Start);
                return foreign;
            }

            input.AdvanceTo(buffer.Start, buffer.End);
        }
    }

    private static bool LooksForeign(ReadOnlySequence<byte> firstBytes)
    {
        Span<byte> first = stackalloc byte[3];
        firstBytes.CopyTo(first);
        return RecordFraming.LooksLikeForeignProtocol(first[..(int)firstBytes.Length]);
    }

    private static async Task HandshakeAsync(IDuplexPipe transport, HandshakeMachine machine, PooledBufferWriter output, CancellationToken cancellationToken)
    {
        PipeReader input = transport.Input;
        while (!machine.IsComplete)
        {
            ReadResult result = await input.ReadAsync(cancellationToken).ConfigureAwait(false);

            // Kestrel resumes this read on the thread that received the bytes: with inline socket completions, an epoll
            // thread serving every other connection of its engine. The ML-KEM, ML-DSA and P-256 ECDH work (~0.4 ms per
            // handshake) runs on the thread pool instead.
            await ThreadPoolHop.FromEventLoop;
            ReadOnlySequence<byte> buffer = result.Buffer;
            SequencePosition consumed = buffer.Start;
            SequencePosition examined = buffer.End;
            try
            {
                consumed = ProcessHandshakeRecords(machine, buffer, output);
                if (machine.IsComplete)
                {
                    // What follows ClientFinished (pipelined application data) belongs to the record layer.
                    examined = consumed;
                }
                else if (result.IsCompleted)
                {
                    throw new PqChannelException(ChannelFailure.Truncated, "the peer closed the connection during the handshake");
                }
            }
            finally
            {
                input.AdvanceTo(consumed, examined);
            }

            if (output.WrittenCount > 0)
            {
                await transport.Output.WriteAsync(output.WrittenMemory, cancellationToken).ConfigureAwait(false);
                output.Clear();
            }
        }
    }

    /// <summary>Feeds every complete record at the front of <paramref name="buffer"/> to the machine; returns how far it consumed.</summary>
    private static SequencePosition ProcessHandshakeRecords(HandshakeMachine machine, ReadOnlySequence<byte> buffer, PooledBufferWriter output)
    {
        while (!machine.IsComplete)
        {
            switch (RecordFraming.TryParse(buffer, out _, out ReadOnlySequence<byte> record, out string? error))
            {
                case RecordParseResult.NeedMoreData:
                    return buffer.Start;
                case RecordParseResult.Invalid:
                    throw new PqChannelException(machine.ReceivedAnyRecord ? ChannelFailure.ProtocolViolation : ChannelFailure.NotPqChannel, error!);
            }

            if (record.IsSingleSegment)
            {
                machine.ProcessRecord(record.FirstSpan, output);
            }
            else
            {
                byte[] copy = ArrayPool<byte>.Shared.Rent((int)record.Length);
                try
                {
                    record.CopyTo(copy);
                    machine.ProcessRecord(copy.AsSpan(0, (int)record.Length), output);
                }
                finally
                {
                    ArrayPool<byte>.Shared.Return(copy, clearArray: true);
                }
            }

            buffer = buffer.Slice(record.End);
        }

        return buffer.Start;
    }

    private static async Task TrySendAlertAsync(IDuplexPipe transport, HandshakeMachine machine, PooledBufferWriter output, PqChannelException failure)
    {
        if (failure.ReportedByPeer || failure.Reason is ChannelFailure.Truncated)
        {
            return;
        }

        try
        {
            output.Clear();
            if (machine.TryWriteAlert(failure.Reason, output))
            {
                using var flushDeadline = new CancellationTokenSource(TimeSpan.FromSeconds(1));
                await transport.Output.WriteAsync(output.WrittenMemory, flushDeadline.Token).ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException or InvalidOperationException)
        {
            // A courtesy only; the connection is closing anyway.
        }
    }
}
