using System.Diagnostics.CodeAnalysis;
using BelizeMesh.Configuration;
using BelizeMesh.Proxy.Policy.Authentication;
using YamlDotNet.RepresentationModel;

namespace BelizeMesh.Proxy.Configuration;

public static partial class PolicyParser
{
    private sealed partial class Reader
    {
        private static readonly string[] s_jwtRuleFields = ["issuer", "audiences", "jwks", "jwksFile", "jwksUri", "fromHeaders", "fromParams", "forwardOriginalToken"];
        private static readonly string[] s_jwtHeaderFields = ["name", "prefix"];

        /// <summary><c>spec.inbound.jwtRules</c>: Istio RequestAuthentication jwtRules the sidecar can enforce itself.</summary>
        private IReadOnlyList<JwtRuleSpec> ReadJwtRules(Fields parent, string listPath)
        {
            var rules = new List<JwtRuleSpec>();
            if (!OptionalSequence(parent, "jwtRules", listPath, out YamlSequenceNode? seq))
            {
                return rules;
            }

            var issuers = new HashSet<string>(StringComparer.Ordinal);
            for (int i = 0; i < seq.Children.Count; i++)
            {
                string path = $"{listPath}[{i}]";
                if (!Mapping(seq.Children[i], path, out YamlMappingNode? node))
                {
                    continue;
                }

                Fields f = CheckFields(node, path, s_jwtRuleFields);
                string? issuer = RequiredString(f, node, path, "issuer");
                if (issuer is not null && issuer.Length == 0)
                {
                    Error(f.Value("issuer")!, $"{path}.issuer: empty; write the token issuer exactly as its 'iss' claim, e.g. https://auth.example.com");
                    issuer = null;
                }
                else if (issuer is not null && !issuers.Add(issuer))
                {
                    Error(f.Value("issuer")!, $"{path}.issuer: '{issuer}' already has a rule; one rule per issuer (list all its audiences in it)");
                }

                IReadOnlyList<string> audiences = Strings(f, "audiences", path + ".audiences") ?? [];

                string? jwks = OptionalString(f, path + ".jwks");
                string? jwksFile = OptionalString(f, path + ".jwksFile");
                string? jwksUriText = OptionalString(f, path + ".jwksUri");
                Uri? jwksUri = jwksUriText is null ? null : JwksUri(f.Value("jwksUri")!, path + ".jwksUri", jwksUriText);
                int sources = (jwks is null ? 0 : 1) + (jwksFile is null ? 0 : 1) + (jwksUriText is null ? 0 : 1);
                if (sources != 1)
                {
                    YamlNode at = sources == 0 ? node : f.Value(jwksUriText is not null ? "jwksUri" : "jwksFile")!;
                    Error(at, $"{path}: give exactly one of jwks (the JWKS JSON inline), jwksFile (an absolute path to a mounted JWKS file) or jwksUri (an http(s) URL the sidecar fetches the JWKS from)");
                }

                if (jwks is not null && jwksFile is null)
                {
                    if (JsonWebKeySet.TryParse(System.Text.Encoding.UTF8.GetBytes(jwks), out string? jwksError) is null)
                    {
                        Error(f.Value("jwks")!, $"{path}.jwks: {jwksError}");
                    }
                }

                if (jwksFile is not null && (jwksFile.Length == 0 || !Path.IsPathFullyQualified(jwksFile)))
                {
                    Error(f.Value("jwksFile")!, $"{path}.jwksFile: '{jwksFile}' is not an absolute path; write where the JWKS is mounted, e.g. /etc/belizemesh/jwks/auth.json");
                }

                var headers = new List<JwtHeaderSpec>();
                if (OptionalSequence(f, "fromHeaders", path + ".fromHeaders", out YamlSequenceNode? headerSeq))
                {
                    for (int h = 0; h < headerSeq.Children.Count; h++)
                    {
                        string hp = $"{path}.fromHeaders[{h}]";
                        if (!Mapping(headerSeq.Children[h], hp, out YamlMappingNode? headerNode))
                        {
                            continue;
                        }

                        Fields hf = CheckFields(headerNode, hp, s_jwtHeaderFields);
                        string? name = RequiredString(hf, headerNode, hp, "name");
                        if (name is not null && !IsHeaderName(name))
                        {
                            Error(hf.Value("name")!, $"{hp}.name: '{name}' is not a valid header name");
                            name = null;
                        }

                        string prefix = OptionalString(hf, hp + ".prefix") ?? "";
                        if (name is not null)
                        {
                            headers.Add(new JwtHeaderSpec(name, prefix));
                        }
                    }
                }

                IReadOnlyList<string> parameters = Strings(f, "fromParams", path + ".fromParams") ?? [];
                bool forward = OptionalBool(f, "forwardOriginalToken", path + ".forwardOriginalToken") ?? false;
                if (issuer is not null)
                {
                    rules.Add(new JwtRuleSpec(issuer, audiences, jwks, jwksFile, headers, parameters, forward) { JwksUri = jwksUri });
                }
            }

            return rules;
        }

        /// <summary>An absolute http(s) URL with a host, without credentials (they would be logged) or a fragment.</summary>
        private Uri? JwksUri(YamlNode node, string path, string text)
        {
            if (!Uri.TryCreate(text, UriKind.Absolute, out Uri? uri) || (uri.Scheme != Uri.UriSchemeHttps && uri.Scheme != Uri.UriSchemeHttp) || uri.Host.Length == 0)
            {
                Error(node, $"{path}: '{text}' is not an http(s) URL; write the issuer's key set URL, e.g. https://auth.example.com/.well-known/jwks.json");
                return null;
            }

            if (uri.UserInfo.Length > 0 || uri.Fragment.Length > 0)
            {
                Error(node, $"{path}: '{text}' has {(uri.UserInfo.Length > 0 ? "credentials (user:password@)" : "a fragment (#...)")}, which a key set URL does not take; remove it");
                return null;
            }

            return uri;
        }

        private IReadOnlyList<string>? Strings(Fields f, string name, string path) => Items(f, name, path, (YamlNode item, string at, [NotNullWhen(true)] out string? value) =>
        {
            if (!Scalar(item, at, "a string", out value))
            {
                return false;
            }

            if (value.Length == 0)
            {
                Error(item, $"{at}: empty; remove it or write a value");
                return false;
            }

            return true;
        });
    }
}
