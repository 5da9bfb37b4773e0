using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace BelizeMesh.Configuration;

/// <summary>Why a YAML text could not be loaded.</summary>
public enum YamlLoadFailureKind
{
    /// <summary>Refused before parsing: it crosses a <see cref="YamlInputGuard"/> bound (nesting, aliases, size).</summary>
    OverLimit,

    /// <summary>Not valid YAML: YamlDotNet's <see cref="YamlException"/>, at its position.</summary>
    Malformed,

    /// <summary>An event sequence YamlDotNet rejects with another exception (no position; found by the fuzz tests).</summary>
    Rejected,
}

/// <summary>Why a YAML text could not be loaded, where (1-based; 0 where YamlDotNet gives none) and the exception.</summary>
public readonly record struct YamlLoadFailure(YamlLoadFailureKind Kind, int Line, int Column, string Reason, Exception? Exception);

/// <summary>
/// The first step of every configuration parser: bound the text (<see cref="YamlInputGuard"/>), then load it into
/// YamlDotNet's representation model, turning every way that can fail into one <see cref="YamlLoadFailure"/>. Each
/// parser words the failure for its own file.
/// </summary>
public static class YamlDocuments
{
    /// <summary>Loads <paramref name="text"/>; null (and <paramref name="failure"/>) when it cannot be.</summary>
    public static YamlStream? Load(string text, out YamlLoadFailure failure)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (YamlInputGuard.Check(text) is { } bounded)
        {
            failure = new YamlLoadFailure(YamlLoadFailureKind.OverLimit, bounded.Line, bounded.Column, bounded.Message, null);
            return null;
        }

        var stream = new YamlStream();
        try
        {
            stream.Load(new StringReader(text));
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException)
        {
            failure = new YamlLoadFailure(YamlLoadFailureKind.Rejected, 1, 1, e.Message, e);
            return null;
        }
        catch (YamlException e)
        {
            failure = new YamlLoadFailure(YamlLoadFailureKind.Malformed, (int)e.Start.Line, (int)e.Start.Column, e.InnerException?.Message ?? e.Message, e);
            return null;
        }

        failure = default;
        return stream;
    }

    /// <summary>
    /// The one wording of a load failure every parser reports (<paramref name="text"/> is the file's text, to name a
    /// repeated key): <c>refused before parsing: …</c>, <c>duplicate key "x" in one mapping; …</c> or
    /// <c>not valid YAML: …</c>, at the failure's position.
    /// </summary>
    public static ConfigError Describe(YamlLoadFailure failure, string file, string text)
    {
        var at = new SourcePosition(Math.Max(1, failure.Line), Math.Max(1, failure.Column));
        if (failure.Kind == YamlLoadFailureKind.OverLimit)
        {
            return new ConfigError(file, at, "", $"refused before parsing: {failure.Reason}");
        }

        if (failure.Kind == YamlLoadFailureKind.Rejected || failure.Exception is null)
        {
            return new ConfigError(file, at, "", $"not valid YAML: {failure.Reason.TrimEnd('.')}; check the file's structure (quoting, indentation, tags)");
        }

        var e = failure.Exception;
        string message = e.InnerException is { } inner ? $"{e.Message}: {inner.Message}" : e.Message;
        if (message.Contains("Duplicate key", StringComparison.Ordinal))
        {
            return new ConfigError(file, at, "", $"duplicate key \"{KeyAt(text, at.Line, at.Column)}\" in one mapping; each field may appear once");
        }

        return new ConfigError(file, at, "", $"not valid YAML: {message}");
    }

    private static string KeyAt(string text, int line, int column)
    {
        var lines = text.Split('\n');
        if (line < 1 || line > lines.Length || column < 1 || column > lines[line - 1].Length)
        {
            return "?";
        }

        string rest = lines[line - 1][(column - 1)..];
        int colon = rest.IndexOf(':', StringComparison.Ordinal);
        return (colon < 0 ? rest : rest[..colon]).Trim();
    }
}
