namespace BelizeMesh.Identity;

/// <summary>Reads and writes credential files with errors that name the file, and private files with mode 0600.</summary>
public static class CredentialFiles
{
    /// <summary>The largest credential file read (a PEM certificate is ~10 KB; a bundle holds a few roots).</summary>
    public const int MaxFileBytes = 1024 * 1024;

    /// <summary>Reads a text file.</summary>
    /// <exception cref="CredentialsException">The file is missing or unreadable.</exception>
    public static string Read(string path) => System.Text.Encoding.UTF8.GetString(ReadBytes(path));

    /// <summary>
    /// Reads a file's bytes, at most <see cref="MaxFileBytes"/> (a larger file is an error, not a read): for a private
    /// key the caller zeroes the array when done.
    /// </summary>
    /// <exception cref="CredentialsException">The file is missing, unreadable or too large.</exception>
    public static byte[] ReadBytes(string path)
    {
        try
        {
            using FileStream stream = new(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, bufferSize: 1);
            long length = stream.Length;
            if (length > MaxFileBytes)
            {
                throw new CredentialsException($"{path}: {length} bytes, more than a credential file can be ({MaxFileBytes} bytes); is this the right file?", CertificateRejection.Malformed);
            }

            byte[] bytes = new byte[length];
            stream.ReadExactly(bytes);
            return bytes;
        }
        catch (FileNotFoundException e)
        {
            throw new CredentialsException($"{path}: file not found", CertificateRejection.None, e);
        }
        catch (DirectoryNotFoundException e)
        {
            throw new CredentialsException($"{path}: directory not found", CertificateRejection.None, e);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CredentialsException($"{path}: cannot read: {e.Message}", CertificateRejection.None, e);
        }
    }

    /// <summary>
    /// Writes a text file. A private file is created with mode 0600 (owner read/write) on Unix. An existing file is
    /// replaced only when <paramref name="overwrite"/> is set (it is deleted first so the new mode applies).
    /// </summary>
    /// <exception cref="CredentialsException">The file exists and <paramref name="overwrite"/> is false, or it cannot be written.</exception>
    public static void Write(string path, string contents, bool isPrivate, bool overwrite)
    {
        try
        {
            if (File.Exists(path))
            {
                if (!overwrite)
                {
                    throw new CredentialsException($"{path} already exists; pass --force to overwrite it");
                }

                File.Delete(path);
            }

            var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
            if (!OperatingSystem.IsWindows())
            {
                options.UnixCreateMode = isPrivate
                    ? UnixFileMode.UserRead | UnixFileMode.UserWrite
                    : UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead;
            }

            using var stream = new FileStream(path, options);
            using var writer = new StreamWriter(stream);
            writer.Write(contents);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CredentialsException($"{path}: cannot write: {e.Message}", CertificateRejection.None, e);
        }
    }
}
