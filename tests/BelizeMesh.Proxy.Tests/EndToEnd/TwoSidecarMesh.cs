using System.Net;
using BelizeMesh.Identity;
using BelizeMesh.Proxy.Metrics;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Logging;

namespace BelizeMesh.Proxy.Tests.EndToEnd;

/// <summary>
/// Two sidecars joined by the PQ channel, every listener on an ephemeral 127.0.0.1 port: a client → pakit's outbound
/// (STRICT, routes to nawal's inbound that expect nawal's identity) → PQ channel → nawal's inbound (STRICT unless the
/// test says otherwise) → the app. Each sidecar presents its certificate from <see cref="TestMesh"/>. Built with
/// <see cref="Create"/>; disposing it stops pakit, then nawal, then what it was given to own (last given first).
/// </summary>
internal sealed class TwoSidecarMesh : IAsyncDisposable
{
    public const string NawalIdentity = "spiffe://cluster.local/ns/belizechain/sa/nawal";
    public const string PakitIdentity = "spiffe://cluster.local/ns/belizechain/sa/pakit";

    private readonly IAsyncDisposable[] _owned;

    private TwoSidecarMesh(Sidecar nawal, Sidecar pakit, IAsyncDisposable[] owned)
    {
        Nawal = nawal;
        Pakit = pakit;
        _owned = owned;
    }

    /// <summary>The server side: its inbound listener forwards to the app.</summary>
    public Sidecar Nawal { get; }

    /// <summary>The client side: an app's requests go to its outbound listener (<see cref="Sidecar.CreateOutboundClient"/>).</summary>
    public Sidecar Pakit { get; }

    public static Builder Create() => new();

    /// <summary>An inbound policy in <paramref name="mode"/> (STRICT, PERMISSIVE) in front of <paramref name="appUrl"/>.</summary>
    public static string InboundPolicy(string appUrl, string mode = "STRICT", string inboundExtra = "")
        => Sidecar.Policy(appUrl, inboundExtra: inboundExtra).Replace("mode: DISABLE", $"mode: {mode}", StringComparison.Ordinal);

    /// <summary>An outbound STRICT policy with <paramref name="routes"/>; <paramref name="outboundExtra"/> goes under
    /// <c>outbound:</c> after the mode (each line indented four spaces and ended by a newline).</summary>
    public static string OutboundPolicy(string routes, string outboundExtra = "")
        => Sidecar.Policy("http://127.0.0.1:1", outboundRoutes: routes)
            .Replace("  outbound:\n", "  outbound:\n    mode: STRICT\n" + outboundExtra, StringComparison.Ordinal);

    /// <summary>A route to <paramref name="endpoint"/> over the PQ channel; <paramref name="extra"/> holds more keys
    /// of the route, one a line, without indentation.</summary>
    public static string PqRoute(string host, string endpoint, string identity = NawalIdentity, string extra = "")
        => Sidecar.Route(host, $"\"{endpoint}\"", $"        identity: {identity}" + Indent(extra));

    private static string Indent(string lines)
        => lines.Length == 0 ? "" : "\n        " + lines.Replace("\n", "\n        ", StringComparison.Ordinal);

    public async ValueTask DisposeAsync()
    {
        await Pakit.DisposeAsync();
        await Nawal.DisposeAsync();
        for (int i = _owned.Length - 1; i >= 0; i--)
        {
            await _owned[i].DisposeAsync();
        }
    }

    /// <summary>What differs between the tests: nawal's inbound, pakit's routes and outbound, logging.</summary>
    public sealed class Builder
    {
        private readonly List<(string Host, string Identity, string Extra, string? Endpoint)> _routes = [];
        private string _mode = "STRICT";
        private string _inboundExtra = "";
        private string _outboundExtra = "";
        private bool _watch = true;
        private ILoggerProvider? _logs;
        private (Stream Output, Action<string> Observer, ILoggerProvider Logging)? _nawalAccessLog;
        private WorkloadMetadata? _nawalWorkload;
        private WorkloadMetadata? _pakitWorkload;

        internal Builder()
        {
        }

        /// <summary>nawal's inbound mode (STRICT by default) and the YAML added under <c>inbound:</c> (indented four spaces).</summary>
        public Builder Inbound(string mode = "STRICT", string extra = "")
        {
            _mode = mode;
            _inboundExtra = extra;
            return this;
        }

        /// <summary>A route of pakit's to nawal's inbound listener (or to <paramref name="endpoint"/>), expecting
        /// <paramref name="identity"/>. Without any, pakit has one route: <c>nawal.test</c>, expecting nawal.</summary>
        public Builder Route(string host, string extra = "", string identity = NawalIdentity, string? endpoint = null)
        {
            _routes.Add((host, identity, extra, endpoint));
            return this;
        }

        /// <summary>YAML added under pakit's <c>outbound:</c> after <c>mode: STRICT</c>.</summary>
        public Builder Outbound(string extra)
        {
            _outboundExtra = extra;
            return this;
        }

        /// <summary>Neither sidecar watches its policy file.</summary>
        public Builder WithoutPolicyWatch()
        {
            _watch = false;
            return this;
        }

        /// <summary>A logger provider both sidecars log to.</summary>
        public Builder Logs(ILoggerProvider logs)
        {
            _logs = logs;
            return this;
        }

        /// <summary>Turns nawal's access log on, written to <paramref name="output"/>.</summary>
        public Builder NawalAccessLog(Stream output)
        {
            _nawalAccessLog = (output, _ => { }, NoLogs.Instance);
            return this;
        }

        /// <summary>The workload each sidecar reports in its Istio metrics.</summary>
        public Builder Workloads(WorkloadMetadata nawal, WorkloadMetadata pakit)
        {
            _nawalWorkload = nawal;
            _pakitWorkload = pakit;
            return this;
        }

        /// <summary>Starts nawal in front of <paramref name="appUrl"/>, then pakit; the mesh disposes <paramref name="owned"/>
        /// after the sidecars (the app behind nawal, for one). If a sidecar fails to start, what started is disposed.</summary>
        public async Task<TwoSidecarMesh> StartAsync(string appUrl, params IAsyncDisposable[] owned)
        {
            TestMesh mesh = TestMesh.Instance;
            string inbound = InboundPolicy(appUrl, _mode, _inboundExtra);
            if (_nawalAccessLog is not null)
            {
                inbound = inbound.Replace("accessLog: false", "accessLog: true", StringComparison.Ordinal);
            }

            var started = new List<IAsyncDisposable>(owned);
            try
            {
                Sidecar nawal = await Sidecar.StartAsync(inbound, watch: _watch, certs: mesh.NawalCerts, logs: _logs, workload: _nawalWorkload, accessLog: _nawalAccessLog);
                started.Add(nawal);
                List<(string Host, string Identity, string Extra, string? Endpoint)> routeList = _routes.Count == 0 ? [("nawal.test", NawalIdentity, "", null)] : _routes;
                string routes = "";
                foreach ((string host, string identity, string extra, string? endpoint) in routeList)
                {
                    routes += PqRoute(host, endpoint ?? nawal.InboundEndpoint, identity, extra);
                }

                Sidecar pakit = await Sidecar.StartAsync(OutboundPolicy(routes, _outboundExtra), watch: _watch, certs: mesh.PakitCerts, logs: _logs, workload: _pakitWorkload);
                return new TwoSidecarMesh(nawal, pakit, owned);
            }
            catch
            {
                for (int i = started.Count - 1; i >= 0; i--)
                {
                    await started[i].DisposeAsync();
                }

                throw;
            }
        }
    }
}

/// <summary>Mesh certificates for two services, issued once per run and written as mounted Secrets would be.</summary>
internal sealed class TestMesh
{
    private static readonly Lazy<TestMesh> s_instance = new(() => new TestMesh());

    private TestMesh()
    {
        using CertificateAuthority ca = CertificateAuthority.CreateRoot();
        Root = Directory.CreateTempSubdirectory("belizemesh-proxy-pki-").FullName;
        NawalCerts = Write(ca, "nawal");
        PakitCerts = Write(ca, "pakit");
    }

    public static TestMesh Instance => s_instance.Value;

    public string Root { get; }

    public string NawalCerts { get; }

    public string PakitCerts { get; }

    private string Write(CertificateAuthority ca, string service)
    {
        string dir = Path.Combine(Root, service);
        Directory.CreateDirectory(dir);
        using IssuedCertificate issued = ca.Issue(new ServiceCertificateRequest { Service = service, Namespace = "belizechain" });
        File.WriteAllText(Path.Combine(dir, "tls.crt"), issued.CertificatePem);
        File.WriteAllText(Path.Combine(dir, "tls.key"), issued.ExportPrivateKeyPem());
        File.WriteAllText(Path.Combine(dir, "ca.crt"), ca.Certificate.ToPem());
        return dir;
    }
}

/// <summary>An app of the test's own: Kestrel on an ephemeral 127.0.0.1 port, every request to <c>handler</c>.</summary>
internal static class LoopbackApp
{
    public static async Task<WebApplication> StartAsync(HttpProtocols protocols, RequestDelegate handler)
    {
        WebApplicationBuilder builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0, l => l.Protocols = protocols));
        WebApplication app = builder.Build();
        app.Run(handler);
        await app.StartAsync();
        return app;
    }
}

internal static class SidecarMetrics
{
    /// <summary>PQ channel handshakes <paramref name="sidecar"/> completed as the server, from its /metrics (0 before the first).</summary>
    public static async Task<int> ServerHandshakesAsync(this Sidecar sidecar)
    {
        using HttpClient admin = sidecar.CreateAdminClient();
        string metrics = await admin.GetStringAsync("/metrics");
        System.Text.RegularExpressions.Match match = System.Text.RegularExpressions.Regex.Match(
            metrics, "belizemesh_channel_handshakes_total\\{[^}]*result=\"success\"[^}]*side=\"server\"[^}]*\\} (\\d+)\n");
        return match.Success ? int.Parse(match.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture) : 0;
    }
}
