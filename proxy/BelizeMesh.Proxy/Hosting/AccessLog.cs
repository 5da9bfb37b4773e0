using System.Buffers;
using System.Diagnostics.Metrics;
using System.Globalization;
using System.Text.Json;

namespace BelizeMesh.Proxy.Hosting;

/// <summary>
/// The access log: one JSON line per proxied request (docs/policy.md, "Access log"), formatted as UTF-8 on the
/// request's thread into a per-thread buffer, copied into a shared 32 KiB block, and written to stdout by one
/// background thread a block at a time. A request never waits for stdout: when the writer is
/// <see cref="MaxQueuedBlocks"/> blocks behind (1 MiB), lines are dropped and counted
/// (<c>belizemesh_proxy_access_log_dropped_lines_total</c>).
/// </summary>
/// <remarks>
/// What it replaces, the JSON console logger, cost a third of the pair's throughput (issue 11): a string, a boxed
/// state and a JSON document per line, and one <c>write(2)</c> per line from its queue thread. Here a line allocates
/// nothing, and a block goes out in one <c>write(2)</c> at most <see cref="GatherDelay"/> after its first line (at
/// once when full), so under load hundreds of lines share a system call. The other log lines still come from the
/// console logger, which writes through <see cref="Console.Out"/>, a synchronized writer: the writer thread holds
/// that same lock while it writes a block, so a block never lands inside one of them.
/// </remarks>
internal sealed class AccessLog : IDisposable
{
    internal const int BlockSize = 32 * 1024;
    internal const int MaxQueuedBlocks = 32;

    /// <summary>How long a partly filled block waits for more lines before it is written.</summary>
    internal static readonly TimeSpan GatherDelay = TimeSpan.FromMilliseconds(50);

    [ThreadStatic]
    private static Formatter? t_formatter;

    private readonly Stream _output;
    private readonly bool _stdout;
    private readonly TimeProvider _time;
    private readonly Action<string>? _observer;
    private readonly Lock _lock = new();
    private readonly Queue<Block> _full = new();
    // Not a SemaphoreSlim: its Wait spins (sched_yield) before it blocks, which was half the writer's CPU under load.
    private readonly ManualResetEventSlim _signal = new(false, spinCount: 0);
    private Block? _current;
    private Thread? _thread;
    private bool _stopping;
    private volatile bool _writerIdle;
    private long _dropped;
    private long _written;

    /// <param name="output">Where lines go; null = this process's stdout.</param>
    /// <param name="time">The clock of the lines' <c>Timestamp</c>.</param>
    /// <param name="meterFactory">Registers the dropped-lines counter on the proxy's meter; null = none.</param>
    /// <param name="observer">Called on the request's thread with the request path after each line is queued (tests).</param>
    public AccessLog(Stream? output, TimeProvider time, IMeterFactory? meterFactory = null, Action<string>? observer = null)
    {
        _stdout = output is null;
        _output = output ?? Console.OpenStandardOutput();
        _time = time;
        _observer = observer;
        meterFactory?.Create(Metrics.ProxyMetrics.MeterName).CreateObservableCounter(
            "belizemesh.proxy.access_log.dropped_lines", () => Volatile.Read(ref _dropped), "{line}",
            "Access-log lines dropped because stdout did not keep up (the writer was 1 MiB behind).");
    }

    /// <summary>Lines dropped so far because the writer was too far behind.</summary>
    public long Dropped => Volatile.Read(ref _dropped);

    /// <summary>Lines handed to the output so far.</summary>
    public long Written => Volatile.Read(ref _written);

    /// <summary>Formats one request's line and queues it; never blocks on the output.</summary>
    public void Write(string direction, string method, string host, string path, string protocol, int status, string route,
        double durationMs, string peer, ReadOnlySpan<char> traceId)
    {
        Formatter formatter = t_formatter ??= new Formatter();
        ReadOnlySpan<byte> line = formatter.Format(_time.GetUtcNow(), direction, method, host, path, protocol, status, route, durationMs, peer, traceId);
        Enqueue(line);
        _observer?.Invoke(path);
    }

    private void Enqueue(ReadOnlySpan<byte> line)
    {
        bool wake;
        lock (_lock)
        {
            if (_stopping)
            {
                _dropped++;
                return;
            }

            Block? current = _current;
            if (current is not null && current.Count + line.Length > current.Bytes.Length)
            {
                if (_full.Count >= MaxQueuedBlocks)
                {
                    _dropped++;
                    return;
                }

                _full.Enqueue(current);
                current = null;
                _current = null;
                _signal.Set();
            }

            if (current is null)
            {
                current = _current = new Block(ArrayPool<byte>.Shared.Rent(Math.Max(BlockSize, line.Length)));
                wake = _writerIdle; // the first line of a block starts the gather delay of a writer with nothing to do
            }
            else
            {
                wake = false;
            }

            line.CopyTo(current.Bytes.AsSpan(current.Count));
            current.Count += line.Length;
            current.Lines++;
            _thread ??= StartWriter();
        }

        if (wake)
        {
            _signal.Set();
        }
    }

    private Thread StartWriter()
    {
        var thread = new Thread(WriteLoop) { IsBackground = true, Name = "access log" };
        thread.Start();
        return thread;
    }

    private void WriteLoop()
    {
        bool partial = false;
        while (true)
        {
            if (!partial)
            {
                // Idle from here on, unless a line came in since the last look (a producer that saw the flag unset
                // did so before this lock, so its line is seen here; one that comes later sees the flag and wakes us).
                _writerIdle = true;
                lock (_lock)
                {
                    partial = _current is { Count: > 0 } || _stopping;
                }

                _writerIdle = !partial;
            }

            // Woken by a full block, by the first line of a new block (when idle), or by Dispose; a partly filled
            // block is written once GatherDelay passes without a full one.
            bool signalled = _signal.Wait(partial ? GatherDelay : Timeout.InfiniteTimeSpan);
            _writerIdle = false;
            _signal.Reset(); // before looking: a Set from now on is seen by the next Wait
            bool stopping;
            Block? take = null;
            lock (_lock)
            {
                stopping = _stopping;
                if ((!signalled || stopping) && _current is { Count: > 0 })
                {
                    _full.Enqueue(_current);
                    _current = null;
                }

                partial = _current is { Count: > 0 };
                if (_full.Count > 0)
                {
                    take = _full.Dequeue();
                }
            }

            while (take is not null)
            {
                WriteBlock(take);
                lock (_lock)
                {
                    take = _full.Count > 0 ? _full.Dequeue() : null;
                }
            }

            if (stopping)
            {
                lock (_lock)
                {
                    if (_full.Count == 0 && _current is null)
                    {
                        return;
                    }
                }
            }
        }
    }

    private void WriteBlock(Block block)
    {
        try
        {
            if (_stdout)
            {
                lock (Console.Out)
                {
                    _output.Write(block.Bytes, 0, block.Count);
                }
            }
            else
            {
                _output.Write(block.Bytes, 0, block.Count);
            }

            _output.Flush();
            Interlocked.Add(ref _written, block.Lines);
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException or NotSupportedException)
        {
            Interlocked.Add(ref _dropped, block.Lines); // stdout closed: nothing to log to
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(block.Bytes);
        }
    }

    /// <summary>Writes what is queued and stops the writer (the host's shutdown: lines of the last requests are kept).</summary>
    public void Dispose()
    {
        Thread? thread;
        lock (_lock)
        {
            if (_stopping)
            {
                return;
            }

            _stopping = true;
            thread = _thread;
        }

        if (thread is not null)
        {
            _signal.Set();
            thread.Join(TimeSpan.FromSeconds(5));
        }
    }

    private sealed class Block(byte[] bytes)
    {
        public byte[] Bytes { get; } = bytes;

        public int Count { get; set; }

        public int Lines { get; set; }
    }

    /// <summary>One thread's reusable formatting state: a JSON writer over a growable buffer and a char buffer for
    /// the human-readable <c>Message</c>.</summary>
    private sealed class Formatter
    {
        private readonly ArrayBufferWriter<byte> _buffer = new(1024);
        private readonly Utf8JsonWriter _json;
        private char[] _message = new char[512];

        public Formatter()
        {
            _json = new Utf8JsonWriter(_buffer, new JsonWriterOptions { SkipValidation = true });
        }

        public ReadOnlySpan<byte> Format(DateTimeOffset now, string direction, string method, string host, string path, string protocol,
            int status, string route, double durationMs, string peer, ReadOnlySpan<char> traceId)
        {
            _buffer.ResetWrittenCount();
            _json.Reset(_buffer);
            _json.WriteStartObject();
            _json.WriteString("Timestamp"u8, Timestamp(now.UtcDateTime, stackalloc byte[24]));
            _json.WriteNumber("EventId"u8, 300);
            _json.WriteString("LogLevel"u8, "Information"u8);
            _json.WriteString("Category"u8, "BelizeMesh.Proxy.AccessLog"u8);
            _json.WriteString("Message"u8, Message(direction, method, host, path, protocol, status, route, durationMs, peer, traceId));
            _json.WriteStartObject("State"u8);
            _json.WriteString("Direction"u8, direction);
            _json.WriteString("Method"u8, method);
            _json.WriteString("Host"u8, host);
            _json.WriteString("Path"u8, path);
            _json.WriteString("Protocol"u8, protocol);
            _json.WriteNumber("Status"u8, status);
            _json.WriteString("Route"u8, route);
            _json.WriteNumber("DurationMs"u8, Math.Round(durationMs, 4));
            _json.WriteString("Peer"u8, peer);
            _json.WriteString("TraceId"u8, traceId);
            _json.WriteEndObject();
            _json.WriteEndObject();
            _json.Flush();
            _buffer.Write("\n"u8);
            return _buffer.WrittenSpan;
        }

        /// <summary><c>yyyy-MM-ddTHH:mm:ss.fffZ</c> in UTF-8 (a custom DateTime format string is parsed on every call).</summary>
        private static ReadOnlySpan<byte> Timestamp(DateTime utc, Span<byte> text)
        {
            utc.Deconstruct(out int year, out int month, out int day);
            TimeSpan time = utc.TimeOfDay;
            Digits(text[..4], year);
            text[4] = (byte)'-';
            Digits(text.Slice(5, 2), month);
            text[7] = (byte)'-';
            Digits(text.Slice(8, 2), day);
            text[10] = (byte)'T';
            Digits(text.Slice(11, 2), time.Hours);
            text[13] = (byte)':';
            Digits(text.Slice(14, 2), time.Minutes);
            text[16] = (byte)':';
            Digits(text.Slice(17, 2), time.Seconds);
            text[19] = (byte)'.';
            Digits(text.Slice(20, 3), time.Milliseconds);
            text[23] = (byte)'Z';
            return text;
        }

        private static void Digits(Span<byte> destination, int value)
        {
            for (int i = destination.Length - 1; i >= 0; i--)
            {
                destination[i] = (byte)('0' + (value % 10));
                value /= 10;
            }
        }

        /// <summary><c>{Direction} {Method} {Host} {Path} {Protocol} {Status} route={Route} {DurationMs}ms peer={Peer} traceId={TraceId}</c>.</summary>
        private ReadOnlySpan<char> Message(string direction, string method, string host, string path, string protocol,
            int status, string route, double durationMs, string peer, ReadOnlySpan<char> traceId)
        {
            int needed = direction.Length + method.Length + host.Length + path.Length + protocol.Length + route.Length + peer.Length + traceId.Length + 80;
            if (_message.Length < needed)
            {
                _message = new char[Math.Max(needed, _message.Length * 2)];
            }

            Span<char> m = _message;
            int at = 0;
            Append(m, ref at, direction);
            m[at++] = ' ';
            Append(m, ref at, method);
            m[at++] = ' ';
            Append(m, ref at, host);
            m[at++] = ' ';
            Append(m, ref at, path);
            m[at++] = ' ';
            Append(m, ref at, protocol);
            m[at++] = ' ';
            status.TryFormat(m[at..], out int n, default, CultureInfo.InvariantCulture);
            at += n;
            Append(m, ref at, " route=");
            Append(m, ref at, route);
            m[at++] = ' ';
            Math.Round(durationMs, 4).TryFormat(m[at..], out n, default, CultureInfo.InvariantCulture);
            at += n;
            Append(m, ref at, "ms peer=");
            Append(m, ref at, peer);
            Append(m, ref at, " traceId=");
            Append(m, ref at, traceId);
            return m[..at];
        }

        private static void Append(Span<char> destination, ref int at, ReadOnlySpan<char> text)
        {
            text.CopyTo(destination[at..]);
            at += text.Length;
        }
    }
}
