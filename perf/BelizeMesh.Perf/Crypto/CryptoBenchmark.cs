using System.Globalization;
using System.Runtime.Intrinsics.X86;
using BelizeMesh.Quantum;

namespace BelizeMesh.Perf.Crypto;

/// <summary>
/// <c>crypto [--quick]</c>: ML-KEM-512/768/1024 keygen/encaps/decaps and ML-DSA-44/65/87 keygen/sign/verify through
/// the public <see cref="MLKemKey"/> / <see cref="MLDsaKey"/> API, single-threaded, beside BouncyCastle 2.7.0 (measured in
/// this process right after ours, operation for operation), OpenSSL 3.5 (Node 26) and @noble/post-quantum measured the
/// same way in the same run, as one table.
/// </summary>
internal static class CryptoBenchmark
{
    private const string Ours = "BelizeMesh (C#)";
    private const string OpenSsl = "OpenSSL 3.5 (Node 26)";
    private const string Noble = "@noble/post-quantum";

    public static int Run(string[] args)
    {
        bool quick = false;
        foreach (string arg in args)
        {
            if (arg == "--quick")
            {
                quick = true;
            }
            else
            {
                Console.Error.WriteLine($"crypto: unknown option \"{arg}\" (known: --quick)");
                return 64;
            }
        }

#if DEBUG
        Console.Error.WriteLine("warning: Debug build; run with -c Release for meaningful figures");
#endif
        Console.WriteLine($"# crypto benchmark: load average {LoadAverage()}, {Environment.ProcessorCount} cores, AVX2 {(Avx2.IsSupported ? "yes" : "no")}, .NET {Environment.Version}, {(quick ? "quick" : "full")} run, single-threaded");

        var results = new List<(string Alg, string Op, string Impl, Measurement? M, string? Note)>();
        foreach (var algorithm in new[] { MLKemParameterSet.MLKem512, MLKemParameterSet.MLKem768, MLKemParameterSet.MLKem1024 })
        {
            foreach (var (op, m) in MeasureMLKem(algorithm, quick))
            {
                results.Add((algorithm.Name, op, Ours, m, null));
            }

            foreach (var (op, m, note) in BouncyCastleBaseline.MeasureMLKem(algorithm.Name, quick))
            {
                results.Add((algorithm.Name, op, BouncyCastleBaseline.Name, m, note));
            }
        }

        foreach (var algorithm in new[] { MLDsaParameterSet.MLDsa44, MLDsaParameterSet.MLDsa65, MLDsaParameterSet.MLDsa87 })
        {
            foreach (var (op, m, note) in MeasureMLDsa(algorithm, quick))
            {
                results.Add((algorithm.Name, op, Ours, m, note));
            }

            foreach (var (op, m, note) in BouncyCastleBaseline.MeasureMLDsa(algorithm.Name, Message(), quick))
            {
                results.Add((algorithm.Name, op, BouncyCastleBaseline.Name, m, note));
            }
        }

        var (baseline, missing) = NodeBaseline.Run(quick);
        if (missing is not null)
        {
            Console.WriteLine($"# baselines unavailable: {missing}");
        }

        Print(results, baseline);
        return 0;
    }

    /// <summary>The 1-minute load average (Linux), printed because other processes on the machine skew medians.</summary>
    private static string LoadAverage()
    {
        try
        {
            return File.ReadAllText("/proc/loadavg").Split(' ')[0];
        }
        catch (IOException)
        {
            return "unknown";
        }
        catch (UnauthorizedAccessException)
        {
            return "unknown";
        }
    }

    private static IEnumerable<(string Op, Measurement M)> MeasureMLKem(MLKemParameterSet algorithm, bool quick)
    {
        var keygen = Sampler.Measure(() => MLKemKey.Generate(algorithm).Dispose(), quick);
        using var key = MLKemKey.Generate(algorithm);
        byte[] ek = new byte[algorithm.EncapsulationKeySizeInBytes];
        key.ExportEncapsulationKey(ek);
        using var publicKey = MLKemKey.ImportEncapsulationKey(algorithm, ek);
        byte[] c = new byte[algorithm.CiphertextSizeInBytes], k = new byte[MLKemParameterSet.SharedSecretSizeInBytes];
        var encaps = Sampler.Measure(() => publicKey.Encapsulate(c, k), quick);
        publicKey.Encapsulate(c, k);
        var decaps = Sampler.Measure(() => key.Decapsulate(c, k), quick);
        return [("keygen", keygen), ("encaps", encaps), ("decaps", decaps)];
    }

    private static List<(string Op, Measurement? M, string? Note)> MeasureMLDsa(MLDsaParameterSet algorithm, bool quick)
    {
        var rows = new List<(string, Measurement?, string?)>();
        MLDsaKey key;
        try
        {
            rows.Add(("keygen", Sampler.Measure(() => MLDsaKey.Generate(algorithm).Dispose(), quick), null));
            key = MLDsaKey.Generate(algorithm);
        }
        catch (NotImplementedException)
        {
            return [("keygen", null, "not implemented"), ("sign", null, "not implemented"), ("verify", null, "not implemented")];
        }

        using (key)
        {
            byte[] message = Message();
            byte[] signature = new byte[algorithm.SignatureSizeInBytes];
            try
            {
                rows.Add(("sign", Sampler.Measure(() => key.SignData(message, signature), quick), null));
            }
            catch (NotImplementedException)
            {
                rows.Add(("sign", null, "not implemented"));
            }

            try
            {
                key.SignData(message, signature);
                if (!key.VerifyData(message, signature))
                {
                    rows.Add(("verify", null, "own signature did not verify"));
                }
                else
                {
                    rows.Add(("verify", Sampler.Measure(() => key.VerifyData(message, signature), quick), null));
                }
            }
            catch (NotImplementedException)
            {
                rows.Add(("verify", null, "not implemented"));
            }
        }

        return rows;
    }

    /// <summary>The message both implementations sign and verify: 64 bytes of 7.</summary>
    private static byte[] Message()
    {
        byte[] message = new byte[64];
        Array.Fill(message, (byte)7);
        return message;
    }

    private static void Print(
        List<(string Alg, string Op, string Impl, Measurement? M, string? Note)> ours,
        Dictionary<(string Impl, string Alg, string Op), Measurement> baseline)
    {
        var culture = CultureInfo.InvariantCulture;
        string header = $"{"algorithm",-12} {"op",-7} {"implementation",-22} {"median µs",10} {"p10 µs",10} {"p90 µs",10} {"min µs",10} {"B/op",8} {"vs BC",7} {"vs OpenSSL",10}";
        Console.WriteLine(header);
        Console.WriteLine(new string('-', header.Length));
        var bouncyCastle = new Dictionary<(string Alg, string Op), (Measurement? M, string? Note)>();
        foreach (var (alg, op, impl, m, note) in ours)
        {
            if (impl == BouncyCastleBaseline.Name)
            {
                bouncyCastle[(alg, op)] = (m, note);
            }
        }

        foreach (var (alg, op, implementation, m, note) in ours)
        {
            if (implementation != Ours)
            {
                continue;
            }

            baseline.TryGetValue((OpenSsl, alg, op), out var openssl);
            bouncyCastle.TryGetValue((alg, op), out var bc);
            if (m is null)
            {
                Console.WriteLine($"{alg,-12} {op,-7} {Ours,-22} {note}");
            }
            else
            {
                string ratio = openssl is null ? "" : string.Create(culture, $"{openssl.Median / m.Median:0.00}x");
                string bcRatio = bc.M is null ? "" : string.Create(culture, $"{bc.M.Median / m.Median:0.00}x");
                Console.WriteLine(string.Create(culture, $"{alg,-12} {op,-7} {Ours,-22} {m.Median,10:0.0} {m.P10,10:0.0} {m.P90,10:0.0} {m.Min,10:0.0} {m.BytesPerOp,8:0} {bcRatio,7} {ratio,10}"));
            }

            if (bc.M is { } b0)
            {
                Console.WriteLine(string.Create(culture, $"{"",-12} {"",-7} {BouncyCastleBaseline.Name,-22} {b0.Median,10:0.0} {b0.P10,10:0.0} {b0.P90,10:0.0} {b0.Min,10:0.0} {b0.BytesPerOp,8:0}"));
            }
            else if (bc.Note is { } bcNote)
            {
                Console.WriteLine($"{"",-12} {"",-7} {BouncyCastleBaseline.Name,-22} {bcNote}");
            }

            foreach (string impl in new[] { OpenSsl, Noble })
            {
                if (baseline.TryGetValue((impl, alg, op), out var b))
                {
                    Console.WriteLine(string.Create(culture, $"{"",-12} {"",-7} {impl,-22} {b.Median,10:0.0} {b.P10,10:0.0} {b.P90,10:0.0} {b.Min,10:0.0} {"",8} {""}"));
                }
            }
        }

        Console.WriteLine("# times: percentiles and minimum over samples of the per-operation mean of a batch (a few ms per sample; the minimum is the least disturbed by other load); B/op: managed bytes allocated per operation (ours and BouncyCastle); vs BC, vs OpenSSL: their median / ours (above 1: ours is faster). keygen includes disposing the key; encaps uses an imported encapsulation key.");
    }
}
