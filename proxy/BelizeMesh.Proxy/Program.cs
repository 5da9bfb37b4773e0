using System.CommandLine;
using BelizeMesh.Proxy.Configuration;
using BelizeMesh.Proxy.Hosting;

namespace BelizeMesh.Proxy;

/// <summary>Entry point of <c>belizemesh-proxy</c>.</summary>
public static class Program
{
    /// <summary>Exit code for an invalid policy file or bad arguments.</summary>
    public const int ConfigurationError = 1;

    /// <summary>Runs the command line.</summary>
    public static int Main(string[] args)
    {
        FootprintDefaults.Apply();
        _ = YoungGenerationPrefault.Apply(); // before start-up allocates: it prepares the memory start-up allocates into
        if (SchedulingPolicy.Apply() is { } schedulingProblem)
        {
            Console.Error.WriteLine(schedulingProblem);
        }
        _ = DehydratedDataRelease.Release();
        return BuildCommand(Console.Error).Parse(args).Invoke();
    }

    internal static RootCommand BuildCommand(TextWriter stderr)
    {
        var policy = new Option<FileInfo>("--policy")
        {
            Description = "The SidecarPolicy YAML file (mounted ConfigMap: /etc/belizemesh/policy/policy.yaml). Watched: valid changes apply without a restart.",
            Required = true,
        };
        var certs = new Option<DirectoryInfo>("--certs")
        {
            Description = "Directory with tls.crt, tls.key and ca.crt (mounted Secret: /etc/belizemesh/certs). Not used in mode DISABLE.",
            Required = true,
        };
        var accessLog = new Option<bool?>("--access-log")
        {
            Description = "Override spec.accessLog: true or false.",
        };

        var statusListen = new Option<string?>("--status-listen")
        {
            Description = "Also listen on ADDR:PORT (plaintext) for GET /healthz/ready only, e.g. 0.0.0.0:16021: the injector points the kubelet's readiness probe there, so a policy whose admin listener is on 127.0.0.1 still becomes ready in a pod.",
        };

        var run = new Command("run", "Run the sidecar: inbound, outbound and admin listeners from the policy file.");
        run.Options.Add(policy);
        run.Options.Add(certs);
        run.Options.Add(accessLog);
        run.Options.Add(statusListen);
        run.SetAction(parseResult => Run(parseResult.GetValue(policy)!, parseResult.GetValue(certs)!, parseResult.GetValue(accessLog), stderr, parseResult.GetValue(statusListen)));

        var outboundPort = new Option<int>("--outbound-port")
        {
            Description = "Port of the frontend sidecar's outbound listener that the printed curl commands use; 0 picks any free port.",
            DefaultValueFactory = _ => MeshNames.OutboundPort,
        };
        var check = new Option<bool>("--check")
        {
            Description = "Run the allowed / denied / rate-limited requests, print them, and exit (0 when all behaved as expected).",
        };
        var demo = new Command("demo", "Start a complete local mesh on loopback (a CA, two sidecars, a demo app) and print curl commands to try it.");
        demo.Options.Add(outboundPort);
        demo.Options.Add(check);
        demo.SetAction((parseResult, cancellationToken) => Demo.DemoCommand.RunAsync(
            new Demo.DemoOptions { OutboundPort = parseResult.GetValue(outboundPort), CheckOnly = parseResult.GetValue(check) },
            Console.Out,
            stderr,
            cancellationToken));

        var root = new RootCommand("belizemesh-proxy: the BelizeMesh sidecar (Kestrel + YARP, post-quantum channel).");
        root.Subcommands.Add(run);
        root.Subcommands.Add(demo);
        return root;
    }

    internal static int Run(FileInfo policy, DirectoryInfo certs, bool? accessLog, TextWriter stderr, string? statusListen = null)
    {
        ListenAddress? status = null;
        if (statusListen is not null && !ListenAddress.TryParse(statusListen, out status))
        {
            stderr.WriteLine($"belizemesh-proxy: --status-listen '{statusListen}' is not an IP:PORT listen address (e.g. 0.0.0.0:16021 or [::]:16021)");
            return ConfigurationError;
        }

        var options = new ProxyHostOptions
        {
            PolicyPath = policy.FullName,
            CertsPath = certs.FullName,
            AccessLog = accessLog,
            StatusListen = status,
        };

        ProxyHost? host = ProxyHost.Create(options, out IReadOnlyList<PolicyError> errors);
        if (host is null)
        {
            foreach (PolicyError error in errors)
            {
                stderr.WriteLine(error.ToString());
            }

            stderr.WriteLine($"belizemesh-proxy: {errors.Count} error(s) in {policy.FullName}; not started.");
            return ConfigurationError;
        }

        try
        {
            host.RunAsync().GetAwaiter().GetResult();
            return 0;
        }
        catch (IOException ex)
        {
            // Kestrel reports an address in use (or a bad address) as IOException on bind.
            stderr.WriteLine($"belizemesh-proxy: cannot bind a listener: {ex.Message}");
            return ConfigurationError;
        }
        finally
        {
            host.DisposeAsync().AsTask().GetAwaiter().GetResult();
        }
    }
}
