// Used by BelizeMesh.Mesh (mesh descriptions), BelizeMesh.Proxy (SidecarPolicy) and BelizeMesh.Injector (its
// configuration and offline pod YAML), so every YAML the products read is bounded the same way before YamlDotNet builds
// a node tree from it.
using YamlDotNet.Core;
using YamlDotNet.Core.Events;

namespace BelizeMesh.Configuration;

/// <summary>
/// Bounds untrusted YAML before it is loaded. <c>YamlStream.Load</c> builds nodes recursively (deep nesting overflows the
/// stack, which no handler can catch: the process dies), and a node reached through aliases is visited once per path
/// to it (an "alias bomb" of a few hundred bytes expands to billions of nodes; as a mapping key, hashing it alone pins
/// a core for minutes). This pass reads the event stream — YamlDotNet's parser keeps its own state stack, so it does
/// not recurse — and stops at the first limit crossed, with the line and column where it happened.
/// </summary>
public static class YamlInputGuard
{
    /// <summary>Largest configuration file read (a 500-service mesh description is ~200 KB).</summary>
    public const int MaxBytes = 4 * 1024 * 1024;

    /// <summary>Deepest nesting of mappings and sequences (the deepest real document here nests ~12 levels).</summary>
    public const int MaxDepth = 64;

    /// <summary>Most aliases in one file.</summary>
    public const int MaxAliases = 1_000;

    /// <summary>Most nodes the document has once every alias is expanded (what a reader walking it visits).</summary>
    public const long MaxExpandedNodes = 1_000_000;

    /// <summary>A limit crossed: where (1-based line and column) and what, with the fix.</summary>
    public readonly record struct Violation(int Line, int Column, string Message);

    /// <summary>
    /// Reads a file of at most <see cref="MaxBytes"/> bytes (following symlinks); a larger file is refused before it is
    /// read. <paramref name="error"/> says why the file could not be read, naming it as <paramref name="what"/> ("policy file").
    /// </summary>
    public static bool TryReadFile(string path, string what, out string text, out string? error)
    {
        text = "";
        try
        {
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, bufferSize: 1);
            long length = stream.Length;
            if (length > MaxBytes)
            {
                error = $"the {what} is {length} bytes, more than the {MaxBytes} bytes a configuration file may have; is this the right file?";
                return false;
            }

            byte[] bytes = new byte[length];
            stream.ReadExactly(bytes);
            text = System.Text.Encoding.UTF8.GetString(bytes);
            if (text.Length > 0 && text[0] == '\uFEFF')
            {
                text = text[1..]; // a UTF-8 byte order mark, as File.ReadAllText drops it
            }

            error = null;
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            error = $"cannot read the {what}: {e.Message.TrimEnd('.')}";
            return false;
        }
    }

    /// <summary>
    /// Scans <paramref name="text"/> and returns the first limit it crosses, or null when it is safe to load. Malformed
    /// YAML is not reported here (null): the loader that follows reports it with its own message.
    /// </summary>
    public static Violation? Check(string text)
    {
        if (text.Length > MaxBytes)
        {
            return new Violation(1, 1, $"the document is {text.Length} characters, more than the {MaxBytes} a configuration file may have");
        }

        var parser = new Parser(new StringReader(text));
        var frames = new List<Frame>();
        var anchors = new Dictionary<string, long>(StringComparer.Ordinal);
        int aliases = 0;
        long expanded = 0;
        try
        {
            while (parser.MoveNext())
            {
                ParsingEvent e = parser.Current!;
                bool isKey = frames.Count > 0 && frames[^1].IsMapping && frames[^1].ExpectKey;
                switch (e)
                {
                    case AnchorAlias alias:
                        if (isKey)
                        {
                            return At(e, $"an alias (*{alias.Value}) used as a mapping key; keys must be plain scalars");
                        }

                        if (++aliases > MaxAliases)
                        {
                            return At(e, $"more than {MaxAliases} aliases; write the values out or split the file");
                        }

                        long size = anchors.TryGetValue(alias.Value.Value, out long known) ? known : 1;
                        if ((expanded += size) > MaxExpandedNodes)
                        {
                            return At(e, $"aliases expand the document past {MaxExpandedNodes:N0} nodes (an alias bomb?); write the values out instead of nesting aliases");
                        }

                        AddToOpenFrames(frames, size);
                        ValueDone(frames);
                        break;

                    case Scalar scalar:
                        expanded++;
                        AddToOpenFrames(frames, 1);
                        if (!scalar.Anchor.IsEmpty)
                        {
                            anchors[scalar.Anchor.Value] = 1;
                        }

                        ValueDone(frames);
                        break;

                    case MappingStart or SequenceStart:
                        if (isKey)
                        {
                            return At(e, "a mapping or sequence used as a mapping key; keys must be plain scalars");
                        }

                        if (frames.Count >= MaxDepth)
                        {
                            return At(e, $"nested more than {MaxDepth} levels deep; a configuration file never needs that many");
                        }

                        expanded++;
                        AddToOpenFrames(frames, 1);
                        var start = (NodeEvent)e;
                        frames.Add(new Frame(e is MappingStart, start.Anchor.IsEmpty ? null : start.Anchor.Value));
                        break;

                    case MappingEnd or SequenceEnd:
                        Frame done = frames[^1];
                        frames.RemoveAt(frames.Count - 1);
                        if (done.Anchor is not null)
                        {
                            anchors[done.Anchor] = done.Nodes + 1;
                        }

                        ValueDone(frames);
                        break;
                }
            }
        }
        catch (YamlException)
        {
            return null; // malformed: the loader reports it, with YamlDotNet's message and position
        }
        catch (Exception ex) when (ex is InvalidOperationException or ArgumentException or FormatException or OverflowException)
        {
            // YamlDotNet lets a few malformed inputs escape as other exceptions (an invalid tag URI; a scanner state
            // error on some plain scalars, found by the fuzz tests); the loader would throw the same, so report here.
            var mark = parser.Current?.End ?? Mark.Empty;
            return new Violation(Math.Max(1, (int)mark.Line), Math.Max(1, (int)mark.Column), $"invalid YAML after this point: {ex.Message.TrimEnd('.')}; check the quoting and indentation of the next lines");
        }

        return null;
    }

    private static Violation At(ParsingEvent e, string message) => new((int)e.Start.Line, (int)e.Start.Column, message);

    private static void AddToOpenFrames(List<Frame> frames, long nodes)
    {
        foreach (Frame frame in frames)
        {
            frame.Nodes = Math.Min(frame.Nodes + nodes, MaxExpandedNodes + 1);
        }
    }

    /// <summary>A key or value of the innermost mapping is complete: the next node there is the other one.</summary>
    private static void ValueDone(List<Frame> frames)
    {
        if (frames.Count > 0 && frames[^1].IsMapping)
        {
            frames[^1].ExpectKey = !frames[^1].ExpectKey;
        }
    }

    private sealed class Frame(bool isMapping, string? anchor)
    {
        public bool IsMapping { get; } = isMapping;

        public string? Anchor { get; } = anchor;

        public bool ExpectKey { get; set; } = true;

        /// <summary>Nodes inside this collection, aliases expanded.</summary>
        public long Nodes { get; set; }
    }
}
