using System.Diagnostics;
using System.Globalization;
using BelizeMesh.Identity;
using BelizeMesh.Quantum;

namespace BelizeMesh.Perf.Certs;

/// <summary>
/// <c>certs [--iterations N]</c>: medians of issuing a service certificate (ML-KEM-1024 keygen + ML-DSA-87 sign +
/// DER encoding + parse), validating it uncached (parse, ML-KEM key check, ML-DSA-87 verify, extension checks) and
/// cached (content lookup + time check). Prints figures, asserts nothing.
/// </summary>
internal static class CertsBenchmark
{
    public static int Run(string[] args)
    {
        int iterations = 200;
        for (int i = 0; i < args.Length; i++)
        {
            if (args[i] == "--iterations" && i + 1 < args.Length && int.TryParse(args[i + 1], NumberStyles.None, CultureInfo.InvariantCulture, out int n) && n > 0)
            {
                iterations = n;
                i++;
            }
            else
            {
                Console.Error.WriteLine($"certs: unknown argument '{args[i]}'; usage: certs [--iterations N]");
                return 64;
            }
        }

        using var authority = CertificateAuthority.CreateRoot();
        var request = new ServiceCertificateRequest { Service = "pakit", Namespace = "belizechain" };
        using var issued = authority.Issue(request);
        byte[] leaf = issued.Certificate.RawData.ToArray();
        var uncached = new CertificateValidator(authority.TrustBundle, new CertificateValidatorOptions { CacheCapacity = 0 });
        var cached = new CertificateValidator(authority.TrustBundle, new CertificateValidatorOptions());
        Require(cached.Validate(leaf));

        Console.WriteLine($"certs: {iterations} iterations, leaf {leaf.Length} bytes, root {authority.Certificate.RawData.Length} bytes, {Environment.ProcessorCount} cores, .NET {Environment.Version}");

        double issue = Median(iterations, () =>
        {
            using var c = authority.Issue(request);
        });
        Report("issue service certificate (ML-KEM-1024 keygen + ML-DSA-87 sign + DER)", issue, "≤ 2 ms");

        double kemKeygen = Median(iterations, () =>
        {
            using var k = MLKemKey.Generate(MLKemParameterSet.MLKem1024);
        });
        Report("  of which ML-KEM-1024 keygen", kemKeygen, null);

        byte[] tbs = issued.Certificate.TbsCertificate.ToArray();
        double sign = Median(iterations, () => authority.Sign(tbs));
        Report("  of which ML-DSA-87 sign (TBS)", sign, null);

        double verifyUncached = Median(iterations, () => Require(uncached.Validate(leaf)));
        Report("verify chain, uncached", verifyUncached, "≤ 0.3 ms");

        using var rootKey = MLDsaKey.ImportPublicKey(MLDsaParameterSet.MLDsa87, authority.Certificate.PublicKey.Span);
        byte[] sig = issued.Certificate.Signature.ToArray();
        double verifyOnly = Median(iterations, () =>
        {
            if (!rootKey.VerifyData(tbs, sig))
            {
                throw new InvalidOperationException("signature does not verify");
            }
        });
        Report("  of which ML-DSA-87 verify", verifyOnly, null);

        double ekCheck = Median(iterations, () =>
        {
            using var k = MLKemKey.ImportEncapsulationKey(MLKemParameterSet.MLKem1024, issued.Certificate.PublicKey.Span);
        });
        Report("  of which ML-KEM-1024 ek check (FIPS 203 7.2)", ekCheck, null);

        // Cached: one call is ~100 ns, so time batches of 1000 and take the median batch.
        const int Batch = 1000;
        double cachedBatch = Median(Math.Max(iterations, 100), () =>
        {
            for (int i = 0; i < Batch; i++)
            {
                Require(cached.Validate(leaf));
            }
        });
        Report("verify chain, cached", cachedBatch / Batch, "≤ 2 µs", Batch);
        return 0;
    }

    private static void Require(CertificateValidationResult result)
    {
        if (!result.IsValid)
        {
            throw new InvalidOperationException(result.ToString());
        }
    }

    /// <summary>CPU time per call of the last <see cref="Median"/> run, in milliseconds (see <see cref="Median"/>).</summary>
    private static double s_lastCpu;

    /// <summary>
    /// Median wall time of <paramref name="action"/> in milliseconds, after a warm-up of a fifth of the runs (at least
    /// 20) so tiered JIT has settled. Also records the process CPU time per call over the measured runs: on a shared,
    /// overloaded machine, wall time includes time spent descheduled, CPU time does not (it does include GC threads).
    /// </summary>
    private static double Median(int iterations, Action action)
    {
        for (int i = 0; i < Math.Max(20, iterations / 5); i++)
        {
            action();
        }

        var samples = new double[iterations];
        using var process = Process.GetCurrentProcess();
        TimeSpan cpuStart = process.TotalProcessorTime;
        for (int i = 0; i < iterations; i++)
        {
            long start = Stopwatch.GetTimestamp();
            action();
            samples[i] = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
        }

        process.Refresh();
        s_lastCpu = (process.TotalProcessorTime - cpuStart).TotalMilliseconds / iterations;
        Array.Sort(samples);
        return samples[iterations / 2];
    }

    private static void Report(string name, double milliseconds, string? target, int perSample = 1)
    {
        string median = Format(milliseconds);
        string cpu = Format(s_lastCpu / perSample);
        Console.WriteLine($"  {name,-72} median {median,11}   cpu/op {cpu,11}{(target is null ? "" : $"   (target {target})")}");
    }

    private static string Format(double milliseconds) => milliseconds >= 0.1
        ? string.Create(CultureInfo.InvariantCulture, $"{milliseconds:F3} ms")
        : string.Create(CultureInfo.InvariantCulture, $"{milliseconds * 1000:F3} µs");
}
