using System.Diagnostics;
using System.Text;

namespace BelizeMesh.TestSupport;

/// <summary>
/// Hostile and mutated YAML for the configuration parsers' fuzz tests: structure-aware mutations of valid documents
/// (lines duplicated, dropped, re-indented, values swapped for aliases, deep nesting, huge scalars, tags, flow
/// collections as keys) plus random byte edits. Deterministic per seed, so a failure names its case.
/// </summary>
public static class YamlFuzz
{
    private static readonly string[] s_fragments =
    [
        "&a", "*a", "!!binary", "!custom", "? ", ": ", "- ", "{", "}", "[", "]", ",", "|", ">", "\"", "'", "#", "---", "...",
        "~", "null", "0x7fffffff", "-1", "1e309", "\t", "\\u0000", "%YAML 1.2", "<<: *a", "&b [*a, *a]",
    ];

    /// <summary>Case <paramref name="index"/> derived from <paramref name="seed"/> (one of the valid documents, mutated).</summary>
    public static string Case(IReadOnlyList<string> valid, int seed, int index)
    {
        var random = new Random(HashCode.Combine(seed, index));
        string source = valid[random.Next(valid.Count)];
        var lines = new List<string>(source.Split('\n'));
        int edits = 1 + random.Next(6);
        for (int e = 0; e < edits && lines.Count > 0; e++)
        {
            int at = random.Next(lines.Count);
            switch (random.Next(10))
            {
                case 0: lines.RemoveAt(at); break;
                case 1: lines.Insert(at, lines[random.Next(lines.Count)]); break;
                case 2: lines[at] = new string(' ', random.Next(12)) + lines[at].TrimStart(); break;
                case 3: lines[at] = Replace(lines[at], random, "*a"); lines.Insert(0, "x: &a " + Nest(random.Next(1, 8))); break;
                case 4: lines[at] = Replace(lines[at], random, Nest(random.Next(1, 200))); break;
                case 5: lines[at] = Replace(lines[at], random, new string('x', random.Next(1, 200_000))); break;
                case 6: lines[at] = Replace(lines[at], random, "!!" + s_fragments[random.Next(s_fragments.Length)] + " v"); break;
                case 7: lines[at] = "? " + Nest(random.Next(1, 4)) + "\n: v"; break;
                case 8:
                    var chars = new StringBuilder(lines[at]);
                    chars.Insert(random.Next(chars.Length + 1), s_fragments[random.Next(s_fragments.Length)]);
                    lines[at] = chars.ToString();
                    break;
                default:
                    if (lines[at].Length > 0)
                    {
                        char[] line = lines[at].ToCharArray();
                        line[random.Next(line.Length)] = (char)random.Next(1, 128);
                        lines[at] = new string(line);
                    }

                    break;
            }
        }

        return string.Join('\n', lines);
    }

    /// <summary>Runs <paramref name="parse"/> on <paramref name="count"/> cases; each must return (any result, any
    /// reported error) within <paramref name="perCase"/>. An exception or a hang fails with the case's seed and index.</summary>
    public static void Run(IReadOnlyList<string> valid, int seed, int count, TimeSpan perCase, Action<string> parse)
    {
        for (int i = 0; i < count; i++)
        {
            string text = Case(valid, seed, i);
            long started = Stopwatch.GetTimestamp();
            try
            {
                parse(text);
            }
            catch (Exception ex)
            {
                throw new InvalidOperationException($"YAML fuzz case seed={seed} index={i} threw {ex.GetType().Name}: {ex.Message}\n--- input (first 2,000 chars) ---\n{text[..Math.Min(text.Length, 2000)]}", ex);
            }

            TimeSpan took = Stopwatch.GetElapsedTime(started);
            if (took > perCase)
            {
                throw new InvalidOperationException($"YAML fuzz case seed={seed} index={i} took {took.TotalMilliseconds:F0} ms (deadline {perCase.TotalMilliseconds:F0} ms)");
            }
        }
    }

    private static string Nest(int depth) => new StringBuilder().Insert(0, "[", depth).Append('1').Append(']', depth).ToString();

    private static string Replace(string line, Random random, string value)
    {
        int colon = line.IndexOf(": ", StringComparison.Ordinal);
        return colon < 0 ? line + " " + value : line[..(colon + 2)] + value;
    }
}
