using BelizeMesh.Configuration;
using System.Text;
using System.Text.Json.Nodes;
using BelizeMesh.Injector.Yaml;
using FsCheck.Xunit;

namespace BelizeMesh.Injector.Tests;

/// <summary>Any string value or key survives YAML output and input unchanged (no quoting rule can be missed).</summary>
public sealed class YamlRoundTripProperties
{
    [Property(MaxTest = 500)]
    public bool Any_string_round_trips_through_yaml(string? text)
    {
        string value = Valid(text);
        var doc = new JsonObject { ["v"] = value, [value.Length == 0 ? "empty" : value] = "key" };
        JsonNode back = YamlJsonReader.ReadDocuments(YamlWriter.ToYaml([doc], YamlListLayout.Kubectl), "p")[0].Root!;
        return JsonNode.DeepEquals(doc, back);
    }

    [Property(MaxTest = 300)]
    public bool Yaml_like_strings_round_trip(int pick, int number)
    {
        string[] shapes = ["{0}", "-{0}", "+{0}", "{0}.5", ".{0}", "{0}e3", "0x{0}", "0o{0}", "{0}:30", "{0}_000", "2024-0{0}-01", "{0}m", "{0}Mi", "- {0}", "{0}: x", "#{0}", "'{0}'", "\"{0}\"", "{0} ", " {0}"];
        string value = string.Format(System.Globalization.CultureInfo.InvariantCulture, shapes[(pick & int.MaxValue) % shapes.Length], Math.Abs((long)number) % 1000);
        var doc = new JsonObject { ["v"] = value };
        return JsonNode.DeepEquals(doc, YamlJsonReader.ReadDocuments(YamlWriter.ToYaml([doc], YamlListLayout.Kubectl), "p")[0].Root!);
    }

    /// <summary>Drops lone surrogates and NUL-like characters YAML cannot carry in any style (C0 except tab/LF are escaped fine).</summary>
    private static string Valid(string? text)
    {
        if (text is null)
        {
            return "";
        }

        var sb = new StringBuilder(text.Length);
        for (int i = 0; i < text.Length; i++)
        {
            char c = text[i];
            if (char.IsHighSurrogate(c) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
            {
                sb.Append(c).Append(text[++i]);
            }
            else if (!char.IsSurrogate(c) && c != '\uFFFE' && c != '\uFFFF')
            {
                sb.Append(c);
            }
        }

        return sb.ToString();
    }
}
