using BelizeMesh.Configuration;
using BelizeMesh.Proxy.Policy.Authentication;

namespace BelizeMesh.Proxy.Configuration;

public static partial class PolicyParser
{
    private sealed partial class Reader
    {
        /// <summary><c>spec.inbound.jwtRules</c>: Istio RequestAuthentication jwtRules the sidecar can enforce itself.</summary>
        private IReadOnlyList<JwtRuleSpec> ReadJwtRules(YamlMap inbound)
        {
            var rules = new List<JwtRuleSpec>();
            var issuers = new HashSet<string>(StringComparer.Ordinal);
            foreach (YamlMap f in inbound.MapList("jwtRules", "JWT rule"))
            {
                string? issuer = f.String("issuer", required: true, hint: "the token issuer exactly as its 'iss' claim, e.g. https://auth.example.com");
                if (issuer is not null && !issuers.Add(issuer))
                {
                    f.Error("issuer", $"\"{issuer}\" already has a rule; one rule per issuer (list all its audiences in it)");
                }

                IReadOnlyList<string> audiences = Strings(f, "audiences") ?? [];

                string? jwks = f.String("jwks", hint: "the JWKS JSON");
                string? jwksFile = f.String("jwksFile", hint: "an absolute path to a mounted JWKS file");
                string? jwksUriText = f.String("jwksUri", hint: "an http(s) URL of the JWKS");
                Uri? jwksUri = jwksUriText is null ? null : JwksUri(f, jwksUriText);
                int sources = (jwks is null ? 0 : 1) + (jwksFile is null ? 0 : 1) + (jwksUriText is null ? 0 : 1);
                if (sources != 1)
                {
                    const string Rule = "give exactly one of jwks (the JWKS JSON inline), jwksFile (an absolute path to a mounted JWKS file) or jwksUri (an http(s) URL the sidecar fetches the JWKS from)";
                    if (sources == 0)
                    {
                        f.Error(Rule);
                    }
                    else
                    {
                        ctx.Error(f.PositionOf(jwksUriText is not null ? "jwksUri" : "jwksFile"), f.Path, Rule);
                    }
                }

                if (jwks is not null && jwksFile is null)
                {
                    if (JsonWebKeySet.TryParse(System.Text.Encoding.UTF8.GetBytes(jwks), out string? jwksError) is null)
                    {
                        f.Error("jwks", jwksError!);
                    }
                }

                if (jwksFile is not null && !Path.IsPathFullyQualified(jwksFile))
                {
                    f.Error("jwksFile", $"\"{jwksFile}\" is not an absolute path; write where the JWKS is mounted, e.g. /etc/belizemesh/jwks/auth.json");
                }

                var headers = new List<JwtHeaderSpec>();
                foreach (YamlMap hf in f.MapList("fromHeaders", "header"))
                {
                    string? name = hf.String("name", required: true, hint: "a header name, e.g. Authorization");
                    if (name is not null && !IsHeaderName(name))
                    {
                        hf.Error("name", $"\"{name}\" is not a valid header name");
                        name = null;
                    }

                    string prefix = hf.Raw("prefix") is { } prefixNode ? hf.ScalarText(prefixNode, hf.PathOf("prefix"), "a string, e.g. \"Bearer \"") ?? "" : "";
                    hf.Finish();
                    if (name is not null)
                    {
                        headers.Add(new JwtHeaderSpec(name, prefix));
                    }
                }

                IReadOnlyList<string> parameters = Strings(f, "fromParams") ?? [];
                bool forward = f.Bool("forwardOriginalToken") ?? false;
                f.Finish();
                if (issuer is not null)
                {
                    rules.Add(new JwtRuleSpec(issuer, audiences, jwks, jwksFile, headers, parameters, forward) { JwksUri = jwksUri });
                }
            }

            return rules;
        }

        /// <summary>An absolute http(s) URL with a host, without credentials (they would be logged) or a fragment.</summary>
        private static Uri? JwksUri(YamlMap f, string text)
        {
            if (!Uri.TryCreate(text, UriKind.Absolute, out Uri? uri) || (uri.Scheme != Uri.UriSchemeHttps && uri.Scheme != Uri.UriSchemeHttp) || uri.Host.Length == 0)
            {
                f.Error("jwksUri", $"\"{text}\" is not an http(s) URL; write the issuer's key set URL, e.g. https://auth.example.com/.well-known/jwks.json");
                return null;
            }

            if (uri.UserInfo.Length > 0 || uri.Fragment.Length > 0)
            {
                f.Error("jwksUri", $"\"{text}\" has {(uri.UserInfo.Length > 0 ? "credentials (user:password@)" : "a fragment (#...)")}, which a key set URL does not take; remove it");
                return null;
            }

            return uri;
        }
    }
}
