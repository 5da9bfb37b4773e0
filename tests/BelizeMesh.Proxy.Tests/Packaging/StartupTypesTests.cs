using System.Diagnostics.Tracing;
using System.Text;
using System.Text.RegularExpressions;
using System.Xml.Linq;
using BelizeMesh.Proxy.Tests.EndToEnd;
using BelizeMesh.TestSupport;

namespace BelizeMesh.Proxy.Tests.Packaging;

/// <summary>
/// <c>startup.rd.xml</c> compiles into the AOT sidecar the closed generic types its DI container makes while the host
/// starts (perf/README.md, "footprint, round 9": without them NativeAOT's type loader built them at run time, 18% of a
/// start). This traces the container of a real sidecar host and checks the list still covers what it makes, so a new
/// option type or logger category does not silently bring the cost back.
/// </summary>
public sealed partial class StartupTypesTests
{
    private const string DependencyInjectionSource = "Microsoft-Extensions-DependencyInjection";
    private const string Identity = "spiffe://cluster.local/ns/belizechain/sa/startup";

    [Fact]
    public async Task Startup_rd_xml_lists_every_closed_generic_type_the_sidecar_host_makes_while_starting()
    {
        // As it ships: the PQ channel on both sides (certificates, their store's logger) and the sidecar's own JSON
        // console logging (its options and formatter types); a test logger would hide those (they were missed once).
        string policy = Sidecar.Policy("http://127.0.0.1:9", specExtra: $"  identity: {Identity}", outboundRoutes:
                Sidecar.Route("peer.test", "\"127.0.0.1:9\"", "        identity: spiffe://cluster.local/ns/belizechain/sa/peer"))
            .Replace("mode: DISABLE", "mode: STRICT", StringComparison.Ordinal)
            .Replace("  outbound:\n", "  outbound:\n    mode: STRICT\n", StringComparison.Ordinal);
        using SecretVolume certs = SecretVolume.Create(RotationPki.Instance.Issue(RotationPki.Instance.RootA, "startup"), RotationPki.Bundle(RotationPki.Instance.RootA));
        using var listener = new CallSiteListener();
        await using Sidecar sidecar = await Sidecar.StartAsync(policy, watch: false, certs: certs.Path, productionLogging: true);
        int provider = sidecar.Host.Services.GetHashCode();

        HashSet<string> made = listener.ClosedGenericImplementations(provider);
        HashSet<string> listed = ListedTypes();

        Assert.NotEmpty(made); // the trace works: the host resolves IOptions<>/ILogger<> through open generics
        Assert.Contains("Microsoft.Extensions.Options.UnnamedOptionsManager`1[Microsoft.AspNetCore.Server.Kestrel.Core.KestrelServerOptions]", made);
        Assert.Contains("Microsoft.Extensions.Options.OptionsFactory`1[Microsoft.Extensions.Logging.Console.JsonConsoleFormatterOptions]", made);
        Assert.Contains("Microsoft.Extensions.Logging.Logger`1[BelizeMesh.Proxy.Hosting.CertificateStore]", made);
        string[] missing = [.. made.Where(type => !listed.Contains(type)).Order(StringComparer.Ordinal)];
        Assert.True(missing.Length == 0, "add to proxy/BelizeMesh.Proxy/startup.rd.xml (as Name=\"Outer`1[[Argument,Assembly]]\"):\n" + string.Join("\n", missing));
    }

    /// <summary>The rd.xml's type names in the trace's form: <c>Outer`1[[Argument,Assembly]]</c> → <c>Outer`1[Argument]</c>.</summary>
    private static HashSet<string> ListedTypes()
    {
        XDocument document = XDocument.Load(RepoPaths.RepoFile("proxy", "BelizeMesh.Proxy", "startup.rd.xml"));
        return document.Descendants().Where(e => e.Name.LocalName == "Type")
            .Select(e => TraceForm((string)e.Attribute("Name")!))
            .ToHashSet(StringComparer.Ordinal);
    }

    /// <summary><c>Outer`2[[A,AssemblyA],[B,AssemblyB]]</c> → <c>Outer`2[A,B]</c>.</summary>
    private static string TraceForm(string name)
    {
        int open = name.IndexOf("[[", StringComparison.Ordinal);
        if (open < 0)
        {
            return name;
        }

        string[] arguments = [.. AssemblyQualifiedArgument().Matches(name[open..]).Select(match => match.Groups[1].Value)];
        return name[..open] + "[" + string.Join(",", arguments) + "]";
    }

    [GeneratedRegex(@"\[([^,\[\]]+),[^\[\]]+\]")]
    private static partial Regex AssemblyQualifiedArgument();

    [GeneratedRegex("\"implementationType\": \"([^\"]*`[0-9]+\\[[^\"]*\\])\"")]
    private static partial Regex GenericImplementation();

    /// <summary>The DI container's CallSiteBuilt events (a call site's JSON, in chunks), by service provider.</summary>
    private sealed class CallSiteListener : EventListener
    {
        private readonly Lock _gate = new();
        private readonly Dictionary<(int Provider, string Service), StringBuilder> _callSites = [];

        public HashSet<string> ClosedGenericImplementations(int provider)
        {
            lock (_gate)
            {
                return _callSites.Where(pair => pair.Key.Provider == provider)
                    .SelectMany(pair => GenericImplementation().Matches(pair.Value.ToString()).Select(match => match.Groups[1].Value))
                    .ToHashSet(StringComparer.Ordinal);
            }
        }

        protected override void OnEventSourceCreated(EventSource eventSource)
        {
            if (eventSource.Name == DependencyInjectionSource)
            {
                EnableEvents(eventSource, EventLevel.Verbose, EventKeywords.All);
            }
        }

        protected override void OnEventWritten(EventWrittenEventArgs eventData)
        {
            if (eventData.EventName != "CallSiteBuilt" || eventData.Payload is null || eventData.PayloadNames is null)
            {
                return;
            }

            int service = eventData.PayloadNames.IndexOf("serviceType"), callSite = eventData.PayloadNames.IndexOf("callSite"),
                provider = eventData.PayloadNames.IndexOf("serviceProviderHashCode");
            if (service < 0 || callSite < 0 || provider < 0)
            {
                return;
            }

            lock (_gate)
            {
                var key = ((int)eventData.Payload[provider]!, (string)eventData.Payload[service]!);
                if (!_callSites.TryGetValue(key, out StringBuilder? text))
                {
                    _callSites[key] = text = new StringBuilder();
                }

                text.Append((string)eventData.Payload[callSite]!); // chunks arrive in order, on the resolving thread
            }
        }
    }
}
