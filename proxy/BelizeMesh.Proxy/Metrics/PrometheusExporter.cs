using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Globalization;
using System.Text;

namespace BelizeMesh.Proxy.Metrics;

/// <summary>
/// A small Prometheus exporter (text exposition format 0.0.4) over <see cref="System.Diagnostics.Metrics"/>: a
/// <see cref="MeterListener"/> aggregates every instrument of every meter whose name starts with
/// <c>BelizeMesh.</c> (the proxy's own and the PQ channel's), created by this host's <see cref="IMeterFactory"/> or
/// by no factory (static meters).
/// </summary>
/// <remarks>
/// Naming: <c>belizemesh.proxy.request.duration</c> with unit <c>s</c> becomes
/// <c>belizemesh_proxy_request_duration_seconds</c>; counters get <c>_total</c>. Counters and observable counters
/// are exported as <c>counter</c>, up-down counters and gauges as <c>gauge</c>, histograms as <c>histogram</c> with the
/// instrument's advised bucket boundaries.
/// </remarks>
internal sealed class PrometheusExporter : IDisposable
{
    public const string ContentType = "text/plain; version=0.0.4; charset=utf-8";

    private static readonly double[] s_defaultBuckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

    private readonly MeterListener _listener;
    private readonly IMeterFactory? _factory;
    private readonly ConcurrentDictionary<Instrument, InstrumentState> _instruments = new();

    public PrometheusExporter(IMeterFactory? factory)
    {
        _factory = factory;
        _listener = new MeterListener
        {
            InstrumentPublished = (instrument, listener) =>
            {
                if (IsExported(instrument.Meter))
                {
                    var state = _instruments.GetOrAdd(instrument, static i => new InstrumentState(i));
                    listener.EnableMeasurementEvents(instrument, state);
                }
            },
            MeasurementsCompleted = (instrument, _) => _instruments.TryRemove(instrument, out InstrumentState? _),
        };
        _listener.SetMeasurementEventCallback<long>(static (i, value, tags, state) => ((InstrumentState)state!).Record(value, tags));
        _listener.SetMeasurementEventCallback<int>(static (i, value, tags, state) => ((InstrumentState)state!).Record(value, tags));
        _listener.SetMeasurementEventCallback<double>(static (i, value, tags, state) => ((InstrumentState)state!).Record(value, tags));
        _listener.SetMeasurementEventCallback<float>(static (i, value, tags, state) => ((InstrumentState)state!).Record(value, tags));
        _listener.Start();
    }

    private bool IsExported(Meter meter)
        => meter.Name.StartsWith("BelizeMesh.", StringComparison.Ordinal) && (meter.Scope is null || ReferenceEquals(meter.Scope, _factory));

    /// <summary>Renders every exported series.</summary>
    public string Render()
    {
        _listener.RecordObservableInstruments();
        var states = new List<InstrumentState>(_instruments.Values);
        states.Sort(static (a, b) => string.CompareOrdinal(a.Name, b.Name));

        var text = new StringBuilder(4096);
        string? previous = null;
        foreach (InstrumentState state in states)
        {
            if (state.Name == previous)
            {
                continue; // two meters with the same instrument name: the first one wins, a family must appear once
            }

            previous = state.Name;
            state.Write(text);
        }

        return text.ToString();
    }

    public void Dispose() => _listener.Dispose();

    internal static string MetricName(Instrument instrument)
    {
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

    private static bool IsCounter(Instrument instrument) => instrument is Counter<long> or Counter<int> or Counter<double> or Counter<float>
        or ObservableCounter<long> or ObservableCounter<int> or ObservableCounter<double> or ObservableCounter<float>;

    internal static string EscapeLabelValue(string value)
    {
        if (value.AsSpan().IndexOfAny('\\', '"', '\n') < 0)
        {
            return value;
        }

        return value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal);
    }

    private static string EscapeHelp(string value)
        => value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal);

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

    internal static string FormatValue(double value)
    {
        if (double.IsPositiveInfinity(value))
        {
            return "+Inf";
        }

        if (double.IsNegativeInfinity(value))
        {
            return "-Inf";
        }

        if (double.IsNaN(value))
        {
            return "NaN";
        }

        return value.ToString("R", CultureInfo.InvariantCulture);
    }

    private enum Kind
    {
        Counter,
        Gauge,
        Histogram,
    }

    private sealed class InstrumentState
    {
        private readonly ConcurrentDictionary<string, Series> _series = new(StringComparer.Ordinal);
        private readonly Kind _kind;
        private readonly bool _observable;
        private readonly double[] _buckets;
        private readonly string _help;

        public InstrumentState(Instrument instrument)
        {
            Name = MetricName(instrument);
            _observable = instrument.IsObservable;
            _help = EscapeHelp(instrument.Description ?? instrument.Name);
            _kind = IsCounter(instrument) ? Kind.Counter : instrument switch
            {
                Histogram<double> h => Kind.Histogram,
                Histogram<long> => Kind.Histogram,
                Histogram<int> => Kind.Histogram,
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

        public string Name { get; }

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
            Series series = _series.GetOrAdd(LabelText(tags), static (labels, buckets) => new Series(labels, buckets.Length), _buckets);
            lock (series)
            {
                switch (_kind)
                {
                    case Kind.Histogram:
                        int i = 0;
                        while (i < _buckets.Length && value > _buckets[i])
                        {
                            i++;
                        }

                        series.Buckets[i]++;
                        series.Sum += value;
                        series.Count++;
                        break;
                    default:
                        // Observable instruments report the current total; the others report deltas.
                        series.Value = _observable ? value : series.Value + value;
                        break;
                }
            }
        }

        private static string LabelText(ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            if (tags.Length == 0)
            {
                return "";
            }

            // Sort by key (insertion sort: tag lists are short) so one label set always maps to one series.
            Span<int> order = stackalloc int[Math.Min(tags.Length, 32)];
            int n = order.Length;
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

            var text = new StringBuilder(64);
            for (int i = 0; i < n; i++)
            {
                KeyValuePair<string, object?> tag = tags[order[i]];
                if (i > 0)
                {
                    text.Append(',');
                }

                text.Append(LabelName(tag.Key)).Append("=\"").Append(EscapeLabelValue(Convert.ToString(tag.Value, CultureInfo.InvariantCulture) ?? "")).Append('"');
            }

            return text.ToString();
        }

        public void Write(StringBuilder text)
        {
            string type = _kind switch { Kind.Counter => "counter", Kind.Histogram => "histogram", _ => "gauge" };
            text.Append("# HELP ").Append(Name).Append(' ').Append(_help).Append('\n');
            text.Append("# TYPE ").Append(Name).Append(' ').Append(type).Append('\n');

            var all = new List<Series>(_series.Values);
            all.Sort(static (a, b) => string.CompareOrdinal(a.Labels, b.Labels));
            foreach (Series series in all)
            {
                lock (series)
                {
                    if (_kind != Kind.Histogram)
                    {
                        text.Append(Name);
                        AppendLabels(text, series.Labels, null);
                        text.Append(' ').Append(FormatValue(series.Value)).Append('\n');
                        continue;
                    }

                    long cumulative = 0;
                    for (int i = 0; i <= _buckets.Length; i++)
                    {
                        cumulative += series.Buckets[i];
                        text.Append(Name).Append("_bucket");
                        AppendLabels(text, series.Labels, i < _buckets.Length ? FormatValue(_buckets[i]) : "+Inf");
                        text.Append(' ').Append(cumulative.ToString(CultureInfo.InvariantCulture)).Append('\n');
                    }

                    text.Append(Name).Append("_sum");
                    AppendLabels(text, series.Labels, null);
                    text.Append(' ').Append(FormatValue(series.Sum)).Append('\n');
                    text.Append(Name).Append("_count");
                    AppendLabels(text, series.Labels, null);
                    text.Append(' ').Append(series.Count.ToString(CultureInfo.InvariantCulture)).Append('\n');
                }
            }
        }

        private static void AppendLabels(StringBuilder text, string labels, string? le)
        {
            if (labels.Length == 0 && le is null)
            {
                return;
            }

            text.Append('{').Append(labels);
            if (le is not null)
            {
                text.Append(labels.Length == 0 ? "" : ",").Append("le=\"").Append(le).Append('"');
            }

            text.Append('}');
        }
    }

    private sealed class Series(string labels, int bucketCount)
    {
        public string Labels { get; } = labels;

        public double Value { get; set; }

        public long[] Buckets { get; } = new long[bucketCount + 1];

        public double Sum { get; set; }

        public long Count { get; set; }
    }
}
