using System.Text.RegularExpressions;
using System.Xml.Linq;
using BelizeMesh.TestSupport;

namespace BelizeMesh.Proxy.Tests.Packaging;

/// <summary>
/// The images (Dockerfile.proxy, Dockerfile.injector) are reviewed, not built, in CI (no Docker engine): these checks
/// stand in for the build. CI does link the same native AOT binaries (.ci/run).
/// </summary>
public sealed class DockerfileTests
{
    [Theory]
    [InlineData("Dockerfile.proxy", "proxy/BelizeMesh.Proxy/BelizeMesh.Proxy.csproj")]
    [InlineData("Dockerfile.injector", "injector/BelizeMesh.Injector/BelizeMesh.Injector.csproj")]
    public void Dockerfile_copies_every_directory_the_build_reads(string dockerfileName, string projectPath)
    {
        string root = RepoPaths.Root;
        string dockerfile = File.ReadAllText(Path.Combine(root, dockerfileName));
        string[] copied = [.. Regex.Matches(dockerfile, @"^COPY\s+(?!--from)(.+)\s+\S+\s*$", RegexOptions.Multiline)
            .SelectMany(m => m.Groups[1].Value.Split(' ', StringSplitOptions.RemoveEmptyEntries))];

        var needed = new SortedSet<string>(StringComparer.Ordinal);
        var pending = new Stack<string>([Path.Combine(root, projectPath)]);
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

        Assert.Contains(Path.GetDirectoryName(projectPath)!.Replace('\\', '/') + "/", needed);
        string[] missing = [.. needed.Where(dir => !copied.Any(source => dir.StartsWith(source.TrimEnd('*'), StringComparison.Ordinal) && source.EndsWith('/')))];
        Assert.True(missing.Length == 0, $"{dockerfileName} does not COPY {string.Join(", ", missing)} before 'dotnet publish'");
    }

    [Theory]
    [InlineData("Dockerfile.proxy")]
    [InlineData("Dockerfile.injector")]
    public void Dockerfile_restores_locked_for_linux_x64_and_publishes_without_overriding_the_project(string dockerfileName)
    {
        string dockerfile = File.ReadAllText(Path.Combine(RepoPaths.Root, dockerfileName));
        Assert.Matches(@"(?m)^RUN dotnet restore \S+ -r linux-x64 --locked-mode\s*$", dockerfile);
        // PublishAot comes from the project (what CI links); a command-line -p:PublishAot would change the restore graph.
        Assert.DoesNotContain("-p:PublishAot", dockerfile, StringComparison.Ordinal);
    }

    [Fact]
    public void Docker_context_excludes_host_build_output()
    {
        string[] ignored = File.ReadAllLines(Path.Combine(RepoPaths.Root, ".dockerignore"));
        Assert.Contains("**/bin/", ignored);
        Assert.Contains("**/obj/", ignored);
    }

    [Theory]
    [InlineData("proxy/BelizeMesh.Proxy/BelizeMesh.Proxy.csproj")]
    [InlineData("injector/BelizeMesh.Injector/BelizeMesh.Injector.csproj")]
    [InlineData("policy/BelizeMesh.Cli/BelizeMesh.Cli.csproj")]
    public void Every_program_ships_as_native_aot(string projectPath)
    {
        XDocument xml = XDocument.Load(Path.Combine(RepoPaths.Root, projectPath));
        Assert.Equal("true", xml.Descendants("PublishAot").Single().Value);
    }

    private static string Relative(string root, string path) => Path.GetRelativePath(root, path).Replace('\\', '/');
}
