using System.Reflection;
using BelizeMesh.Quantum.Acvp;

namespace BelizeMesh.Quantum.Tests;

/// <summary>
/// The shipping Quantum assembly (linked into the sidecar) holds the data-path primitives only: the ACVP runner, the
/// caller-chosen-randomness entry points and the extra pre-hashes live in BelizeMesh.Quantum.Acvp, which it does not reference.
/// </summary>
public class ShippingAssemblyTests
{
    private static readonly Assembly s_quantum = typeof(MLKemKey).Assembly;

    [Fact]
    public void Quantum_assembly_contains_no_acvp_runner_or_test_only_hashes()
    {
        var offenders = new List<string>();
        foreach (var type in s_quantum.GetTypes())
        {
            string name = type.FullName ?? type.Name;
            if (name.StartsWith("BelizeMesh.Quantum.Acvp", StringComparison.Ordinal) ||
                type.Name is "MLDsaExtraHashes" or "MLKemInternal" or "PreHashFunctions" or "AcvpRunner")
            {
                offenders.Add(name);
            }
        }

        Assert.Empty(offenders);
    }

    [Fact]
    public void Quantum_assembly_does_not_reference_the_acvp_assembly()
    {
        Assembly acvp = typeof(AcvpRunner).Assembly;
        Assert.NotEqual(s_quantum, acvp);
        Assert.Equal("BelizeMesh.Quantum.Acvp", acvp.GetName().Name);
        Assert.DoesNotContain(s_quantum.GetReferencedAssemblies(), a => a.Name == acvp.GetName().Name);
    }
}
