using BelizeMesh.Configuration;
using System.CommandLine;
using System.Globalization;
using System.Net;
using BelizeMesh.Injector.Configuration;
using BelizeMesh.Injector.Controller;
using BelizeMesh.Injector.Injection;
using BelizeMesh.Injector.Offline;
using BelizeMesh.Injector.Server;
using BelizeMesh.Injector.WebhookConfiguration;
using BelizeMesh.Injector.Yaml;

namespace BelizeMesh.Injector;

/// <summary>
/// Entry point of <c>belizemesh-injector</c>: <c>serve</c> (the admission webhook), <c>inject</c> (the same mutation
/// offline) and <c>webhook-config</c> (the MutatingWebhookConfiguration). Exit codes: 0 success, 1 bad input or
/// configuration (the message says what, where and how to fix it).
/// </summary>
public static class Program
{
    public static int Main(string[] args) => Run(args, Console.Out, Console.Error, Console.In);

    /// <summary>Parses and runs a command line with the given streams (usage errors go to <paramref name="stderr"/>).</summary>
    internal static int Run(string[] args, TextWriter stdout, TextWriter stderr, TextReader stdin) =>
        BuildRootCommand(stdout, stderr, stdin).Parse(args).Invoke(new InvocationConfiguration { Output = stdout, Error = stderr });

    /// <summary>The command tree; output streams are parameters so tests can run commands in-process.</summary>
    internal static RootCommand BuildRootCommand(TextWriter stdout, TextWriter stderr, TextReader stdin)
    {
        var root = new RootCommand("belizemesh-injector: the Kubernetes mutating admission webhook that places the BelizeMesh post-quantum sidecar.");
        root.Subcommands.Add(ServeCommand(stderr));
        root.Subcommands.Add(InjectCommand(stdout, stderr, stdin));
        root.Subcommands.Add(WebhookConfigCommand(stdout, stderr));
        root.Subcommands.Add(ControllerCommand.Create(stderr));
        return root;
    }

    private static Command ServeCommand(TextWriter stderr)
    {
        var listen = new Option<string>("--listen") { Description = "ADDR:PORT to listen on with HTTPS, e.g. 0.0.0.0:8443", Required = true };
        var cert = new Option<FileInfo>("--tls-cert") { Description = "PEM serving certificate (tls.crt)", Required = true };
        var key = new Option<FileInfo>("--tls-key") { Description = "PEM private key of the certificate (tls.key)", Required = true };
        var config = new Option<FileInfo?>("--config") { Description = "YAML configuration file, reloaded when it changes (see docs/injector.md)" };
        var exclusions = ExclusionsOption();
        var command = new Command("serve", "Serve the admission webhook: POST /inject, GET /healthz, GET /metrics.");
        command.Options.Add(listen);
        command.Options.Add(cert);
        command.Options.Add(key);
        command.Options.Add(config);
        command.Options.Add(exclusions);
        command.SetAction(async (parseResult, cancellationToken) =>
        {
            if (!TryParseEndpoint(parseResult.GetValue(listen)!, out IPEndPoint? endpoint, out string? error))
            {
                await stderr.WriteLineAsync($"belizemesh-injector: {error}").ConfigureAwait(false);
                return 1;
            }

            var options = new ServeOptions(endpoint, parseResult.GetValue(cert)!.FullName, parseResult.GetValue(key)!.FullName, parseResult.GetValue(config)?.FullName)
            {
                ExclusionsPath = parseResult.GetValue(exclusions)?.FullName,
            };
            InjectorServer server;
            try
            {
                server = await InjectorServer.StartAsync(options, cancellationToken: cancellationToken).ConfigureAwait(false);
            }
            catch (ConfigException e)
            {
                await stderr.WriteLineAsync($"belizemesh-injector: invalid configuration:{Environment.NewLine}{e.Message}").ConfigureAwait(false);
                return 1;
            }
            catch (Exception e) when (e is InvalidOperationException or IOException or UnauthorizedAccessException)
            {
                await stderr.WriteLineAsync($"belizemesh-injector: {e.Message}").ConfigureAwait(false);
                return 1;
            }

            await using (server.ConfigureAwait(false))
            {
                await server.WaitForShutdownAsync(cancellationToken).ConfigureAwait(false);
            }

            return 0;
        });
        return command;
    }

    private static Command InjectCommand(TextWriter stdout, TextWriter stderr, TextReader stdin)
    {
        var pod = new Option<string>("--pod", "-f") { Description = "YAML file with Pods or workloads (Deployment, StatefulSet, DaemonSet, ReplicaSet, Job, CronJob); - for stdin", Required = true };
        var config = new Option<FileInfo?>("--config") { Description = "YAML configuration file (image, resources, ports, nativeSidecar...)" };
        var exclusions = ExclusionsOption();
        var command = new Command("inject", "Inject the sidecar offline (like istioctl kube-inject) and print the mutated YAML.");
        command.Options.Add(pod);
        command.Options.Add(config);
        command.Options.Add(exclusions);
        command.SetAction(parseResult =>
        {
            string file = parseResult.GetValue(pod)!;
            try
            {
                InjectorConfig configuration = LoadConfig(parseResult.GetValue(config));
                if (parseResult.GetValue(exclusions) is { } exclusionsFile)
                {
                    configuration = configuration with { Exclusions = WorkloadExclusions.LoadFile(exclusionsFile.FullName) };
                }

                string text = file == "-" ? stdin.ReadToEnd() : File.ReadAllText(file);
                OfflineResult result = OfflineInjector.Run(text, file == "-" ? "<stdin>" : file, new SidecarTemplate(configuration));
                foreach (string warning in result.Warnings)
                {
                    stderr.WriteLine($"warning: {warning}");
                }

                if (result.Workloads == 0)
                {
                    // Other kinds pass through (as istioctl kube-inject does), but not silently: the file may not be the one meant.
                    stderr.WriteLine($"warning: {(file == "-" ? "<stdin>" : file)}: no Pod or workload (Deployment, StatefulSet, DaemonSet, ReplicaSet, ReplicationController, Job, CronJob, PodTemplate, or a List of them) found: nothing was injected");
                }

                stdout.Write(result.Yaml);
                return 0;
            }
            catch (Exception e) when (e is ConfigException or YamlInputException or OfflineInjectionException)
            {
                stderr.WriteLine($"belizemesh-injector: {e.Message}");
                return 1;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                stderr.WriteLine($"belizemesh-injector: cannot read {file}: {e.Message}");
                return 1;
            }
        });
        return command;
    }

    private static Command WebhookConfigCommand(TextWriter stdout, TextWriter stderr)
    {
        var service = new Option<string>("--service") { Description = "Name of the injector's Service", Required = true };
        var ns = new Option<string>("--namespace") { Description = "Namespace of the injector's Service", Required = true };
        var caBundle = new Option<FileInfo>("--ca-bundle") { Description = "PEM CA certificate that signed the serving certificate", Required = true };
        var path = new Option<string>("--path") { Description = "URL path of the webhook", DefaultValueFactory = _ => "/inject" };
        var port = new Option<int>("--port") { Description = "Service port", DefaultValueFactory = _ => 443 };
        var failurePolicy = new Option<string?>("--failure-policy") { Description = "Fail or Ignore (default: the configuration's failurePolicy, else Fail)" };
        failurePolicy.AcceptOnlyFromAmong("Fail", "Ignore");
        var timeout = new Option<int>("--timeout-seconds") { Description = "How long the API server waits for the webhook (1-30)", DefaultValueFactory = _ => 10 };
        var config = new Option<FileInfo?>("--config") { Description = "YAML configuration file (for failurePolicy)" };
        var command = new Command("webhook-config", "Print the MutatingWebhookConfiguration YAML.");
        foreach (Option option in new Option[] { service, ns, caBundle, path, port, failurePolicy, timeout, config })
        {
            command.Options.Add(option);
        }

        command.SetAction(parseResult =>
        {
            FileInfo ca = parseResult.GetValue(caBundle)!;
            try
            {
                InjectorConfig configuration = LoadConfig(parseResult.GetValue(config));
                byte[] pem = File.ReadAllBytes(ca.FullName);
                FailurePolicy policy = parseResult.GetValue(failurePolicy) switch
                {
                    "Fail" => FailurePolicy.Fail,
                    "Ignore" => FailurePolicy.Ignore,
                    _ => configuration.FailurePolicy,
                };
                var options = new WebhookConfigOptions(parseResult.GetValue(service)!, parseResult.GetValue(ns)!, pem,
                    parseResult.GetValue(path)!, parseResult.GetValue(port), policy, parseResult.GetValue(timeout));
                List<string> problems = WebhookConfigGenerator.Validate(options);
                if (WebhookConfigGenerator.ValidateCaBundle(pem, ca.FullName) is { } caProblem)
                {
                    problems.Add(caProblem);
                }

                if (problems.Count > 0)
                {
                    foreach (string problem in problems)
                    {
                        stderr.WriteLine($"belizemesh-injector: {problem}");
                    }

                    return 1;
                }

                stdout.Write(YamlWriter.ToYaml([WebhookConfigGenerator.Generate(options)], YamlListLayout.Kubectl));
                return 0;
            }
            catch (ConfigException e)
            {
                stderr.WriteLine($"belizemesh-injector: invalid configuration:{Environment.NewLine}{e.Message}");
                return 1;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                stderr.WriteLine($"belizemesh-injector: cannot read --ca-bundle {ca.FullName}: {e.Message}");
                return 1;
            }
        });
        return command;
    }

    private static Option<FileInfo?> ExclusionsOption() => new("--exclusions")
    {
        Description = "belizemesh emit's exclusion list (exclusions.yaml of ConfigMap belizemesh-injector-exclusions): pods of quantum: false services are left alone; a missing file means none",
    };

    private static InjectorConfig LoadConfig(FileInfo? file) =>
        file is null ? InjectorConfig.Default : InjectorConfigLoader.LoadFile(file.FullName);

    /// <summary>Parses <c>ADDR:PORT</c> (<c>0.0.0.0:8443</c>, <c>[::]:8443</c>, <c>localhost:8443</c>).</summary>
    internal static bool TryParseEndpoint(string text, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out IPEndPoint? endpoint, out string? error)
    {
        endpoint = null;
        error = $"--listen '{text}' is not ADDR:PORT: use e.g. 0.0.0.0:8443, 127.0.0.1:9443 or [::]:8443";
        int colon = text.LastIndexOf(':');
        if (colon <= 0 || colon == text.Length - 1)
        {
            return false;
        }

        string host = text[..colon];
        if (!int.TryParse(text.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out int port) || port > 65535)
        {
            return false;
        }

        if (host == "localhost")
        {
            endpoint = new IPEndPoint(IPAddress.Loopback, port);
        }
        else if (IPAddress.TryParse(host.Trim('[', ']'), out IPAddress? address)
                 && (address.AddressFamily != System.Net.Sockets.AddressFamily.InterNetworkV6 || host.StartsWith('[')))
        {
            endpoint = new IPEndPoint(address, port);
        }
        else
        {
            return false;
        }

        error = null;
        return true;
    }
}
