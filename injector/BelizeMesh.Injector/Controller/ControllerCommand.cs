using System.CommandLine;
using System.Net;
using k8s.Exceptions;

namespace BelizeMesh.Injector.Controller;

/// <summary><c>belizemesh-injector controller</c>: the command line of the certificate controller.</summary>
internal static class ControllerCommand
{
    public static Command Create(TextWriter stderr)
    {
        var defaults = new ControllerOptions();
        string defaultNamespace = Environment.GetEnvironmentVariable("POD_NAMESPACE") is { Length: > 0 } podNamespace ? podNamespace : defaults.RootSecretNamespace;
        string defaultIdentity = Environment.GetEnvironmentVariable("POD_NAME") is { Length: > 0 } podName ? podName : Environment.MachineName;
        var kubeconfig = new Option<FileInfo?>("--kubeconfig") { Description = "kubeconfig file (default: the in-cluster service account)" };
        var listen = new Option<string>("--listen") { Description = "ADDR:PORT of the plain-HTTP /metrics, /healthz and /readyz listener", DefaultValueFactory = _ => "0.0.0.0:9090" };
        var rootSecret = new Option<string>("--root-secret") { Description = "Secret holding the mesh root (ca.crt, ca.key, optional extra-roots.crt)", DefaultValueFactory = _ => defaults.RootSecretName };
        var rootNamespace = new Option<string>("--root-secret-namespace") { Description = "Namespace of the root Secret (default: $POD_NAMESPACE, else belizemesh-system)", DefaultValueFactory = _ => defaultNamespace };
        var trustDomain = new Option<string>("--trust-domain") { Description = "SPIFFE trust domain of the issued identities", DefaultValueFactory = _ => defaults.TrustDomain };
        var validity = new Option<string>("--cert-validity") { Description = "Lifetime of an issued certificate: N followed by s, m, h or d", DefaultValueFactory = _ => "90d" };
        var renewBefore = new Option<string>("--renew-before") { Description = "Renew this long before expiry (shorter than --cert-validity)", DefaultValueFactory = _ => "30d" };
        var selector = new Option<string>("--namespace-selector") { Description = "KEY=VALUE label of the namespaces whose service accounts get certificates (the injector's opt-in label)", DefaultValueFactory = _ => defaults.NamespaceSelector };
        var leaseName = new Option<string>("--lease-name") { Description = "Lease used for leader election", DefaultValueFactory = _ => defaults.LeaseName };
        var leaseNamespace = new Option<string?>("--lease-namespace") { Description = "Namespace of the Lease (default: the root Secret's)" };
        var identity = new Option<string>("--identity") { Description = "This replica's holder identity in the Lease (default: $POD_NAME, else the host name)", DefaultValueFactory = _ => defaultIdentity };
        var leaseDuration = new Option<string>("--lease-duration") { Description = "How long an unrenewed Lease blocks other replicas", DefaultValueFactory = _ => "15s" };
        var renewDeadline = new Option<string>("--renew-deadline") { Description = "The leader stops writing when it could not renew for this long", DefaultValueFactory = _ => "10s" };
        var retryPeriod = new Option<string>("--retry-period") { Description = "How often the Lease is tried or renewed", DefaultValueFactory = _ => "2s" };
        var command = new Command("controller", "Run the certificate controller: keep a belizemesh-certs-<sa> Secret valid for every service account of the opted-in namespaces (leader-elected).");
        foreach (Option option in new Option[] { kubeconfig, listen, rootSecret, rootNamespace, trustDomain, validity, renewBefore, selector, leaseName, leaseNamespace, identity, leaseDuration, renewDeadline, retryPeriod })
        {
            command.Options.Add(option);
        }

        command.SetAction(async (parse, cancellationToken) =>
        {
            var problems = new List<string>();
            TimeSpan Duration(Option<string> option)
            {
                string text = parse.GetValue(option)!;
                if (ControllerOptions.TryParseDuration(text, out TimeSpan value))
                {
                    return value;
                }

                problems.Add($"{option.Name} '{text}' is not a duration: a positive whole number followed by s, m, h or d (e.g. 90d, 1h, 20m, 15s)");
                return TimeSpan.FromSeconds(1);
            }

            string root = parse.GetValue(rootNamespace)!;
            var options = new ControllerOptions
            {
                RootSecretName = parse.GetValue(rootSecret)!,
                RootSecretNamespace = root,
                TrustDomain = parse.GetValue(trustDomain)!,
                CertificateValidity = Duration(validity),
                RenewBefore = Duration(renewBefore),
                NamespaceSelector = parse.GetValue(selector)!,
                LeaseName = parse.GetValue(leaseName)!,
                LeaseNamespace = parse.GetValue(leaseNamespace) ?? root,
                Identity = parse.GetValue(identity)!,
                LeaseDuration = Duration(leaseDuration),
                RenewDeadline = Duration(renewDeadline),
                RetryPeriod = Duration(retryPeriod),
            };
            if (problems.Count == 0)
            {
                problems.AddRange(options.Validate());
            }

            IPEndPoint? endpoint = null;
            if (!Program.TryParseEndpoint(parse.GetValue(listen)!, out endpoint, out string? listenError))
            {
                problems.Add(listenError!);
            }

            if (problems.Count > 0)
            {
                foreach (string problem in problems)
                {
                    await stderr.WriteLineAsync($"belizemesh-injector controller: {problem}").ConfigureAwait(false);
                }

                return 1;
            }

            ControllerHost host;
            try
            {
                var configuration = ControllerHost.LoadClientConfiguration(parse.GetValue(kubeconfig)?.FullName);
                host = await ControllerHost.StartAsync(options, configuration, endpoint!, cancellationToken: cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is KubeConfigException or IOException or UnauthorizedAccessException or InvalidOperationException)
            {
                await stderr.WriteLineAsync($"belizemesh-injector controller: {e.Message}").ConfigureAwait(false);
                return 1;
            }

            await using (host.ConfigureAwait(false))
            {
                await host.WaitForShutdownAsync(cancellationToken).ConfigureAwait(false);
            }

            return 0;
        });
        return command;
    }
}
