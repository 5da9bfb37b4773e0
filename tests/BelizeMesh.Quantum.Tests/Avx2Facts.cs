namespace BelizeMesh.Quantum.Tests;

/// <summary>A fact that skips, saying why, on machines without AVX2, where only the scalar paths exist (and run in
/// every other test); the AVX2 paths must equal them bit for bit where they do exist.</summary>
internal sealed class Avx2FactAttribute : FactAttribute
{
    public Avx2FactAttribute()
    {
        if (!System.Runtime.Intrinsics.X86.Avx2.IsSupported)
        {
            Skip = Avx2Skip.Reason;
        }
    }
}

/// <summary>The theory form of <see cref="Avx2FactAttribute"/>.</summary>
internal sealed class Avx2TheoryAttribute : TheoryAttribute
{
    public Avx2TheoryAttribute()
    {
        if (!System.Runtime.Intrinsics.X86.Avx2.IsSupported)
        {
            Skip = Avx2Skip.Reason;
        }
    }
}

internal static class Avx2Skip
{
    public const string Reason = "no AVX2 on this machine: only the scalar path runs (KeccakX4 and the AVX2 NTT are not used)";
}
