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
        private static readonly string[] s_budgetFields = ["percent", "minConcurrency"];
        private static readonly string[] s_httpRuleFields = ["name", "match", "destinations", "timeout", "retries", "fault"];
        private static readonly string[] s_requestMatchFields = ["uri", "method", "headers"];
        private static readonly string[] s_stringMatchFields = ["exact", "prefix", "regex"];
        private static readonly string[] s_headerMatchFields = ["exact", "prefix", "regex", "present"];
        private static readonly string[] s_destinationFields = ["subset", "weight", "endpoints", "identity", "loadBalancing", "appPort"];
        private static readonly string[] s_faultFields = ["delay", "abort"];
        private static readonly string[] s_delayFields = ["fixedDelay", "percentage"];
        private static readonly string[] s_abortFields = ["httpStatus", "percentage"];

        /// <summary><c>retries</c> of a route or a rule; null when absent. The budget only exists on routes.</summary>
        private RetryPolicySpec? ReadRetries(Fields parent, string path, out RetryBudgetSpec budget, bool allowBudget)
        {
            budget = RetryBudgetSpec.Default;
            if (!OptionalMapping(parent, "retries", path, out YamlMappingNode? node))
            {
                return null;
            }

            Fields r = CheckFields(node, path, s_retryFields);
            int attempts = 0;
            YamlNode? attemptsNode = r.Value("attempts");
            if (attemptsNode is not null && Integer(attemptsNode, path + ".attempts", out attempts) && (attempts < 0 || attempts > 10))
            {
                Error(attemptsNode, $"{path}.attempts: {attempts} is out of range; use 0 to 10");
                attempts = 0;
            }

            TimeSpan? perTry = OptionalDuration(r, "perTryTimeout", path + ".perTryTimeout");
            RetryConditions? conditions = null;
            var codes = new List<int>();
            YamlNode? retryOnNode = r.Value("retryOn");
            if (retryOnNode is not null && Scalar(retryOnNode, path + ".retryOn", "a comma-separated list of conditions", out string? retryOn))
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
                        Error(retryOnNode, $"{path}.retryOn: unknown condition '{name}'{(suggestion is null ? "" : $" (did you mean '{suggestion}'?)")}; use Envoy's names: {string.Join(", ", RetryConditionNames.Keys)}, or a status code such as 503");
                    }
                }
            }

            if (r.Value("budget") is { } budgetNode)
            {
                if (!allowBudget)
                {
                    Error(budgetNode, $"{path}.budget: the retry budget belongs to the route (spec.outbound.routes[].retries.budget), shared by its rules");
                }
                else if (Mapping(budgetNode, path + ".budget", out YamlMappingNode? budgetMap))
                {
                    Fields b = CheckFields(budgetMap, path + ".budget", s_budgetFields);
                    double percent = OptionalPercentage(b, "percent", path + ".budget.percent") ?? budget.Percent;
                    int minConcurrency = OptionalCap(b, "minConcurrency", path + ".budget") ?? budget.MinConcurrency;
                    budget = new RetryBudgetSpec(percent, minConcurrency);
                }
            }

            return new RetryPolicySpec(attempts, perTry, conditions, codes);
        }

        /// <summary>A percentage 0-100 (decimals allowed); null when absent or invalid (reported).</summary>
        private double? OptionalPercentage(Fields f, string name, string path)
        {
            YamlNode? node = f.Value(name);
            if (node is null || !Scalar(node, path, "a number from 0 to 100", out string? text))
            {
                return null;
            }

            if (double.TryParse(text, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out double value) && value is >= 0 and <= 100)
            {
                return value;
            }

            Error(node, $"{path}: '{text}' is not a percentage; write a number from 0 to 100, e.g. 10 or 0.5");
            return null;
        }

        private IReadOnlyList<HttpRuleSpec> ReadHttpRules(Fields route, string path)
        {
            if (!OptionalSequence(route, "http", path, out YamlSequenceNode? seq))
            {
                return [];
            }

            if (seq.Children.Count == 0)
            {
                Error(seq, $"{path}: the list is empty; leave 'http' out to send everything to the route's endpoints");
            }

            var rules = new List<HttpRuleSpec>(seq.Children.Count);
            var names = new HashSet<string>(StringComparer.Ordinal);
            for (int i = 0; i < seq.Children.Count; i++)
            {
                string rulePath = $"{path}[{i}]";
                if (!Mapping(seq.Children[i], rulePath, out YamlMappingNode? node))
                {
                    continue;
                }

                Fields f = CheckFields(node, rulePath, s_httpRuleFields);
                string name = OptionalString(f, rulePath + ".name") ?? "rule" + i.ToString(CultureInfo.InvariantCulture);
                if (!IsSimpleName(name))
                {
                    Error(f.Value("name")!, $"{rulePath}.name: '{name}' is not a valid name; use 1-63 characters of a-z 0-9 - _ (it is a metric label)");
                }
                else if (!names.Add(name))
                {
                    Error(f.Value("name") ?? node, $"{rulePath}.name: '{name}' is already used by an earlier rule of this route");
                }

                IReadOnlyList<RequestMatchSpec> matches = ReadMatches(f, rulePath + ".match");
                IReadOnlyList<DestinationSpec> destinations = ReadDestinations(f, node, rulePath + ".destinations");
                TimeSpan? timeout = OptionalDuration(f, "timeout", rulePath + ".timeout");
                RetryPolicySpec? retries = ReadRetries(f, rulePath + ".retries", out _, allowBudget: false);
                FaultInjectionSpec? fault = ReadFault(f, rulePath + ".fault");
                if (destinations.Count > 0)
                {
                    rules.Add(new HttpRuleSpec(name, matches, destinations, timeout, retries, fault));
                }
            }

            return rules;
        }

        private IReadOnlyList<RequestMatchSpec> ReadMatches(Fields rule, string path)
        {
            if (!OptionalSequence(rule, "match", path, out YamlSequenceNode? seq))
            {
                return [];
            }

            var matches = new List<RequestMatchSpec>(seq.Children.Count);
            for (int i = 0; i < seq.Children.Count; i++)
            {
                string matchPath = $"{path}[{i}]";
                if (!Mapping(seq.Children[i], matchPath, out YamlMappingNode? node))
                {
                    continue;
                }

                Fields f = CheckFields(node, matchPath, s_requestMatchFields);
                StringMatchSpec? uri = f.Value("uri") is { } uriNode ? ReadStringMatch(uriNode, matchPath + ".uri", s_stringMatchFields) : null;
                if (uri is { Kind: StringMatchKind.Exact or StringMatchKind.Prefix } && (uri.Value.Length == 0 || uri.Value[0] != '/'))
                {
                    Error(f.Value("uri")!, $"{matchPath}.uri: '{uri.Value}' must start with '/' (the path is matched without the query string)");
                }

                StringMatchSpec? method = f.Value("method") is { } methodNode ? ReadStringMatch(methodNode, matchPath + ".method", s_stringMatchFields) : null;
                var headers = new List<HeaderMatchSpec>();
                if (OptionalMapping(f, "headers", matchPath + ".headers", out YamlMappingNode? headerMap))
                {
                    var seen = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
                    foreach (KeyValuePair<YamlNode, YamlNode> header in headerMap.Children)
                    {
                        string? headerName = (header.Key as YamlScalarNode)?.Value;
                        if (headerName is null || !IsHeaderName(headerName))
                        {
                            Error(header.Key, $"{matchPath}.headers: '{headerName}' is not a valid header name");
                            continue;
                        }

                        if (!seen.Add(headerName))
                        {
                            Error(header.Key, $"{matchPath}.headers.{headerName}: duplicate header (names are case-insensitive)");
                            continue;
                        }

                        if (ReadStringMatch(header.Value, $"{matchPath}.headers.{headerName}", s_headerMatchFields) is { } match)
                        {
                            headers.Add(new HeaderMatchSpec(headerName, match));
                        }
                    }
                }

                matches.Add(new RequestMatchSpec(uri, method, headers));
            }

            return matches;
        }

        /// <summary><c>{ exact | prefix | regex: … }</c> (headers also <c>present: true</c>): exactly one key.</summary>
        private StringMatchSpec? ReadStringMatch(YamlNode node, string path, string[] allowed)
        {
            if (!Mapping(node, path, out YamlMappingNode? map))
            {
                return null;
            }

            Fields f = CheckFields(map, path, allowed);
            StringMatchSpec? result = null;
            int count = 0;
            foreach (string key in allowed)
            {
                if (f.Value(key) is not { } valueNode)
                {
                    continue;
                }

                count++;
                if (!Scalar(valueNode, path + "." + key, "a string", out string? value))
                {
                    continue;
                }

                switch (key)
                {
                    case "exact": result = new StringMatchSpec(StringMatchKind.Exact, value); break;
                    case "prefix": result = new StringMatchSpec(StringMatchKind.Prefix, value); break;
                    case "present":
                        if (value != "true")
                        {
                            Error(valueNode, $"{path}.present: only 'true' is allowed (leave the header out to match without it)");
                        }

                        result = new StringMatchSpec(StringMatchKind.Present, "");
                        break;
                    default:
                        if (RouteRegex.TryGet(value, out _, out string? regexError))
                        {
                            result = new StringMatchSpec(StringMatchKind.Regex, value);
                        }
                        else
                        {
                            Error(valueNode, $"{path}.regex: '{value}' is not a usable regular expression: {regexError}; write an RE2-style expression (no backreferences or lookarounds), matched against the whole value");
                        }

                        break;
                }
            }

            // an unknown key alone was reported as such already
            if (count > 1 || (count == 0 && map.Children.Count == 0))
            {
                Error(map, $"{path}: write exactly one of {string.Join(", ", allowed)}");
                return null;
            }

            return count == 1 ? result : null;
        }

        private IReadOnlyList<DestinationSpec> ReadDestinations(Fields rule, YamlMappingNode ruleNode, string path)
        {
            YamlNode? node = rule.Value("destinations");
            if (node is null)
            {
                Error(ruleNode, $"{path}: required field is missing; list at least one destination, e.g. [{{ subset: v1, weight: 100 }}]");
                return [];
            }

            if (!Sequence(node, path, out YamlSequenceNode? seq))
            {
                return [];
            }

            if (seq.Children.Count == 0)
            {
                Error(seq, $"{path}: the list is empty; list at least one destination");
                return [];
            }

            var destinations = new List<DestinationSpec>(seq.Children.Count);
            var subsets = new HashSet<string>(StringComparer.Ordinal);
            int total = 0;
            bool weightMissing = false;
            for (int i = 0; i < seq.Children.Count; i++)
            {
                string destinationPath = $"{path}[{i}]";
                if (!Mapping(seq.Children[i], destinationPath, out YamlMappingNode? map))
                {
                    continue;
                }

                Fields f = CheckFields(map, destinationPath, s_destinationFields);
                string? subset = OptionalString(f, destinationPath + ".subset");
                if (subset is not null && !IsSimpleName(subset))
                {
                    Error(f.Value("subset")!, $"{destinationPath}.subset: '{subset}' is not a valid name; use 1-63 characters of a-z 0-9 - _");
                }

                if (!subsets.Add(subset ?? ""))
                {
                    Error(f.Value("subset") ?? map, $"{destinationPath}: subset '{subset ?? "(none)"}' is already a destination of this rule");
                }

                int weight = seq.Children.Count == 1 ? 100 : 0;
                YamlNode? weightNode = f.Value("weight");
                if (weightNode is not null)
                {
                    if (Integer(weightNode, destinationPath + ".weight", out weight) && weight is < 0 or > 100)
                    {
                        Error(weightNode, $"{destinationPath}.weight: {weight} is out of range; use 0 to 100");
                        weight = 0;
                    }
                }
                else if (seq.Children.Count > 1)
                {
                    weightMissing = true;
                    Error(map, $"{destinationPath}.weight: required when a rule has several destinations (weights add up to 100)");
                }

                total += weight;
                var endpoints = new List<EndpointAddress>();
                if (OptionalSequence(f, "endpoints", destinationPath + ".endpoints", out YamlSequenceNode? eps))
                {
                    if (eps.Children.Count == 0)
                    {
                        Error(eps, $"{destinationPath}.endpoints: the list is empty; list at least one \"host:port\" or leave it out to use the route's endpoints");
                    }

                    for (int e = 0; e < eps.Children.Count; e++)
                    {
                        if (Scalar(eps.Children[e], $"{destinationPath}.endpoints[{e}]", "a \"host:port\" string", out string? ep))
                        {
                            if (EndpointAddress.TryParse(ep, out EndpointAddress? address))
                            {
                                endpoints.Add(address);
                            }
                            else
                            {
                                Error(eps.Children[e], $"{destinationPath}.endpoints[{e}]: '{ep}' is not \"host:port\" (port 1-65535), e.g. \"nawal-v2-pq.belizechain.svc.cluster.local:16443\"");
                            }
                        }
                    }
                }

                string? identity = OptionalString(f, destinationPath + ".identity");
                if (identity is not null)
                {
                    CheckSpiffeId(f.Value("identity")!, destinationPath + ".identity", identity);
                }

                (LoadBalancingPolicy Policy, string? HashHeader)? balancing = ReadLoadBalancing(f, destinationPath + ".loadBalancing");
                destinations.Add(new DestinationSpec(subset, weight, endpoints, identity, balancing?.Policy, balancing?.HashHeader) { AppPort = AppPortField(f, destinationPath) });
            }

            if (seq.Children.Count > 1 && !weightMissing && total != 100)
            {
                Error(seq, $"{path}: the weights add up to {total}; they must add up to 100 (as in an Istio VirtualService)");
            }

            return destinations;
        }

        private FaultInjectionSpec? ReadFault(Fields rule, string path)
        {
            if (!OptionalMapping(rule, "fault", path, out YamlMappingNode? node))
            {
                return null;
            }

            Fields f = CheckFields(node, path, s_faultFields);
            TimeSpan? delay = null;
            double delayPercent = 0;
            int? abortStatus = null;
            double abortPercent = 0;
            if (OptionalMapping(f, "delay", path + ".delay", out YamlMappingNode? delayNode))
            {
                Fields d = CheckFields(delayNode, path + ".delay", s_delayFields);
                delay = OptionalDuration(d, "fixedDelay", path + ".delay.fixedDelay");
                if (d.Value("fixedDelay") is null)
                {
                    Error(delayNode, $"{path}.delay.fixedDelay: required field is missing (e.g. 2s)");
                }

                delayPercent = RequiredPercentage(d, delayNode, path + ".delay");
            }

            if (OptionalMapping(f, "abort", path + ".abort", out YamlMappingNode? abortNode))
            {
                Fields a = CheckFields(abortNode, path + ".abort", s_abortFields);
                YamlNode? statusNode = a.Value("httpStatus");
                if (statusNode is null)
                {
                    Error(abortNode, $"{path}.abort.httpStatus: required field is missing (e.g. 503)");
                }
                else if (Integer(statusNode, path + ".abort.httpStatus", out int status))
                {
                    if (status is < 200 or > 599)
                    {
                        Error(statusNode, $"{path}.abort.httpStatus: {status} is not an HTTP status to answer with; use 200 to 599");
                    }
                    else
                    {
                        abortStatus = status;
                    }
                }

                abortPercent = RequiredPercentage(a, abortNode, path + ".abort");
            }

            if (delay is null && abortStatus is null)
            {
                return null;
            }

            return new FaultInjectionSpec(delay, delayPercent, abortStatus, abortPercent);
        }

        private double RequiredPercentage(Fields f, YamlNode parent, string path)
        {
            if (f.Value("percentage") is null)
            {
                Error(parent, $"{path}.percentage: required field is missing; the share of requests, 0 to 100 (e.g. 10)");
                return 0;
            }

            return OptionalPercentage(f, "percentage", path + ".percentage") ?? 0;
        }
    }
}
