using System.Security.Cryptography;

namespace BelizeMesh.Identity;

/// <summary>PEM reading and writing (RFC 7468) on top of <see cref="PemEncoding"/>, with errors that name the label found.</summary>
internal static class Pem
{
    public const string CertificateLabel = "CERTIFICATE";
    public const string PrivateKeyLabel = "PRIVATE KEY";

    /// <summary>Every block of the document; each must carry <paramref name="label"/>. At least one is required.</summary>
    /// <remarks>Decodes straight from the characters into the returned arrays (no intermediate string), so a caller
    /// holding a private key in a buffer it zeroes leaves no copy of it behind.</remarks>
    public static List<byte[]> ReadAll(ReadOnlySpan<char> pem, string label)
    {
        var blocks = new List<byte[]>();
        ReadOnlySpan<char> rest = pem;
        while (PemEncoding.TryFind(rest, out PemFields fields))
        {
            ReadOnlySpan<char> found = rest[fields.Label];
            if (!found.SequenceEqual(label))
            {
                throw new CertificateFormatException(WrongLabel(found.ToString(), label));
            }

            byte[] der = new byte[fields.DecodedDataLength];
            if (!Convert.TryFromBase64Chars(rest[fields.Base64Data], der, out int written) || written != der.Length)
            {
                throw new CertificateFormatException($"PEM block {blocks.Count + 1} has base64 that does not decode");
            }

            blocks.Add(der);
            rest = rest[fields.Location.End..];
        }

        if (blocks.Count == 0)
        {
            throw new CertificateFormatException(
                $"no PEM block found; expected '-----BEGIN {label}-----' (a PEM file as written by 'belizemesh certs')");
        }

        // PemEncoding.TryFind skips what is not a whole block, so a truncated or corrupted block after good ones would
        // vanish silently (a ca.crt whose second root was cut off would load as a one-root bundle). Text between
        // blocks is allowed (RFC 7468 section 2), a block that starts and never becomes whole is not.
        int begin = rest.IndexOf("-----BEGIN ", StringComparison.Ordinal);
        if (begin >= 0)
        {
            int line = 1 + pem[..(pem.Length - rest.Length + begin)].Count('\n');
            throw new CertificateFormatException(
                $"PEM block {blocks.Count + 1} (line {line}) is incomplete or corrupted: it has no matching '-----END' line or its base64 does not decode; " +
                "write the whole file again (a file caught half-written is read again at its next change)");
        }

        return blocks;
    }

    /// <summary>The single block of the document, which must carry <paramref name="label"/>.</summary>
    public static byte[] ReadSingle(ReadOnlySpan<char> pem, string label)
    {
        var blocks = ReadAll(pem, label);
        if (blocks.Count != 1)
        {
            foreach (byte[] block in blocks)
            {
                CryptographicOperations.ZeroMemory(block); // may be key material
            }

            throw new CertificateFormatException($"expected one {label} PEM block, found {blocks.Count}");
        }

        return blocks[0];
    }

    public static string Write(string label, ReadOnlySpan<byte> der) => new string(PemEncoding.Write(label, der)) + "\n";

    private static string WrongLabel(string found, string expected) => found switch
    {
        "ENCRYPTED PRIVATE KEY" => $"found an ENCRYPTED PRIVATE KEY PEM block; expected an unencrypted {expected} (PKCS#8)",
        "RSA PRIVATE KEY" or "EC PRIVATE KEY" => $"found a {found} PEM block (a classical key); expected {expected} holding an ML-DSA or ML-KEM key (PKCS#8)",
        _ => $"found a '{found}' PEM block; expected '{expected}'",
    };
}
