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
}
