using System.Text.RegularExpressions;
using System.Xml.Linq;
using BelizeMesh.TestSupport;

namespace BelizeMesh.Proxy.Tests.Packaging;

/// <summary>Dockerfile.proxy is reviewed, not built, in CI (no Docker engine): these checks stand in for the build.</summary>
public sealed class DockerfileTests
{
    [Fact]
    public void Dockerfile_copies_every_directory_the_proxy_build_reads()
    {
        string root = RepoPaths.Root;
        string dockerfile = File.ReadAllText(Path.Combine(root, "Dockerfile.proxy"));
        string[] copied = [.. Regex.Matches(dockerfile, @"^COPY\s+(?!--from)(.+)\s+\S+\s*$", RegexOptions.Multiline)
            .SelectMany(m => m.Groups[1].Value.Split(' ', StringSplitOptions.RemoveEmptyEntries))];

        var needed = new SortedSet<string>(StringComparer.Ordinal);
        var pending = new Stack<string>([Path.Combine(root, "proxy", "BelizeMesh.Proxy", "BelizeMesh.Proxy.csproj")]);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        while (pending.TryPop(out string? project))
        {
            if (!seen.Add(project))
            {
                continue;
            }

            string directory = Path.GetDirectoryName(project)!;
            needed.Add(Relative(root, directory) + "/");
            XDocument xml = XDocument.Load(project);
            foreach (XElement reference in xml.Descendants("ProjectReference"))
            {
                pending.Push(Path.GetFullPath(Path.Combine(directory, (string)reference.Attribute("Include")!)));
            }

            foreach (XElement compile in xml.Descendants("Compile").Where(c => c.Attribute("Include") is not null))
            {
                string include = Path.GetFullPath(Path.Combine(directory, (string)compile.Attribute("Include")!));
                needed.Add(Relative(root, Path.GetDirectoryName(include)!) + "/");
            }
        }

        Assert.Contains("proxy/BelizeMesh.Quantum/", needed);
        string[] missing = [.. needed.Where(dir => !copied.Any(source => dir.StartsWith(source.TrimEnd('*'), StringComparison.Ordinal) && source.EndsWith('/')))];
        Assert.True(missing.Length == 0, $"Dockerfile.proxy does not COPY {string.Join(", ", missing)} before 'dotnet publish'");
    }

    private static string Relative(string root, string path) => Path.GetRelativePath(root, path).Replace('\\', '/');
}
