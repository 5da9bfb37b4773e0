namespace BelizeMesh.Mesh.Tests;

/// <summary>Runs the <c>belizemesh</c> CLI in-process.</summary>
internal static class Cli
{
    public static (int Code, string Stdout, string Stderr) Run(params string[] args)
    {
        var stdout = new StringWriter { NewLine = "\n" };
        var stderr = new StringWriter { NewLine = "\n" };
        int code = BelizeMesh.Cli.Program.Run(args, stdout, stderr);
        return (code, stdout.ToString(), stderr.ToString());
    }
}
