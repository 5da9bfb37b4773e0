using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using BelizeMesh.Injector.Configuration;
using BelizeMesh.Injector.Kubernetes;

namespace BelizeMesh.Injector.WebhookConfiguration;

/// <summary>What <c>webhook-config</c> was asked for.</summary>
internal sealed record WebhookConfigOptions(
    string Service,
    string Namespace,
    byte[] CaBundlePem,
    string Path = "/inject",
    int Port = 443,
    FailurePolicy FailurePolicy = FailurePolicy.Fail,
    int TimeoutSeconds = 10);

/// <summary>
/// Builds the <c>admissionregistration.k8s.io/v1</c> MutatingWebhookConfiguration that sends pod creations to the
/// injector.
/// </summary>
/// <remarks>
/// Two webhooks, as Istio does: <c>namespace.inject.belizemesh.io</c> serves namespaces labelled
/// <c>belizemesh-injection: enabled</c> except pods labelled <c>belizemesh.io/inject: "false"</c>;
/// <c>object.inject.belizemesh.io</c> serves pods labelled <c>belizemesh.io/inject: "true"</c> in namespaces without
/// the label (never the system namespaces), so a single pod can opt in. Both use <c>reinvocationPolicy: IfNeeded</c>
/// so the sidecar composes with Istio's injector in either order, and <c>sideEffects: None</c> (dry runs are safe).
/// </remarks>
internal static partial class WebhookConfigGenerator
{
    public const string ConfigurationName = "belizemesh-injector";

    /// <summary>Checks the options; returns every problem, each saying how to fix it.</summary>
    public static List<string> Validate(WebhookConfigOptions options)
    {
        var problems = new List<string>();
        if (!DnsLabel().IsMatch(options.Service))
        {
            problems.Add($"--service '{options.Service}' is not a Service name: use lower-case letters, digits and '-', starting with a letter (at most 63)");
        }

        if (!DnsLabel().IsMatch(options.Namespace) && !(options.Namespace.Length <= 63 && DnsLabelDigitStart().IsMatch(options.Namespace)))
        {
            problems.Add($"--namespace '{options.Namespace}' is not a namespace name: use lower-case letters, digits and '-' (at most 63)");
        }

        if (!options.Path.StartsWith('/') || options.Path.Any(char.IsWhiteSpace))
        {
            problems.Add($"--path '{options.Path}' must be an absolute URL path such as /inject");
        }

        if (options.Port is < 1 or > 65535)
        {
            problems.Add($"--port {options.Port} is not a TCP port: use 1-65535 (443 by default)");
        }

        if (options.TimeoutSeconds is < 1 or > 30)
        {
            problems.Add($"--timeout-seconds {options.TimeoutSeconds} is out of range: Kubernetes accepts 1 to 30");
        }

        return problems;
    }

    /// <summary>Checks that <paramref name="pem"/> holds at least one PEM certificate; returns the problem or null.</summary>
    public static string? ValidateCaBundle(byte[] pem, string file)
    {
        string text = System.Text.Encoding.ASCII.GetString(pem);
        if (!text.Contains("-----BEGIN CERTIFICATE-----", StringComparison.Ordinal))
        {
            return $"--ca-bundle {file}: no PEM certificate found (expected '-----BEGIN CERTIFICATE-----'); pass the CA that signed the injector's serving certificate";
        }

        try
        {
            var certificates = new X509Certificate2Collection();
            certificates.ImportFromPem(text);
            if (certificates.Count == 0)
            {
                return $"--ca-bundle {file}: no PEM certificate found; pass the CA that signed the injector's serving certificate";
            }

            foreach (X509Certificate2 certificate in certificates)
            {
                certificate.Dispose();
            }
        }
        catch (CryptographicException e)
        {
            return $"--ca-bundle {file}: the PEM certificate cannot be read ({e.Message}); pass a valid PEM CA certificate";
        }

        return null;
    }

    /// <summary>The MutatingWebhookConfiguration as a JSON tree (written as YAML by the command).</summary>
    public static JsonObject Generate(WebhookConfigOptions options)
    {
        string caBundle = Convert.ToBase64String(options.CaBundlePem);
        return new JsonObject
        {
            ["apiVersion"] = "admissionregistration.k8s.io/v1",
            ["kind"] = "MutatingWebhookConfiguration",
            ["metadata"] = new JsonObject
            {
                ["name"] = ConfigurationName,
                ["labels"] = new JsonObject
                {
                    ["app.kubernetes.io/name"] = "belizemesh-injector",
                    [WellKnown.ManagedByLabel] = WellKnown.ManagedByValue,
                },
            },
            ["webhooks"] = new JsonArray(
                Webhook(options, caBundle, "namespace.inject.belizemesh.io",
                    namespaceSelector: new JsonObject
                    {
                        ["matchLabels"] = new JsonObject { [WellKnown.NamespaceLabel] = "enabled" },
                    },
                    objectSelector: new JsonObject
                    {
                        ["matchExpressions"] = new JsonArray(Expression(WellKnown.InjectAnnotation, "NotIn", "false")),
                    }),
                Webhook(options, caBundle, "object.inject.belizemesh.io",
                    namespaceSelector: new JsonObject
                    {
                        ["matchExpressions"] = new JsonArray(
                            Expression(WellKnown.NamespaceLabel, "DoesNotExist"),
                            Expression("kubernetes.io/metadata.name", "NotIn", "kube-system", "kube-public")),
                    },
                    objectSelector: new JsonObject
                    {
                        ["matchLabels"] = new JsonObject { [WellKnown.InjectAnnotation] = "true" },
                    })),
        };
    }

    private static JsonObject Webhook(WebhookConfigOptions options, string caBundle, string name, JsonObject namespaceSelector, JsonObject objectSelector) => new()
    {
        ["name"] = name,
        ["admissionReviewVersions"] = new JsonArray("v1"),
        ["sideEffects"] = "None",
        ["reinvocationPolicy"] = "IfNeeded",
        ["timeoutSeconds"] = options.TimeoutSeconds,
        ["failurePolicy"] = options.FailurePolicy == FailurePolicy.Fail ? "Fail" : "Ignore",
        ["matchPolicy"] = "Equivalent",
        ["clientConfig"] = new JsonObject
        {
            ["service"] = new JsonObject
            {
                ["name"] = options.Service,
                ["namespace"] = options.Namespace,
                ["path"] = options.Path,
                ["port"] = options.Port,
            },
            ["caBundle"] = caBundle,
        },
        ["rules"] = new JsonArray(new JsonObject
        {
            ["operations"] = new JsonArray("CREATE"),
            ["apiGroups"] = new JsonArray(""),
            ["apiVersions"] = new JsonArray("v1"),
            ["resources"] = new JsonArray("pods"),
            ["scope"] = "Namespaced",
        }),
        ["namespaceSelector"] = namespaceSelector,
        ["objectSelector"] = objectSelector,
    };

    private static JsonObject Expression(string key, string op, params string[] values)
    {
        var expression = new JsonObject { ["key"] = key, ["operator"] = op };
        if (values.Length > 0)
        {
            var list = new JsonArray();
            foreach (string value in values)
            {
                list.Add((JsonNode)value);
            }

            expression["values"] = list;
        }

        return expression;
    }

    [GeneratedRegex("^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")]
    private static partial Regex DnsLabel();

    [GeneratedRegex("^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")]
    private static partial Regex DnsLabelDigitStart();
}
