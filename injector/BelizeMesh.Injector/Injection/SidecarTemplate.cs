using System.Text.Json;
using System.Text.Json.Nodes;
using BelizeMesh.Injector.Configuration;
using BelizeMesh.Injector.Kubernetes;

namespace BelizeMesh.Injector.Injection;

/// <summary>
/// The parts of the injection that depend only on the configuration, built once per configuration: the sidecar
/// container and the <c>belizemesh.io/status</c> value. Pod-specific parts (volumes named from the service account,
/// merged Istio annotations) are built per pod by <see cref="SidecarInjector"/>.
/// </summary>
internal sealed class SidecarTemplate
{
    public SidecarTemplate(InjectorConfig config)
    {
        Config = config;
        Container = BuildContainer(config);
        var status = new SidecarStatus
        {
            Version = InjectorVersion.Value,
            Image = config.Image,
            Containers = config.NativeSidecar ? [] : [WellKnown.SidecarContainerName],
            InitContainers = config.NativeSidecar ? [WellKnown.SidecarContainerName] : [],
            Volumes = [WellKnown.CertsVolumeName, WellKnown.PolicyVolumeName],
            NativeSidecar = config.NativeSidecar,
        };
        StatusJson = JsonSerializer.Serialize(status, InjectorJsonContext.Default.SidecarStatus);
        InboundExclusions = [config.Ports.Inbound.ToString(System.Globalization.CultureInfo.InvariantCulture),
            config.Ports.Admin.ToString(System.Globalization.CultureInfo.InvariantCulture),
            WellKnown.StatusPort.ToString(System.Globalization.CultureInfo.InvariantCulture)];
        OutboundExclusions = [config.Ports.Inbound.ToString(System.Globalization.CultureInfo.InvariantCulture)];
    }

    public InjectorConfig Config { get; }

    /// <summary>The container to add; clone before placing it in a document.</summary>
    public JsonObject Container { get; }

    /// <summary>Compact JSON for <c>belizemesh.io/status</c>.</summary>
    public string StatusJson { get; }

    /// <summary>Ports Envoy must not capture inbound: the PQ channel (peers reach it directly), the admin port
    /// (Prometheus reaches it in plaintext, as it does Istio's own 15020/15090) and the status port (the kubelet's
    /// readiness probe, as Istio's 15021).</summary>
    public string[] InboundExclusions { get; }

    /// <summary>Destination ports Envoy must not capture outbound: the peers' PQ channel.</summary>
    public string[] OutboundExclusions { get; }

    /// <summary>The two volumes, named from the pod's service account.</summary>
    public static JsonArray BuildVolumes(string serviceAccount) => new(
        new JsonObject
        {
            ["name"] = WellKnown.CertsVolumeName,
            ["secret"] = new JsonObject { ["secretName"] = WellKnown.CertsSecretPrefix + serviceAccount },
        },
        new JsonObject
        {
            ["name"] = WellKnown.PolicyVolumeName,
            ["configMap"] = new JsonObject { ["name"] = WellKnown.PolicyConfigMapPrefix + serviceAccount },
        });

    private static JsonObject BuildContainer(InjectorConfig config)
    {
        var container = new JsonObject
        {
            ["name"] = WellKnown.SidecarContainerName,
            ["image"] = config.Image,
            ["imagePullPolicy"] = config.ImagePullPolicy,
            ["args"] = new JsonArray("run", "--policy", WellKnown.PolicyFile, "--certs", WellKnown.CertsMountPath,
                "--status-listen", "0.0.0.0:" + WellKnown.StatusPort.ToString(System.Globalization.CultureInfo.InvariantCulture)),
            ["ports"] = new JsonArray(
                new JsonObject { ["name"] = WellKnown.InboundPortName, ["containerPort"] = config.Ports.Inbound, ["protocol"] = "TCP" },
                new JsonObject { ["name"] = WellKnown.AdminPortName, ["containerPort"] = config.Ports.Admin, ["protocol"] = "TCP" },
                new JsonObject { ["name"] = WellKnown.StatusPortName, ["containerPort"] = WellKnown.StatusPort, ["protocol"] = "TCP" }),
            ["resources"] = new JsonObject
            {
                ["requests"] = new JsonObject { ["cpu"] = config.Requests.Cpu, ["memory"] = config.Requests.Memory },
                ["limits"] = new JsonObject { ["cpu"] = config.Limits.Cpu, ["memory"] = config.Limits.Memory },
            },
            ["readinessProbe"] = new JsonObject
            {
                // The status listener, not the admin port: the policy may keep its admin listener on loopback.
                ["httpGet"] = new JsonObject { ["path"] = WellKnown.ReadinessPath, ["port"] = WellKnown.StatusPort },
                ["periodSeconds"] = 5,
                ["failureThreshold"] = 3,
            },
            ["securityContext"] = new JsonObject
            {
                ["runAsUser"] = config.RunAsUser,
                ["runAsGroup"] = config.RunAsGroup,
                ["runAsNonRoot"] = true,
                ["readOnlyRootFilesystem"] = true,
                ["allowPrivilegeEscalation"] = false,
                ["privileged"] = false,
                ["capabilities"] = new JsonObject { ["drop"] = new JsonArray("ALL") },
                ["seccompProfile"] = new JsonObject { ["type"] = "RuntimeDefault" },
            },
            ["volumeMounts"] = new JsonArray(
                new JsonObject { ["name"] = WellKnown.PolicyVolumeName, ["mountPath"] = WellKnown.PolicyMountPath, ["readOnly"] = true },
                new JsonObject { ["name"] = WellKnown.CertsVolumeName, ["mountPath"] = WellKnown.CertsMountPath, ["readOnly"] = true }),
        };

        if (config.NativeSidecar)
        {
            // A native sidecar (Kubernetes 1.29+): an init container that keeps running, started before the app
            // containers and stopped after them.
            container["restartPolicy"] = "Always";
        }

        return container;
    }
}
