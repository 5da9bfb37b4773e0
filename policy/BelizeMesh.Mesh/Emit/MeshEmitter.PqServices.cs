using BelizeMesh.Configuration;
using System.Text.Json.Nodes;
using BelizeMesh.Mesh.Model;

namespace BelizeMesh.Mesh.Emit;

public static partial class MeshEmitter
{
    /// <summary>The namespace <c>deploy/</c> installs the injector into; the injector's exclusion ConfigMap goes there.</summary>
    public const string InjectorNamespace = MeshNames.SystemNamespace;

    /// <summary>The ConfigMap the injector mounts (optionally) to learn which workloads run without the sidecar.</summary>
    public const string InjectorExclusionsName = MeshNames.InjectorExclusionsConfigMap;

    /// <summary>Its data key (the file the injector reads: <c>--exclusions DIR/exclusions.yaml</c>).</summary>
    public const string InjectorExclusionsKey = "exclusions.yaml";

    /// <summary>The resources with the injector's exclusion list moved to <paramref name="injectorNamespace"/> (an injector
    /// installed elsewhere than <see cref="InjectorNamespace"/>).</summary>
    public static IReadOnlyList<EmittedResource> MoveInjectorExclusions(IReadOnlyList<EmittedResource> resources, string injectorNamespace)
    {
        var result = new List<EmittedResource>(resources.Count);
        foreach (var r in resources)
        {
            if (r.Kind != ResourceKind.InjectorExclusions)
            {
                result.Add(r);
                continue;
            }

            var document = (JsonObject)r.Document.DeepClone();
            document["metadata"]!["namespace"] = injectorNamespace;
            result.Add(r with { Namespace = injectorNamespace, Document = document });
        }

        return result;
    }

    /// <summary>The Kubernetes <c>kind</c> of a resource kind (the injector's exclusion list is a ConfigMap).</summary>
    internal static string KindName(ResourceKind kind) => kind == ResourceKind.InjectorExclusions ? "ConfigMap" : kind.ToString();

    private sealed partial class Builder
    {
        /// <summary>
        /// The headless Services of one quantum-enabled service: <c>&lt;svc&gt;-pq</c> selecting all its pods and
        /// <c>&lt;svc&gt;-&lt;subset&gt;-pq</c> per subset (the subset's labels added). <c>clusterIP: None</c>, so their
        /// DNS names resolve to the ready pods' addresses and the caller's sidecar balances per pod; a port on the
        /// existing ClusterIP Service would let kube-proxy pick one pod per connection instead (docs/mesh.md).
        /// </summary>
        private void EmitPqServices(ServiceSpec service)
        {
            Add(ResourceKind.Service, service.Namespace, PqServiceNames.ServiceName(service), service.Position,
                HeadlessSpec(service.Labels, null));
            foreach (var subset in service.Subsets)
            {
                Add(ResourceKind.Service, service.Namespace, PqServiceNames.ServiceName(service, subset.Name), subset.Position,
                    HeadlessSpec(service.Labels, subset.Labels));
            }
        }

        private static JsonObject HeadlessSpec(IReadOnlyList<KeyValuePair<string, string>> labels, IReadOnlyList<KeyValuePair<string, string>>? extra)
        {
            var selector = Labels(labels);
            if (extra is not null)
            {
                foreach (var (key, value) in extra)
                {
                    selector[key] = value;
                }
            }

            return new JsonObject
            {
                ["clusterIP"] = "None",
                ["selector"] = selector,
                ["ports"] = new JsonArray(new JsonObject
                {
                    ["name"] = PqServiceNames.PortName,
                    ["port"] = PqServiceNames.ChannelPort,
                    ["targetPort"] = PqServiceNames.ChannelPort,
                    ["protocol"] = "TCP",
                }),
            };
        }

        /// <summary>
        /// ConfigMap <c>belizemesh-injector-exclusions</c> in the injector's namespace: one entry per <c>quantum: false</c>
        /// service (its namespace and pod labels), so the injector leaves those pods alone instead of giving them a
        /// sidecar whose policy ConfigMap does not exist. Always written, with an empty list when nothing is excluded,
        /// so applying a newer emit output also removes exclusions.
        /// </summary>
        private void EmitInjectorExclusions()
        {
            var entries = new JsonArray();
            foreach (var service in mesh.Services)
            {
                if (service.Quantum)
                {
                    continue;
                }

                entries.Push(new JsonObject
                {
                    ["namespace"] = service.Namespace,
                    ["service"] = service.Name,
                    ["matchLabels"] = Labels(service.Labels),
                });
            }

            var document = new JsonObject { ["mesh"] = mesh.Name, ["exclude"] = entries };
            var data = new JsonObject { [InjectorExclusionsKey] = YamlWriter.ToYaml(document) };
            Add(ResourceKind.InjectorExclusions, InjectorNamespace, InjectorExclusionsName, new SourcePosition(1, 1), null, data);
        }
    }
}
