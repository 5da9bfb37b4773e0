using System.Diagnostics;
using System.Globalization;
using BelizeMesh.Mesh.Analysis;
using BelizeMesh.Mesh.Emit;
using BelizeMesh.Mesh.Parsing;
using BelizeMesh.Perf.Mesh;

namespace BelizeMesh.Perf;

public static partial class Program
{
    static partial void RegisterMesh(SortedDictionary<string, (string Description, Func<string[], int> Run)> commands)
    {
        commands["emit"] = ("belizemesh emit on a generated mesh: median parse+emit+analyze+YAML time [--services 500] [--runs 15]", RunEmitBenchmark);
    }

    /// <summary>
    /// Measures what <c>belizemesh emit</c> does for a generated mesh (parse, analyze, emit, write YAML), after warm-up,
    /// and prints the median and spread of each phase. The target is ≤ 1 s for 500 services; nothing here asserts it.
    /// </summary>
    private static int RunEmitBenchmark(string[] args)
    {
        int services = 500;
        int runs = 15;
        for (int i = 0; i + 1 < args.Length; i += 2)
        {
            switch (args[i])
            {
                case "--services":
                    services = int.Parse(args[i + 1], CultureInfo.InvariantCulture);
                    break;
                case "--runs":
                    runs = int.Parse(args[i + 1], CultureInfo.InvariantCulture);
                    break;
                default:
                    Console.Error.WriteLine($"unknown option {args[i]}");
                    return 64;
            }
        }

        string text = SyntheticMesh.Generate(services);
        var parse = new List<double>();
        var analyze = new List<double>();
        var emit = new List<double>();
        var yaml = new List<double>();
        var total = new List<double>();
        var cpu = new List<double>();
        using var self = Process.GetCurrentProcess();
        int documents = 0;
        int bytes = 0;
        for (int run = -2; run < runs; run++) // two warm-up runs (JIT, tiered compilation) are not counted
        {
            self.Refresh();
            var cpu0 = self.TotalProcessorTime;
            long t0 = Stopwatch.GetTimestamp();
            var parsed = MeshParser.Parse(text, "synthetic.yaml");
            long t1 = Stopwatch.GetTimestamp();
            if (!parsed.Succeeded)
            {
                Console.Error.WriteLine(string.Join('\n', parsed.Errors));
                return 1;
            }

            var resources = MeshEmitter.Emit(parsed.Mesh!);
            long t2 = Stopwatch.GetTimestamp();
            var findings = MeshAnalyzer.Analyze(parsed.Mesh!, resources);
            long t3 = Stopwatch.GetTimestamp();
            string output = MeshEmitter.ToYaml(resources);
            long t4 = Stopwatch.GetTimestamp();
            self.Refresh();
            var cpuUsed = self.TotalProcessorTime - cpu0;
            if (MeshAnalyzer.CountErrors(findings) != 0)
            {
                Console.Error.WriteLine("the generated mesh has analysis errors");
                return 1;
            }

            documents = resources.Count;
            bytes = output.Length;
            if (run < 0)
            {
                continue;
            }

            parse.Add(Stopwatch.GetElapsedTime(t0, t1).TotalMilliseconds);
            emit.Add(Stopwatch.GetElapsedTime(t1, t2).TotalMilliseconds);
            analyze.Add(Stopwatch.GetElapsedTime(t2, t3).TotalMilliseconds);
            yaml.Add(Stopwatch.GetElapsedTime(t3, t4).TotalMilliseconds);
            total.Add(Stopwatch.GetElapsedTime(t0, t4).TotalMilliseconds);
            cpu.Add(cpuUsed.TotalMilliseconds);
        }

        Console.WriteLine($"mesh emit: {services} services, {text.Length / 1024} KiB in, {documents} documents, {bytes / 1024} KiB YAML out, {runs} runs after 2 warm-up");
        Report("parse", parse);
        Report("emit", emit);
        Report("analyze", analyze);
        Report("yaml", yaml);
        Report("total", total);
        Report("cpu", cpu); // CPU time of the whole process during a run (includes GC threads); less sensitive to a busy machine than wall time
        return 0;
    }

    private static void Report(string phase, List<double> samples)
    {
        samples.Sort();
        double median = samples.Count % 2 == 1 ? samples[samples.Count / 2] : (samples[(samples.Count / 2) - 1] + samples[samples.Count / 2]) / 2;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {phase,-8} median {median,8:F1} ms   min {samples[0],8:F1} ms   max {samples[^1],8:F1} ms"));
    }
}
