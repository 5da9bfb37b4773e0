using System.Globalization;
using System.Text;

namespace BelizeMesh.Perf.Mesh;

/// <summary>
/// Generates a mesh description of <c>n</c> services for the emit benchmark (and the tests that check the benchmark
/// input is a valid, error-free mesh): 10 namespaces with default deny, one gateway, services with two ports, subsets,
/// a canary route, load balancing, pools, outlier detection, and ALLOW rules naming three callers each, so every
/// sidecar policy gets a handful of outbound routes — the shape of a real mesh, not n copies of one line.
/// </summary>
internal static class SyntheticMesh
{
    public static string Generate(int services)
    {
        var b = new StringBuilder(services * 900);
        b.Append("apiVersion: belizemesh.io/v1alpha1\nkind: Mesh\nmetadata:\n  name: synthetic\nspec:\n  mtls: STRICT\n  namespaces:\n");
        for (int ns = 0; ns < 10; ns++)
        {
            b.Append(CultureInfo.InvariantCulture, $"    - {{ name: team-{ns}, mtls: STRICT, defaultDeny: true }}\n");
        }

        b.Append("  gateways:\n    - name: edge\n      namespace: team-0\n      credentialName: edge-tls\n      httpsRedirect: true\n      hosts:\n");
        for (int i = 0; i < services; i += 10)
        {
            b.Append(CultureInfo.InvariantCulture, $"        - {{ host: svc-{i}.example.com, service: svc-{i}.team-{i % 10} }}\n");
        }

        b.Append("  services:\n");
        for (int i = 0; i < services; i++)
        {
            string ns = "team-" + (i % 10).ToString(CultureInfo.InvariantCulture);
            b.Append(CultureInfo.InvariantCulture, $"    - name: svc-{i}\n      namespace: {ns}\n");
            b.Append("      ports:\n        - { name: http, number: 8080, protocol: HTTP }\n        - { name: grpc-internal, number: 9090, protocol: GRPC }\n");
            b.Append(CultureInfo.InvariantCulture, $"      timeout: {5 + (i % 30)}s\n      retries: {{ attempts: 2, perTryTimeout: 1s, retryOn: \"5xx,reset\" }}\n");
            b.Append(i % 3 == 0
                ? "      loadBalancing: { policy: ConsistentHash, header: x-user }\n"
                : "      loadBalancing: { policy: LeastRequest }\n");
            b.Append("      connectionPool: { maxConnections: 100, http2MaxRequests: 1000, maxPendingRequests: 100, maxRequestsPerConnection: 10 }\n");
            b.Append("      outlierDetection: { consecutive5xxErrors: 5, interval: 10s, baseEjectionTime: 30s, maxEjectionPercent: 50 }\n");
            b.Append("      subsets:\n        - { name: v1, labels: { version: v1 } }\n        - { name: v2, labels: { version: v2 } }\n");
            b.Append("      routes:\n        - name: canary\n          public: true\n          match: { headers: { x-version: v2 } }\n          destinations: [{ subset: v2 }]\n");
            b.Append("        - name: main\n          public: true\n          destinations: [{ subset: v1, weight: 90 }, { subset: v2, weight: 10 }]\n");
            b.Append("      authorization:\n        allow:\n          - from: { serviceAccounts: [");
            for (int k = 1; k <= 3; k++)
            {
                int caller = (i + k * 7) % services;
                if (k > 1)
                {
                    b.Append(", ");
                }

                b.Append(CultureInfo.InvariantCulture, $"team-{caller % 10}/svc-{caller}");
            }

            b.Append("] }\n            to: { methods: [GET, POST], paths: [\"/api/*\"] }\n");
            b.Append(CultureInfo.InvariantCulture, $"      rateLimits:\n        - {{ name: api, paths: [\"/api/*\"], requestsPerSecond: {100 + i}, burst: {200 + 2 * i} }}\n");
        }

        return b.ToString();
    }
}
