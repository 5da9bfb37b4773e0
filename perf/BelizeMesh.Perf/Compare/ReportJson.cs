using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace BelizeMesh.Perf.Compare;

/// <summary>
/// <c>report.json</c>: indented, camelCase, every property written (an unmeasured figure is a visible <c>null</c>),
/// through a source-generated context. NaN and ±Infinity are written as strings rather than failing the write at
/// the end of a long run.
/// </summary>
[JsonSourceGenerationOptions(
    WriteIndented = true,
    PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    DefaultIgnoreCondition = JsonIgnoreCondition.Never,
    NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals)]
[JsonSerializable(typeof(CompareReport))]
internal sealed partial class CompareReportJsonContext : JsonSerializerContext;

internal static class ReportJson
{
    // Relaxed escaping keeps '+', '<', '&' and non-ASCII (CPU names, "—") readable; the file is never embedded in HTML.
    private static readonly CompareReportJsonContext Context = new(
        new JsonSerializerOptions(CompareReportJsonContext.Default.Options) { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping });

    public static string Serialize(CompareReport report) => JsonSerializer.Serialize(report, Context.CompareReport) + "\n";

    public static CompareReport Deserialize(string json) =>
        JsonSerializer.Deserialize(json, Context.CompareReport) ?? throw new JsonException("report.json holds null");
}
