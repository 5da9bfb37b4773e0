using BelizeMesh.Identity;
using BelizeMesh.Proxy.Hosting;

namespace BelizeMesh.Proxy.Tests.EndToEnd;

/// <summary>How the certificates directory is read at every reload and poll: bounded, and the key left nowhere.</summary>
public sealed class CertificateFilesTests
{
    private static RotationPki Pki => RotationPki.Instance;

    [Fact]
    public void Private_key_text_is_zeroed_when_the_read_is_disposed()
    {
        IssuedPem issued = Pki.Issue(Pki.RootA, "nawal");
        using SecretVolume certs = SecretVolume.Create(issued, RotationPki.Bundle(Pki.RootA));
        var files = CertificateFiles.Read(certs.Path);
        Assert.True(files.HasKey);
        Assert.Equal(issued.Key, new string(files.Key));
        Assert.True(CertificateSet.TryLoad(files, null, "test", TimeProvider.System, out CertificateSet? set, out string? problem, out _), problem);
        set.Service.Dispose();

        files.Dispose();
        Assert.True(files.Key.IndexOfAnyExcept('\0') < 0, "the key's PEM text is still in memory after Dispose");
    }

    [Fact]
    public void A_credential_file_larger_than_a_megabyte_is_refused_before_it_is_read()
    {
        string huge = Path.Combine(Directory.CreateTempSubdirectory("belizemesh-huge-").FullName, "ca.crt");
        using (FileStream stream = File.Create(huge))
        {
            stream.SetLength(CredentialFiles.MaxFileBytes + 1);
        }

        var ex = Assert.Throws<CredentialsException>(() => CredentialFiles.ReadBytes(huge));
        Assert.Equal($"{huge}: {CredentialFiles.MaxFileBytes + 1} bytes, more than a credential file can be ({CredentialFiles.MaxFileBytes} bytes); is this the right file?", ex.Message);
        Directory.Delete(Path.GetDirectoryName(huge)!, recursive: true);
    }
}
