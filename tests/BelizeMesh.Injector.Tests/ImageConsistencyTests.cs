using System.Text.RegularExpressions;
using BelizeMesh.Injector.Configuration;
using BelizeMesh.TestSupport;

namespace BelizeMesh.Injector.Tests;

/// <summary>The sidecar image and the injector must agree on what they both state about the container.</summary>
public sealed class ImageConsistencyTests
{
    [Fact]
    public void Dockerfile_user_is_the_injectors_default_run_as_user_and_group()
    {
        string dockerfile = File.ReadAllText(Path.Combine(RepoPaths.Root, "Dockerfile.proxy"));
        Match user = Regex.Match(dockerfile, @"^USER\s+(\d+):(\d+)\s*$", RegexOptions.Multiline);
        Assert.True(user.Success, "Dockerfile.proxy has no numeric USER uid:gid line");
        var defaults = new InjectorConfig();
        Assert.Equal(defaults.RunAsUser, long.Parse(user.Groups[1].Value));
        Assert.Equal(defaults.RunAsGroup, long.Parse(user.Groups[2].Value));
    }
}
