using System.Globalization;
using BelizeMesh.Configuration;
using BelizeMesh.Proxy.Outbound;
using YamlDotNet.RepresentationModel;

namespace BelizeMesh.Proxy.Configuration;

/// <summary>The Istio traffic semantics of outbound routes: <c>retries</c> in full and the ordered <c>http</c> rules
/// (matches, weighted destinations, per-rule retries, fault injection). docs/policy.md describes every field.</summary>
public static partial class PolicyParser
{
    /// <summary>The retry conditions by their Envoy names (<c>retry_on</c>), as Istio's <c>retryOn</c> writes them.</summary>
    internal static readonly IReadOnlyDictionary<string, RetryConditions> RetryConditionNames = new Dictionary<string, RetryConditions>(StringComparer.Ordinal)
    {
        ["5xx"] = RetryConditions.FiveXx,
        ["gateway-error"] = RetryConditions.GatewayError,
        ["connect-failure"] = RetryConditions.ConnectFailure,
        ["reset"] = RetryConditions.Reset,
        ["retriable-4xx"] = RetryConditions.Retriable4xx,
        ["refused-stream"] = RetryConditions.RefusedStream,
        ["retriable-status-codes"] = RetryConditions.RetriableStatusCodes,
        ["cancelled"] = RetryConditions.GrpcCancelled,
        ["deadline-exceeded"] = RetryConditions.GrpcDeadlineExceeded,
        ["internal"] = RetryConditions.GrpcInternal,
        ["resource-exhausted"] = RetryConditions.GrpcResourceExhausted,
        ["unavailable"] = RetryConditions.GrpcUnavailable,
    };

    private sealed partial class Reader
    {
        private static readonly TimeSpan s_minBackoff = TimeSpan.FromMilliseconds(1);

        /// <summary><c>retries</c> of a route or a rule; null when absent. The budget only exists on routes.</summary>
        private RetryPolicySpec? ReadRetries(YamlMap parent, out RetryBudgetSpec budget, bool allowBudget)
        {
            budget = RetryBudgetSpec.Default;
            if (parent.Map("retries", "a retry policy") is not { } r)
            {
                return null;
            }

            int attempts = r.Int("attempts", 0, 10, hint: "a number of attempts") ?? 0;
            TimeSpan? perTry = r.Duration("perTryTimeout");
            TimeSpan? backoff = r.Duration("backoff");
            if (backoff < s_minBackoff)
            {
                r.Error("backoff", $"{DurationText(backoff.Value)} is too short; the base interval between retries must be at least 1ms (leave 'backoff' out for Envoy's 25ms)");
                backoff = null;
            }

            RetryConditions? conditions = null;
            var codes = new List<int>();
            if (r.String("retryOn", hint: "a comma-separated list of conditions, e.g. 5xx,reset") is { } retryOn)
            {
                conditions = RetryConditions.None;
                foreach (string raw in retryOn.Split(','))
                {
                    string name = raw.Trim();
                    if (RetryConditionNames.TryGetValue(name, out RetryConditions condition))
                    {
                        conditions |= condition;
                    }
                    else if (name.Length == 3 && int.TryParse(name, NumberStyles.None, CultureInfo.InvariantCulture, out int code) && code is >= 100 and <= 599)
                    {
                        conditions |= RetryConditions.RetriableStatusCodes;
                        codes.Add(code);
                    }
                    else
                    {
                        string? suggestion = Spelling.Suggest(name, [.. RetryConditionNames.Keys]);
                        r.Error("retryOn", $"unknown condition \"{name}\"{(suggestion is null ? "" : $"; did you mean \"{suggestion}\"?")}; use Envoy's names: {string.Join(", ", RetryConditionNames.Keys)}, or a status code such as 503");
                    }
                }
            }

            if (!allowBudget)
            {
                if (r.Raw("budget") is not null)
                {
                    r.Error("budget", "the retry budget belongs to the route (spec.outbound.routes[].retries.budget), shared by its rules");
                }
            }
            else if (r.Map("budget", "a retry budget") is { } b)
            {
                double percent = b.Percentage("percent") ?? budget.Percent;
                int minConcurrency = Cap(b, "minConcurrency") ?? budget.MinConcurrency;
                budget = new RetryBudgetSpec(percent, minConcurrency);
                b.Finish();
            }

            r.Finish();
            return new RetryPolicySpec(attempts, perTry, conditions, codes) { Backoff = backoff };
        }

        private IReadOnlyList<HttpRuleSpec> ReadHttpRules(YamlMap route)
        {
            if (route.Peek("http") is YamlSequenceNode { Children.Count: 0 })
            {
                route.Error("http", "the list is empty; leave 'http' out to send everything to the route's endpoints");
            }

            var rules = new List<HttpRuleSpec>();
            var names = new HashSet<string>(StringComparer.Ordinal);
            int i = -1;
            foreach (YamlMap f in route.MapList("http", "rule"))
            {
                i = IndexOf(f.Path);
                string name = f.String("name", hint: "a rule name of a-z 0-9 - _") ?? "rule" + i.ToString(CultureInfo.InvariantCulture);
                if (!IsSimpleName(name))
                {
                    f.Error("name", $"\"{name}\" is not a valid name; use 1-63 characters of a-z 0-9 - _ (it is a metric label)");
                }
                else if (!names.Add(name))
                {
                    f.Error("name", $"\"{name}\" is already used by an earlier rule of this route");
                }

                IReadOnlyList<RequestMatchSpec> matches = ReadMatches(f);
                IReadOnlyList<DestinationSpec> destinations = ReadDestinations(f);
                TimeSpan? timeout = f.Duration("timeout");
                RetryPolicySpec? retries = ReadRetries(f, out _, allowBudget: false);
                FaultInjectionSpec? fault = ReadFault(f);
                f.Finish();
                if (destinations.Count > 0)
                {
                    rules.Add(new HttpRuleSpec(name, matches, destinations, timeout, retries, fault));
                }
            }

            return rules;
        }

        /// <summary>The index of a list item from its path (<c>…http[3]</c>).</summary>
        private static int IndexOf(string path)
        {
            int open = path.LastIndexOf('[');
            return int.Parse(path.AsSpan(open + 1, path.Length - open - 2), NumberStyles.None, CultureInfo.InvariantCulture);
        }

        private IReadOnlyList<RequestMatchSpec> ReadMatches(YamlMap rule)
        {
            var matches = new List<RequestMatchSpec>();
            foreach (YamlMap f in rule.MapList("match", "request match"))
            {
                StringMatchSpec? uri = f.Raw("uri") is { } uriNode ? ReadStringMatch(uriNode, f.PathOf("uri"), header: false) : null;
                if (uri is { Kind: StringMatchKind.Exact or StringMatchKind.Prefix } && (uri.Value.Length == 0 || uri.Value[0] != '/'))
                {
                    f.Error("uri", $"\"{uri.Value}\" must start with '/' (the path is matched without the query string)");
                }

                StringMatchSpec? method = f.Raw("method") is { } methodNode ? ReadStringMatch(methodNode, f.PathOf("method"), header: false) : null;
                var headers = new List<HeaderMatchSpec>();
                if (f.Map("headers", "header matches") is { } headerMap)
                {
                    var seen = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
                    foreach (YamlField header in headerMap.Entries())
                    {
                        if (!IsHeaderName(header.Key))
                        {
                            ctx.Error(header.KeyNode, headerMap.Path, $"\"{header.Key}\" is not a valid header name");
                            continue;
                        }

                        if (!seen.Add(header.Key))
                        {
                            ctx.Error(header.KeyNode, headerMap.PathOf(header.Key), "duplicate header (names are case-insensitive)");
                            continue;
                        }

                        if (ReadStringMatch(header.Value, headerMap.PathOf(header.Key), header: true) is { } match)
                        {
                            headers.Add(new HeaderMatchSpec(header.Key, match));
                        }
                    }

                    headerMap.Finish();
                }

                f.Finish();
                matches.Add(new RequestMatchSpec(uri, method, headers));
            }

            return matches;
        }

        /// <summary><c>{ exact | prefix | regex: … }</c> (headers also <c>present: true</c>): exactly one key.</summary>
        private StringMatchSpec? ReadStringMatch(YamlNode node, string path, bool header)
        {
            if (YamlMap.From(node, path, ctx, "a string match") is not { } f)
            {
                return null;
            }

            StringMatchSpec? result = null;
            int count = 0;
            if (f.String("exact", hint: "a string") is { } exact)
            {
                count++;
                result = new StringMatchSpec(StringMatchKind.Exact, exact);
            }

            if (f.String("prefix", hint: "a string") is { } prefix)
            {
                count++;
                result = new StringMatchSpec(StringMatchKind.Prefix, prefix);
            }

            if (f.String("regex", hint: "a regular expression") is { } regex)
            {
                count++;
                if (RouteRegex.TryGet(regex, out _, out string? regexError))
                {
                    result = new StringMatchSpec(StringMatchKind.Regex, regex);
                }
                else
                {
                    f.Error("regex", $"\"{regex}\" is not a usable regular expression: {regexError}; write an RE2-style expression (no backreferences or lookarounds), matched against the whole value");
                }
            }

            if (header && f.Raw("present") is { } presentNode)
            {
                count++;
                if (presentNode is not YamlScalarNode { Value: "true" })
                {
                    f.Error("present", "only true is allowed (leave the header out to match without it)");
                }

                result = new StringMatchSpec(StringMatchKind.Present, "");
            }

            string[] allowed = header ? ["exact", "prefix", "regex", "present"] : ["exact", "prefix", "regex"];
            // an unknown key alone is reported as such by Finish
            if (count > 1 || (count == 0 && f.Node.Children.Count == 0))
            {
                f.Error($"write exactly one of {string.Join(", ", allowed)}");
                result = null;
            }

            f.Finish();
            return count == 1 ? result : null;
        }

        private IReadOnlyList<DestinationSpec> ReadDestinations(YamlMap rule)
        {
            if (rule.Raw("destinations") is null)
            {
                rule.Missing("destinations", "list at least one destination, e.g. [{ subset: v1, weight: 100 }]");
                return [];
            }

            if (rule.Peek("destinations") is YamlSequenceNode { Children.Count: 0 })
            {
                rule.Error("destinations", "the list is empty; list at least one destination");
                return [];
            }

            int count = rule.Peek("destinations") is YamlSequenceNode seq ? seq.Children.Count : 0;
            var destinations = new List<DestinationSpec>(count);
            var subsets = new HashSet<string>(StringComparer.Ordinal);
            int total = 0;
            bool weightMissing = false;
            foreach (YamlMap f in rule.MapList("destinations", "destination"))
            {
                string? subset = f.String("subset", hint: "a subset name");
                if (subset is not null && !IsSimpleName(subset))
                {
                    f.Error("subset", $"\"{subset}\" is not a valid name; use 1-63 characters of a-z 0-9 - _");
                }

                if (!subsets.Add(subset ?? ""))
                {
                    ctx.Error(f.PositionOf("subset"), f.Path, $"subset \"{subset ?? "(none)"}\" is already a destination of this rule");
                }

                int weight = count == 1 ? 100 : 0;
                if (f.Raw("weight") is not null)
                {
                    weight = f.Int("weight", 0, 100, hint: "a weight") ?? 0;
                }
                else if (count > 1)
                {
                    weightMissing = true;
                    f.Error("weight", "required when a rule has several destinations (weights add up to 100)");
                }

                total += weight;
                List<EndpointAddress> endpoints = Endpoints(f, "nawal-v2-pq.belizechain.svc.cluster.local:16443") ?? [];
                string? identity = SpiffeIdField(f, "identity");
                (LoadBalancingPolicy Policy, string? HashHeader)? balancing = ReadLoadBalancing(f);
                int? appPort = f.Int("appPort", 1, 65535, hint: "a port number (the peer's app port, one of its spec.inbound.apps)");
                f.Finish();
                destinations.Add(new DestinationSpec(subset, weight, endpoints, identity, balancing?.Policy, balancing?.HashHeader) { AppPort = appPort });
            }

            if (count > 1 && !weightMissing && total != 100)
            {
                rule.Error("destinations", $"the weights add up to {total}; they must add up to 100 (as in an Istio VirtualService)");
            }

            return destinations;
        }

        private static FaultInjectionSpec? ReadFault(YamlMap rule)
        {
            if (rule.Map("fault", "fault injection") is not { } f)
            {
                return null;
            }

            TimeSpan? delay = null;
            double delayPercent = 0;
            int? abortStatus = null;
            double abortPercent = 0;
            if (f.Map("delay", "a delay") is { } d)
            {
                delay = d.Duration("fixedDelay");
                if (d.Raw("fixedDelay") is null)
                {
                    d.Missing("fixedDelay", "e.g. 2s");
                }

                delayPercent = RequiredPercentage(d);
                d.Finish();
            }

            if (f.Map("abort", "an abort") is { } a)
            {
                abortStatus = a.Int("httpStatus", 200, 599, required: true, hint: "an HTTP status to answer with");
                abortPercent = RequiredPercentage(a);
                a.Finish();
            }

            f.Finish();
            if (delay is null && abortStatus is null)
            {
                return null;
            }

            return new FaultInjectionSpec(delay, delayPercent, abortStatus, abortPercent);
        }

        private static double RequiredPercentage(YamlMap f)
        {
            double? value = f.Percentage("percentage");
            if (f.Raw("percentage") is null)
            {
                f.Missing("percentage", "the share of requests from 0 to 100, e.g. 10");
            }

            return value ?? 0;
        }
    }
}
