using System.Buffers;
using System.Diagnostics.Metrics;
using System.Globalization;
using System.Text;
using Prometheus;

namespace BelizeMesh.Proxy.Metrics;

/// <summary>
/// Exports every <see cref="System.Diagnostics.Metrics"/> instrument of every meter whose name starts with
/// <c>BelizeMesh.</c> (the proxy's own and the PQ channel's), created by this host's <see cref="IMeterFactory"/> or by
/// no factory (static meters), and of .NET's <c>System.Runtime</c> meter, through prometheus-net: a <see cref="MeterListener"/> feeds each measurement into a
/// prometheus-net collector of this exporter's own <see cref="CollectorRegistry"/>, whose serializer writes the text
/// exposition format 0.0.4.
/// </summary>
/// <remarks>
/// prometheus-net's own <c>MeterAdapter</c> is not used: it names a metric <c>{meter}_{instrument}</c>, exports every
/// counter as a gauge, rewrites HELP and expires series idle for 5 minutes. This bridge keeps our naming instead:
/// <c>belizemesh.proxy.request.duration</c> with unit <c>s</c> becomes <c>belizemesh_proxy_request_duration_seconds</c>;
/// counters get <c>_total</c>. Counters and observable counters are exported as <c>counter</c>, up-down counters and
/// gauges as <c>gauge</c>, histograms as <c>histogram</c> with the instrument's advised bucket boundaries. A series
/// appears with its first measurement; labels are the tags, sorted by name.
/// </remarks>
internal sealed class PrometheusExporter : IDisposable
{
    public const string ContentType = "text/plain; version=0.0.4; charset=utf-8";

    private static readonly double[] s_defaultBuckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

    private readonly MeterListener _listener;
    private readonly IMeterFactory? _factory;
    private readonly CollectorRegistry _registry = Prometheus.Metrics.NewCustomRegistry();
    private readonly MetricFactory _metrics;

    public PrometheusExporter(IMeterFactory? factory)
    {
        _factory = factory;
        _metrics = Prometheus.Metrics.WithCustomRegistry(_registry);
        _metrics.ExemplarBehavior = ExemplarBehavior.NoExemplars(); // exemplars are OpenMetrics-only and cost per record
        _listener = new MeterListener
        {
            InstrumentPublished = (instrument, listener) =>
            {
                if (IsExported(instrument.Meter))
                {
                    listener.EnableMeasurementEvents(instrument, new InstrumentState(instrument, _metrics));
                }
            },
        };
        _listener.SetMeasurementEventCallback<long>(static (i, value, tags, state) => ((InstrumentState)state!).Record(value, tags));
        _listener.SetMeasurementEventCallback<int>(static (i, value, tags, state) => ((InstrumentState)state!).Record(value, tags));
        _listener.SetMeasurementEventCallback<double>(static (i, value, tags, state) => ((InstrumentState)state!).Record(value, tags));
        _listener.SetMeasurementEventCallback<float>(static (i, value, tags, state) => ((InstrumentState)state!).Record(value, tags));
        _registry.AddBeforeCollectCallback(_listener.RecordObservableInstruments);
        _listener.Start();
    }

    private bool IsExported(Meter meter)
        => (meter.Name.StartsWith("BelizeMesh.", StringComparison.Ordinal) && (meter.Scope is null || ReferenceEquals(meter.Scope, _factory)))
        || (meter.Name == RuntimeMeterName && meter.Scope is null);

    /// <summary>.NET's built-in runtime meter (GC, thread pool, locks, exceptions, process CPU and memory): observable
    /// instruments, read only when scraped.</summary>
    public const string RuntimeMeterName = "System.Runtime";

    /// <summary>The prometheus-net factory of this exporter's registry, for families registered directly
    /// (<see cref="IstioRequestMetrics"/>, <see cref="ProcessMetrics"/>).</summary>
    internal MetricFactory Factory => _metrics;

    /// <summary>Runs <paramref name="callback"/> before every scrape (observable values).</summary>
    internal void BeforeCollect(Action callback) => _registry.AddBeforeCollectCallback(callback);

    /// <summary>Writes every exported series to <paramref name="stream"/> (UTF-8 text format 0.0.4).</summary>
    public Task WriteAsync(Stream stream, CancellationToken cancel) => _registry.CollectAndExportAsTextAsync(stream, cancel);

    /// <summary>Renders every exported series (tests and tools; the admin listener streams with <see cref="WriteAsync"/>).</summary>
    public string Render()
    {
        using var buffer = new MemoryStream();
        WriteAsync(buffer, CancellationToken.None).GetAwaiter().GetResult();
        return Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length);
    }

    public void Dispose() => _listener.Dispose();

    /// <summary>
    /// <c>System.Runtime</c> instruments exported under another name or type: counts that go down (.NET declares the
    /// thread pool's thread count and queue length as observable counters; as Prometheus counters they would stick at
    /// their highest value) are gauges, and a gauge is not named <c>*_count</c> (Prometheus reserves the suffix for
    /// histograms and summaries; <c>promtool check metrics</c> flags it).
    /// </summary>
    private static readonly Dictionary<string, string> s_runtimeGauges = new(StringComparer.Ordinal)
    {
        ["dotnet.thread_pool.thread.count"] = "dotnet_thread_pool_threads",
        ["dotnet.thread_pool.queue.length"] = "dotnet_thread_pool_queue_length",
        ["dotnet.assembly.count"] = "dotnet_assemblies",
        ["dotnet.timer.count"] = "dotnet_timers",
        ["dotnet.process.cpu.count"] = "dotnet_process_cpus",
    };

    private static bool IsRuntimeGauge(Instrument instrument, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out string? name)
    {
        name = null;
        return instrument.Meter.Name == RuntimeMeterName && s_runtimeGauges.TryGetValue(instrument.Name, out name);
    }

    internal static string MetricName(Instrument instrument)
    {
        if (IsRuntimeGauge(instrument, out string? runtimeName))
        {
            return runtimeName;
        }

        var name = new StringBuilder(instrument.Name.Length + 16);
        foreach (char c in instrument.Name)
        {
            name.Append(char.IsAsciiLetterOrDigit(c) || c == '_' || c == ':' ? c : '_');
        }

        if (name.Length == 0 || char.IsAsciiDigit(name[0]))
        {
            name.Insert(0, '_');
        }

        string unitSuffix = instrument.Unit switch
        {
            "s" => "_seconds",
            "ms" => "_milliseconds",
            "By" => "_bytes",
            _ => "",
        };
        if (unitSuffix.Length > 0 && !name.ToString().EndsWith(unitSuffix, StringComparison.Ordinal))
        {
            name.Append(unitSuffix);
        }

        if (IsCounter(instrument) && !name.ToString().EndsWith("_total", StringComparison.Ordinal))
        {
            name.Append("_total");
        }

        return name.ToString();
    }

    private static bool IsCounter(Instrument instrument) => !IsRuntimeGauge(instrument, out _) && instrument is Counter<long> or Counter<int> or Counter<double> or Counter<float>
        or ObservableCounter<long> or ObservableCounter<int> or ObservableCounter<double> or ObservableCounter<float>;

    private static string LabelName(string key)
    {
        var name = new StringBuilder(key.Length);
        foreach (char c in key)
        {
            name.Append(char.IsAsciiLetterOrDigit(c) || c == '_' ? c : '_');
        }

        if (name.Length == 0 || char.IsAsciiDigit(name[0]))
        {
            name.Insert(0, '_');
        }

        return name.ToString();
    }

    private enum Kind
    {
        Counter,
        Gauge,
        Histogram,
    }

    /// <summary>One instrument: its Prometheus name, type and buckets, and one prometheus-net collector per tag-name
    /// set the call sites use (usually one).</summary>
    private sealed class InstrumentState
    {
        private const int MaxTags = 16;

        private readonly MetricFactory _metrics;
        private readonly string _name;
        private readonly string _help;
        private readonly Kind _kind;
        private readonly bool _observable;
        private readonly double[] _buckets;
        private readonly Lock _gate = new();
        private Binding[] _bindings = [];

        public InstrumentState(Instrument instrument, MetricFactory metrics)
        {
            _metrics = metrics;
            _name = MetricName(instrument);
            _observable = instrument.IsObservable;
            _help = instrument.Description is { Length: > 0 } description ? description : instrument.Name;
            _kind = IsCounter(instrument) ? Kind.Counter : instrument switch
            {
                Histogram<double> or Histogram<long> or Histogram<int> or Histogram<float> => Kind.Histogram,
                _ => Kind.Gauge,
            };
            _buckets = instrument switch
            {
                Histogram<double> h when h.Advice?.HistogramBucketBoundaries is { Count: > 0 } b => [.. b],
                Histogram<long> h when h.Advice?.HistogramBucketBoundaries is { Count: > 0 } b => ToDoubles(b),
                Histogram<int> h when h.Advice?.HistogramBucketBoundaries is { Count: > 0 } b => ToDoubles(b),
                _ => s_defaultBuckets,
            };
        }

        private static double[] ToDoubles<T>(IReadOnlyList<T> values)
            where T : struct, IConvertible
        {
            var result = new double[values.Count];
            for (int i = 0; i < result.Length; i++)
            {
                result[i] = values[i].ToDouble(CultureInfo.InvariantCulture);
            }

            return result;
        }

        public void Record(double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            if (_kind == Kind.Counter && !(value >= 0))
            {
                return; // a counter only goes up (prometheus-net would throw into the caller)
            }

            // Sort the tags by key (insertion sort: tag lists are short) so one label set always maps to one series.
            int n = Math.Min(tags.Length, MaxTags);
            Span<int> order = stackalloc int[n];
            for (int i = 0; i < n; i++)
            {
                int j = i;
                while (j > 0 && string.CompareOrdinal(tags[order[j - 1]].Key, tags[i].Key) > 0)
                {
                    order[j] = order[j - 1];
                    j--;
                }

                order[j] = i;
            }

            Binding binding = Find(tags, order) ?? Bind(tags, order);
            if (!binding.Exported)
            {
                return;
            }

            // The call sites pass the same string instances for a label set every time (constants, the route ids of
            // the policy snapshot, cached status texts): their child is found by reference, without prometheus-net's
            // lookup by label values (which hashes and compares every value under a lock).
            int hash = ChildCache.Hash(tags, order);
            if (binding.Children.Find(tags, order, hash) is { } cached)
            {
                Update(cached, value);
                return;
            }

            string[] values = ArrayPool<string>.Shared.Rent(n);
            try
            {
                for (int i = 0; i < n; i++)
                {
                    object? tagValue = tags[order[i]].Value;
                    values[i] = tagValue as string ?? Convert.ToString(tagValue, CultureInfo.InvariantCulture) ?? "";
                }

                ReadOnlySpan<string> labels = values.AsSpan(0, n);
                object child = _kind switch
                {
                    Kind.Counter => binding.Counter!.WithLabels(labels),
                    Kind.Histogram => binding.Histogram!.WithLabels(labels),
                    _ => binding.Gauge!.WithLabels(labels),
                };
                binding.Children.Add(tags, order, hash, child);
                Update(child, value);
            }
            finally
            {
                Array.Clear(values, 0, n);
                ArrayPool<string>.Shared.Return(values);
            }
        }

        private void Update(object child, double value)
        {
            switch (_kind)
            {
                case Kind.Counter when _observable:
                    ((Prometheus.Counter.Child)child).IncTo(value);
                    break;
                case Kind.Counter:
                    ((Prometheus.Counter.Child)child).Inc(value);
                    break;
                case Kind.Histogram:
                    ((Prometheus.Histogram.Child)child).Observe(value);
                    break;
                case Kind.Gauge when _observable:
                    ((Prometheus.Gauge.Child)child).Set(value);
                    break;
                default:
                    ((Prometheus.Gauge.Child)child).Inc(value);
                    break;
            }
        }

        private Binding? Find(ReadOnlySpan<KeyValuePair<string, object?>> tags, ReadOnlySpan<int> order)
        {
            foreach (Binding binding in Volatile.Read(ref _bindings))
            {
                if (binding.Matches(tags, order))
                {
                    return binding;
                }
            }

            return null;
        }

        private Binding Bind(ReadOnlySpan<KeyValuePair<string, object?>> tags, ReadOnlySpan<int> order)
        {
            lock (_gate)
            {
                if (Find(tags, order) is { } existing)
                {
                    return existing;
                }

                var keys = new string[order.Length];
                var labelNames = new string[order.Length];
                for (int i = 0; i < keys.Length; i++)
                {
                    keys[i] = tags[order[i]].Key;
                    labelNames[i] = LabelName(keys[i]);
                }

                Binding binding;
                try
                {
                    binding = _kind switch
                    {
                        Kind.Counter => new Binding(keys, counter: _metrics.CreateCounter(_name, _help, labelNames, new CounterConfiguration { SuppressInitialValue = true })),
                        Kind.Histogram => new Binding(keys, histogram: _metrics.CreateHistogram(_name, _help, labelNames, new HistogramConfiguration { SuppressInitialValue = true, Buckets = _buckets })),
                        _ => new Binding(keys, gauge: _metrics.CreateGauge(_name, _help, labelNames, new GaugeConfiguration { SuppressInitialValue = true })),
                    };
                }
                catch (Exception e) when (e is ArgumentException or InvalidOperationException)
                {
                    // Two meters' instruments with one Prometheus name but another type, or duplicate label names after
                    // sanitizing: the first registration wins, this tag set is not exported (a family must be consistent).
                    binding = new Binding(keys);
                }

                Volatile.Write(ref _bindings, [.. _bindings, binding]);
                return binding;
            }
        }
    }

    private sealed class Binding(string[] keys, Prometheus.Counter? counter = null, Prometheus.Gauge? gauge = null, Prometheus.Histogram? histogram = null)
    {
        public Prometheus.Counter? Counter { get; } = counter;

        public Prometheus.Gauge? Gauge { get; } = gauge;

        public Prometheus.Histogram? Histogram { get; } = histogram;

        public bool Exported => Counter is not null || Gauge is not null || Histogram is not null;

        /// <summary>This binding's prometheus-net children by the identity of their tag values.</summary>
        public ChildCache Children { get; } = new();

        public bool Matches(ReadOnlySpan<KeyValuePair<string, object?>> tags, ReadOnlySpan<int> order)
        {
            if (keys.Length != order.Length)
            {
                return false;
            }

            for (int i = 0; i < keys.Length; i++)
            {
                if (!string.Equals(keys[i], tags[order[i]].Key, StringComparison.Ordinal))
                {
                    return false;
                }
            }

            return true;
        }
    }

    /// <summary>
    /// One binding's prometheus-net children, found by the tag values' object identity: a lock-free read of a small
    /// hash table. Only label sets whose values are all strings are remembered (a boxed number is a new object each
    /// time), at most <see cref="MaxEntries"/> (past that the table starts over: label sets that churn, such as route
    /// ids replaced by policy reloads, cannot grow it without bound). A miss costs what recording cost without it.
    /// </summary>
    private sealed class ChildCache
    {
        internal const int MaxEntries = 256;

        private readonly Lock _gate = new();
        private Entry?[] _buckets = new Entry?[16];
        private int _count;

        public static int Hash(ReadOnlySpan<KeyValuePair<string, object?>> tags, ReadOnlySpan<int> order)
        {
            int hash = order.Length;
            foreach (int i in order)
            {
                hash = (hash * 31) + System.Runtime.CompilerServices.RuntimeHelpers.GetHashCode(tags[i].Value);
            }

            return hash;
        }

        public object? Find(ReadOnlySpan<KeyValuePair<string, object?>> tags, ReadOnlySpan<int> order, int hash)
        {
            Entry?[] buckets = Volatile.Read(ref _buckets);
            for (Entry? entry = Volatile.Read(ref buckets[hash & (buckets.Length - 1)]); entry is not null; entry = entry.Next)
            {
                if (entry.Hash == hash && entry.Matches(tags, order))
                {
                    return entry.Child;
                }
            }

            return null;
        }

        public void Add(ReadOnlySpan<KeyValuePair<string, object?>> tags, ReadOnlySpan<int> order, int hash, object child)
        {
            foreach (int i in order)
            {
                if (tags[i].Value is not (string or null))
                {
                    return;
                }
            }

            var values = new string?[order.Length];
            for (int i = 0; i < values.Length; i++)
            {
                values[i] = (string?)tags[order[i]].Value;
            }

            lock (_gate)
            {
                if (Find(tags, order, hash) is not null)
                {
                    return;
                }

                Entry?[] buckets = _buckets;
                if (_count >= MaxEntries)
                {
                    buckets = new Entry?[16];
                    _count = 0;
                }
                else if (_count >= buckets.Length)
                {
                    // Grow: a new table with the same (immutable) entries relinked; readers keep the old one meanwhile.
                    var grown = new Entry?[buckets.Length * 2];
                    foreach (Entry? head in buckets)
                    {
                        for (Entry? entry = head; entry is not null; entry = entry.Next)
                        {
                            ref Entry? slot = ref grown[entry.Hash & (grown.Length - 1)];
                            slot = new Entry(entry.Hash, entry.Values, entry.Child, slot);
                        }
                    }

                    buckets = grown;
                }

                ref Entry? bucket = ref buckets[hash & (buckets.Length - 1)];
                Volatile.Write(ref bucket, new Entry(hash, values, child, bucket));
                _count++;
                Volatile.Write(ref _buckets, buckets);
            }
        }

        private sealed class Entry(int hash, string?[] values, object child, Entry? next)
        {
            public int Hash { get; } = hash;

            public string?[] Values { get; } = values;

            public object Child { get; } = child;

            public Entry? Next { get; } = next;

            public bool Matches(ReadOnlySpan<KeyValuePair<string, object?>> tags, ReadOnlySpan<int> order)
            {
                string?[] values = Values;
                if (values.Length != order.Length)
                {
                    return false;
                }

                for (int i = 0; i < values.Length; i++)
                {
                    if (!ReferenceEquals(values[i], tags[order[i]].Value))
                    {
                        return false;
                    }
                }

                return true;
            }
        }
    }
}
