namespace BelizeMesh.Identity;

/// <summary>Reads and writes credential files with errors that name the file, and private files with mode 0600.</summary>
public static class CredentialFiles
{
    /// <summary>Reads a text file.</summary>
    /// <exception cref="CredentialsException">The file is missing or unreadable.</exception>
    public static string Read(string path)
    {
        try
        {
            return File.ReadAllText(path);
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
