using System.Reflection;

namespace BelizeMesh.Injector;

/// <summary>The injector's version, recorded in <c>belizemesh.io/status</c> and in the default image tag.</summary>
internal static class InjectorVersion
{
    /// <summary>The informational version without source-control metadata (<c>0.1.0+abc</c> → <c>0.1.0</c>).</summary>
    public static readonly string Value = Read();

    private static string Read()
    {
        string? version = typeof(InjectorVersion).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion;
        if (string.IsNullOrEmpty(version))
        {
            return "0.1.0";
        }

        int plus = version.IndexOf('+', StringComparison.Ordinal);
        return plus >= 0 ? version[..plus] : version;
    }
}
