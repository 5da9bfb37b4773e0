using BelizeMesh.Configuration;

namespace BelizeMesh.Proxy.Configuration;

/// <summary>One problem found in a policy file: where it is and what to do about it (the shared
/// <see cref="ConfigError"/>, printed the sidecar's way).</summary>
/// <param name="File">The file path as given.</param>
/// <param name="Line">1-based line; 0 when the problem is not at a place in the file (e.g. unreadable certificates).</param>
/// <param name="Column">1-based column.</param>
/// <param name="Message">What is wrong and how to fix it; starts with the field path (<c>spec.inbound.mode: …</c>),
/// which is also <see cref="ConfigError.Path"/>.</param>
public sealed record PolicyError(string File, int Line, int Column, string Message)
    : ConfigError(File, new SourcePosition(Line, Column), LeadingPath(Message), Message)
{
    /// <summary><c>file:line:column: path: message</c>, the form every BelizeMesh parser prints
    /// (<see cref="ConfigError.Format"/>) and compilers use, so editors can jump to it; <c>file: message</c> when the
    /// problem is not at a place in the file.</summary>
    public override string ToString() => Format(File);

    /// <summary>As <see cref="ToString"/> with <paramref name="file"/> as the file name: the path is already the
    /// message's start, so it is not written twice.</summary>
    public override string Format(string file)
    {
        string text = Line == 0 ? $"{file}: {Message}" : $"{file}:{Line}:{Column}: {Message}";
        return Hint is null ? text : $"{text}; {Hint}";
    }

    /// <summary>The sidecar's view of a binder error: the path leads the message.</summary>
    public static PolicyError From(ConfigError error)
    {
        ArgumentNullException.ThrowIfNull(error);
        return new PolicyError(error.File, error.Line, error.Column, error.Path.Length == 0 ? error.Message : $"{error.Path}: {error.Message}") { Hint = error.Hint };
    }

    /// <summary>The field path a message starts with (<c>spec.outbound.routes[0].host: …</c>), or empty.</summary>
    private static string LeadingPath(string message)
    {
        int end = message.IndexOf(": ", StringComparison.Ordinal);
        if (end <= 0)
        {
            return "";
        }

        foreach (char c in message.AsSpan(0, end))
        {
            if (!char.IsAsciiLetterOrDigit(c) && c is not ('.' or '[' or ']' or '-' or '_'))
            {
                return "";
            }
        }

        return message[..end];
    }
}

/// <summary>The outcome of parsing a policy file: a policy, or every problem found.</summary>
public sealed class PolicyParseResult
{
    internal PolicyParseResult(SidecarPolicy? policy, IReadOnlyList<PolicyError> errors)
    {
        Policy = policy;
        Errors = errors;
    }

    /// <summary>The policy when <see cref="Errors"/> is empty.</summary>
    public SidecarPolicy? Policy { get; }

    /// <summary>Every problem, in file order.</summary>
    public IReadOnlyList<PolicyError> Errors { get; }

    /// <summary>True when the file is valid.</summary>
    public bool Succeeded => Policy is not null && Errors.Count == 0;
}
