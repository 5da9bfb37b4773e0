using System.CommandLine;
using BelizeMesh.Mesh.Emit;

namespace BelizeMesh.Cli.Commands;

/// <summary><c>belizemesh emit</c> and <c>belizemesh analyze</c>.</summary>
internal static class MeshCommands
{
    public static IEnumerable<Command> Create(TextWriter stdout, TextWriter stderr)
    {
        yield return CreateEmit(stdout, stderr);
        yield return CreateAnalyze(stdout, stderr);
    }

    private static Option<FileInfo> MeshOption() => new("--mesh")
    {
        Description = "The mesh description (YAML, kind: Mesh, apiVersion: belizemesh.io/v1alpha1).",
        Required = true,
    };

    private static Command CreateEmit(TextWriter stdout, TextWriter stderr)
    {
        var mesh = MeshOption();
        var outDir = new Option<DirectoryInfo>("--out")
        {
            Description = "Write one file per kind into this directory (peer-authentication.yaml, gateway.yaml, destination-rules.yaml, virtual-services.yaml, request-authentication.yaml, authorization-policies.yaml, sidecar-policies.yaml, pq-services.yaml, injector-exclusions.yaml) instead of stdout. Nothing is written unless everything succeeds.",
        };
        var apiVersion = new Option<string>("--api-version")
        {
            Description = "Istio API version to write: v1 (Istio 1.22+) or v1beta1 for older clusters.",
            DefaultValueFactory = _ => "v1",
        };
        apiVersion.AcceptOnlyFromAmong("v1", "v1beta1");
        var injectorNamespace = new Option<string>("--injector-namespace")
        {
            Description = "Namespace of belizemesh-injector, where its exclusion list (quantum: false workloads) is written.",
            DefaultValueFactory = _ => MeshEmitter.InjectorNamespace,
        };
        injectorNamespace.Validators.Add(result =>
        {
            string value = result.GetValueOrDefault<string>() ?? "";
            if (!IsDnsLabel(value))
            {
                result.AddError($"--injector-namespace '{value}' is not a namespace name: lower-case letters, digits and '-', at most 63 characters, starting and ending with a letter or digit");
            }
        });

        var command = new Command("emit", "Turn a mesh description into Istio resources (Gateway, VirtualService, DestinationRule, PeerAuthentication, AuthorizationPolicy, RequestAuthentication) and the sidecar policy ConfigMaps, the headless <svc>-pq Services and the injector's exclusion list, as multi-document YAML.")
        {
            mesh,
            outDir,
            apiVersion,
            injectorNamespace,
        };
        command.SetAction(parse => MeshEmitCommand.Run(
            parse.GetValue(mesh)!,
            parse.GetValue(outDir),
            parse.GetValue(apiVersion) == "v1beta1" ? IstioApiVersion.V1Beta1 : IstioApiVersion.V1,
            stdout,
            stderr,
            parse.GetValue(injectorNamespace)!));
        return command;
    }

    private static bool IsDnsLabel(string value)
    {
        if (value.Length is 0 or > 63 || value[0] == '-' || value[^1] == '-')
        {
            return false;
        }

        foreach (char c in value)
        {
            if (!(char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c == '-'))
            {
                return false;
            }
        }

        return true;
    }

    private static Command CreateAnalyze(TextWriter stdout, TextWriter stderr)
    {
        var mesh = MeshOption();
        var output = new Option<string>("--output")
        {
            Description = "text (default) for people, json for scripts.",
            DefaultValueFactory = _ => "text",
        };
        output.AcceptOnlyFromAmong("text", "json");

        var command = new Command("analyze", "Check a mesh description for what istioctl analyze would flag and what only the mesh model knows. Exit 1 when a finding is an error, 2 on bad input.")
        {
            mesh,
            output,
        };
        command.SetAction(parse => MeshAnalyzeCommand.Run(parse.GetValue(mesh)!, parse.GetValue(output) == "json", stdout, stderr));
        return command;
    }
}
