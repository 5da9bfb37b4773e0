using System.Globalization;

namespace BelizeMesh.Proxy.Tests.Metrics;

/// <summary>One sample of a Prometheus text exposition: the metric name, its labels and value.</summary>
internal sealed record PromSample(string Name, IReadOnlyDictionary<string, string> Labels, double Value)
{
    public string this[string label] => Labels.TryGetValue(label, out string? value) ? value : throw new KeyNotFoundException($"{Name} has no label {label}: {string.Join(", ", Labels.Select(l => $"{l.Key}={l.Value}"))}");
}

/// <summary>A small parser of the text format 0.0.4 for assertions (label values with <c>\"</c>, <c>\\</c>, <c>\n</c> escapes).</summary>
internal static class PromText
{
    public static IReadOnlyList<PromSample> Parse(string text)
    {
        var samples = new List<PromSample>();
        foreach (string line in text.Split('\n'))
        {
            if (line.Length == 0 || line[0] == '#')
            {
                continue;
            }

            int brace = line.IndexOf('{', StringComparison.Ordinal);
            int space = line.LastIndexOf(' ');
            string name;
            var labels = new Dictionary<string, string>(StringComparer.Ordinal);
            if (brace >= 0 && brace < space)
            {
                name = line[..brace];
                int i = brace + 1;
                while (line[i] != '}')
                {
                    int eq = line.IndexOf('=', i);
                    string key = line[i..eq];
                    i = eq + 2; // ="
                    var value = new System.Text.StringBuilder();
                    while (line[i] != '"')
                    {
                        if (line[i] == '\\')
                        {
                            i++;
                            value.Append(line[i] == 'n' ? '\n' : line[i]);
                        }
                        else
                        {
                            value.Append(line[i]);
                        }

                        i++;
                    }

                    labels[key] = value.ToString();
                    i++; // closing quote
                    if (line[i] == ',')
                    {
                        i++;
                    }
                }
            }
            else
            {
                name = line[..line.IndexOf(' ', StringComparison.Ordinal)];
            }

            string number = line[(space + 1)..];
            double parsed = number switch
            {
                "+Inf" => double.PositiveInfinity,
                "-Inf" => double.NegativeInfinity,
                "NaN" => double.NaN,
                _ => double.Parse(number, CultureInfo.InvariantCulture),
            };
            samples.Add(new PromSample(name, labels, parsed));
        }

        return samples;
    }

    /// <summary>Scrapes <paramref name="admin"/> until <paramref name="ready"/> holds (the sidecar records a request
    /// just after its response is sent); 30 s is only a backstop.</summary>
    public static async Task<IReadOnlyList<PromSample>> ScrapeUntilAsync(HttpClient admin, Func<IReadOnlyList<PromSample>, bool> ready)
    {
        DateTime deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (true)
        {
            string text = await admin.GetStringAsync("/metrics");
            IReadOnlyList<PromSample> samples = Parse(text);
            if (ready(samples))
            {
                return samples;
            }

            if (DateTime.UtcNow > deadline)
            {
                Assert.Fail("the expected series never appeared in /metrics:\n" + text);
            }

            await Task.Delay(20);
        }
    }
}
