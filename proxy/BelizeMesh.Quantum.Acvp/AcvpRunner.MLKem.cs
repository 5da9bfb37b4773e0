using System.Security.Cryptography;
using System.Text.Json.Nodes;

namespace BelizeMesh.Quantum.Acvp;

/// <summary>ML-KEM handlers: <c>keyGen</c> (FIPS 203 Algorithm 16) and <c>encapDecap</c> (Algorithms 17 and 18 and
/// the section 7.2/7.3 input checks), revisions FIPS203 and FIPS203-tr1.</summary>
public static partial class AcvpRunner
{
    static partial void RegisterMLKem(Dictionary<(string, string), CaseHandler> handlers)
    {
        handlers[("ML-KEM", "keyGen")] = MLKemKeyGen;
        handlers[("ML-KEM", "encapDecap")] = MLKemEncapDecap;
    }

    /// <summary>Inputs d, z; outputs ek, dk.</summary>
    private static void MLKemKeyGen(JsonObject group, JsonObject test)
    {
        var algorithm = ReadMLKemParameterSet(group);
        const string where = "the test case";
        byte[] d = RequireHex(test, "d", where);
        byte[] z = RequireHex(test, "z", where);
        byte[] ek = new byte[algorithm.EncapsulationKeySizeInBytes];
        byte[] dk = new byte[algorithm.DecapsulationKeySizeInBytes];
        try
        {
            MLKemInternal.KeyGenInternal(algorithm, d, z, ek, dk);
        }
        catch (CryptographicException e)
        {
            throw new AcvpFormatException(e.Message);
        }

        SetHex(test, "ek", ek);
        SetHex(test, "dk", dk);
        CryptographicOperations.ZeroMemory(dk);
    }

    /// <summary>
    /// By the group's <c>function</c>: encapsulation (ek, m → c, k), decapsulation (dk or, with
    /// <c>keyFormat: seed</c>, d and z; and c → k), encapsulationKeyCheck (ek → testPassed),
    /// decapsulationKeyCheck (dk → testPassed).
    /// </summary>
    private static void MLKemEncapDecap(JsonObject group, JsonObject test)
    {
        var algorithm = ReadMLKemParameterSet(group);
        const string where = "the test case";
        string function = RequireString(group, "function", "the group");
        try
        {
            switch (function)
            {
                case "encapsulation":
                {
                    byte[] ek = RequireHex(test, "ek", where);
                    byte[] m = RequireHex(test, "m", where);
                    byte[] c = new byte[algorithm.CiphertextSizeInBytes];
                    byte[] k = new byte[MLKemParameterSet.SharedSecretSizeInBytes];
                    MLKemInternal.EncapsulateInternal(algorithm, ek, m, c, k);
                    SetHex(test, "c", c);
                    SetHex(test, "k", k);
                    break;
                }

                case "decapsulation":
                {
                    byte[] c = RequireHex(test, "c", where);
                    byte[] k = new byte[MLKemParameterSet.SharedSecretSizeInBytes];
                    using (var key = ImportMLKemPrivateKey(algorithm, group, test, where))
                    {
                        key.Decapsulate(c, k);
                    }

                    SetHex(test, "k", k);
                    break;
                }

                case "encapsulationKeyCheck":
                {
                    byte[] ek = RequireHex(test, "ek", where);
                    test["testPassed"] = Accepts(() => MLKemKey.ImportEncapsulationKey(algorithm, ek));
                    break;
                }

                case "decapsulationKeyCheck":
                {
                    test["testPassed"] = Accepts(() => ImportMLKemPrivateKey(algorithm, group, test, where));
                    break;
                }

                default:
                    throw new AcvpFormatException(
                        $"the group has unknown ML-KEM function \"{function}\" (known: encapsulation, decapsulation, encapsulationKeyCheck, decapsulationKeyCheck)");
            }
        }
        catch (CryptographicException e)
        {
            throw new AcvpFormatException($"{function}: {e.Message}");
        }
    }

    /// <summary>The private key of a decapsulation case: d‖z when the group's <c>keyFormat</c> is <c>seed</c>,
    /// otherwise the expanded dk (which the FIPS203 revision also puts in the test).</summary>
    private static MLKemKey ImportMLKemPrivateKey(MLKemParameterSet algorithm, JsonObject group, JsonObject test, string where)
    {
        string keyFormat = group["keyFormat"] is JsonValue v && v.TryGetValue(out string? s) ? s : "expanded";
        switch (keyFormat)
        {
            case "seed":
            {
                byte[] d = RequireHex(test, "d", where);
                byte[] z = RequireHex(test, "z", where);
                if (d.Length != 32 || z.Length != 32)
                {
                    throw new CryptographicException($"ML-KEM seeds d and z must be 32 bytes each, got {d.Length} and {z.Length}.");
                }

                byte[] seed = [.. d, .. z];
                try
                {
                    return MLKemKey.ImportPrivateSeed(algorithm, seed);
                }
                finally
                {
                    CryptographicOperations.ZeroMemory(seed);
                }
            }

            case "expanded":
            {
                byte[] dk = test.ContainsKey("dk") ? RequireHex(test, "dk", where) : RequireHex(group, "dk", "the group");
                try
                {
                    return MLKemKey.ImportDecapsulationKey(algorithm, dk);
                }
                finally
                {
                    CryptographicOperations.ZeroMemory(dk);
                }
            }

            default:
                throw new AcvpFormatException($"the group has unknown keyFormat \"{keyFormat}\" (known: seed, expanded)");
        }
    }

    private static bool Accepts(Func<MLKemKey> import)
    {
        try
        {
            import().Dispose();
            return true;
        }
        catch (CryptographicException)
        {
            return false;
        }
    }

    private static MLKemParameterSet ReadMLKemParameterSet(JsonObject group)
    {
        string name = RequireString(group, "parameterSet", "the group");
        return MLKemParameterSet.FromName(name)
            ?? throw new AcvpFormatException($"the group has unknown parameterSet \"{name}\" (known: ML-KEM-512, ML-KEM-768, ML-KEM-1024)");
    }
}
