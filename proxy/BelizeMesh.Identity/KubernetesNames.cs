namespace BelizeMesh.Identity;

/// <summary>Kubernetes name rules used for namespaces, services and service accounts.</summary>
public static class KubernetesNames
{
    /// <summary>The rule in words, for error messages.</summary>
    public const string LabelRule = "a DNS label (RFC 1123): 1-63 characters, lower-case letters, digits and '-', starting and ending with a letter or digit";

    /// <summary>The rule in words, for error messages.</summary>
    public const string SubdomainRule = "a DNS subdomain (RFC 1123): at most 253 characters, dot-separated DNS labels of lower-case letters, digits and '-'";

    /// <summary>True for an RFC 1123 label (namespaces, services).</summary>
    public static bool IsDnsLabel(string? value)
    {
        if (string.IsNullOrEmpty(value) || value.Length > 63 || value[0] == '-' || value[^1] == '-')
        {
            return false;
        }

        foreach (char c in value)
        {
            if (!(c is (>= 'a' and <= 'z') or (>= '0' and <= '9') or '-'))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>True for an RFC 1123 subdomain (service accounts, Secret names).</summary>
    public static bool IsDnsSubdomain(string? value)
    {
        if (string.IsNullOrEmpty(value) || value.Length > 253)
        {
            return false;
        }

        foreach (string label in value.Split('.'))
        {
            if (!IsDnsLabel(label))
            {
                return false;
            }
        }

        return true;
    }
}
