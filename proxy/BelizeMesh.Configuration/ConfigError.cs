namespace BelizeMesh.Configuration;

/// <summary>Where something was written: 1-based line and column in a configuration file.</summary>
public readonly record struct SourcePosition(int Line, int Column)
{
    /// <summary>Formats the position as <c>file:line:column</c>.</summary>
    public string Format(string file) => $"{file}:{Line}:{Column}";
}

/// <summary>
/// One problem in a configuration file (a SidecarPolicy, a mesh description, the injector's configuration or exclusion
/// list): where it is, which field, what is wrong and how to fix it. Every parser reports every problem it finds, not
/// only the first, as a list of these.
/// </summary>
/// <param name="File">The file as the user named it.</param>
/// <param name="Position">1-based line and column of the offending node (1:1 for a problem with the whole file).</param>
/// <param name="Path">The field's path (<c>spec.inbound.mode</c>, <c>services[2].ports</c>); empty for the whole file.</param>
/// <param name="Message">What is wrong, usually with the fix.</param>
public record ConfigError(string File, SourcePosition Position, string Path, string Message)
{
    /// <summary>How to fix it, when the message does not already say.</summary>
    public string? Hint { get; init; }

    /// <summary>1-based line.</summary>
    public int Line => Position.Line;

    /// <summary>1-based column.</summary>
    public int Column => Position.Column;

    /// <summary><c>file:line:column: path: message</c> with <paramref name="file"/> as the file name (the form compilers
    /// use, so editors can jump to it).</summary>
    public virtual string Format(string file)
    {
        string text = Path.Length == 0 ? $"{Position.Format(file)}: {Message}" : $"{Position.Format(file)}: {Path}: {Message}";
        return Hint is null ? text : $"{text}; {Hint}";
    }

    /// <summary><c>file:line:column: path: message</c>.</summary>
    public override string ToString() => Format(File);
}
