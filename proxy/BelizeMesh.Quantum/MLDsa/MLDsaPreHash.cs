namespace BelizeMesh.Quantum.Dsa;

/// <summary>
/// The hash functions HashML-DSA accepts (FIPS 204, section 5.4): their object identifiers, as dotted strings and as
/// the DER encoding that goes into M′ (Algorithm 4 line 23, Algorithm 5), and the length of PH(M).
/// </summary>
/// <remarks>
/// Computing PH(M) itself is the caller's job (the data path signs and verifies hashes it is given); the ACVP runner's
/// hash table lives in BelizeMesh.Quantum.Acvp, outside the shipping assembly.
/// </remarks>
internal static class MLDsaPreHash
{
    /// <summary>One supported pre-hash: name as ACVP writes it, OID, digest length in bytes.</summary>
    internal readonly record struct Entry(string AcvpName, string Oid, int HashLength);

    // NIST hash algorithm arc 2.16.840.1.101.3.4.2.x (csor.nist.gov "Computer Security Objects Register").
    private static readonly Entry[] s_entries =
    [
        new("SHA2-256", "2.16.840.1.101.3.4.2.1", 32),
        new("SHA2-384", "2.16.840.1.101.3.4.2.2", 48),
        new("SHA2-512", "2.16.840.1.101.3.4.2.3", 64),
        new("SHA2-224", "2.16.840.1.101.3.4.2.4", 28),
        new("SHA2-512/224", "2.16.840.1.101.3.4.2.5", 28),
        new("SHA2-512/256", "2.16.840.1.101.3.4.2.6", 32),
        new("SHA3-224", "2.16.840.1.101.3.4.2.7", 28),
        new("SHA3-256", "2.16.840.1.101.3.4.2.8", 32),
        new("SHA3-384", "2.16.840.1.101.3.4.2.9", 48),
        new("SHA3-512", "2.16.840.1.101.3.4.2.10", 64),
        new("SHAKE-128", "2.16.840.1.101.3.4.2.11", 32),
        new("SHAKE-256", "2.16.840.1.101.3.4.2.12", 64),
    ];

    /// <summary>Length of the DER encoding of every supported OID: tag 06, length 09, nine content bytes.</summary>
    public const int EncodedOidLength = 11;

    /// <summary>The entries, for tests and error messages.</summary>
    public static ReadOnlySpan<Entry> Entries => s_entries;

    /// <summary>Finds an entry by dotted OID.</summary>
    public static bool TryFindByOid(string oid, out Entry entry)
    {
        foreach (var e in s_entries)
        {
            if (e.Oid == oid)
            {
                entry = e;
                return true;
            }
        }

        entry = default;
        return false;
    }

    /// <summary>Finds an entry by ACVP hash name (SHA2-256, SHAKE-128, ...).</summary>
    public static bool TryFindByAcvpName(string name, out Entry entry)
    {
        foreach (var e in s_entries)
        {
            if (e.AcvpName == name)
            {
                entry = e;
                return true;
            }
        }

        entry = default;
        return false;
    }

    /// <summary>Writes the DER encoding of an entry's OID (06 09 60 86 48 01 65 03 04 02 x).</summary>
    public static void EncodeOid(in Entry entry, Span<byte> destination)
    {
        ReadOnlySpan<byte> prefix = [0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02];
        prefix.CopyTo(destination);
        int lastArc = int.Parse(entry.Oid.AsSpan(entry.Oid.LastIndexOf('.') + 1), System.Globalization.CultureInfo.InvariantCulture);
        destination[10] = (byte)lastArc;
    }
}
