using BelizeMesh.Proxy.Configuration;
using BelizeMesh.Proxy.Forwarding;

namespace BelizeMesh.Proxy.Tests.Configuration;

/// <summary>The Istio traffic fields of outbound routes: <c>retries</c> in full and ordered <c>http</c> rules.</summary>
public sealed class TrafficPolicyParserTests
{
    private static readonly PolicyParserOptions s_options = new() { PqChannelAvailable = true };

    /// <summary>A DISABLE-mode policy with one route; <paramref name="routeExtra"/> is indented under the route (8 spaces).</summary>
    private static string Policy(string routeExtra) => $"""
        apiVersion: belizemesh.io/v1alpha1
        kind: SidecarPolicy
        spec:
          inbound:
            app: "http://127.0.0.1:8080"
            mode: DISABLE
          outbound:
            routes:
              - host: nawal.belizechain.svc.cluster.local
                endpoints: ["nawal-pq.belizechain.svc.cluster.local:16443"]
        {routeExtra}
        """;

    // Line 11 is the first line of routeExtra.
    private static PolicyError SingleError(string routeExtra)
    {
        PolicyParseResult result = PolicyParser.Parse(Policy(routeExtra), "policy.yaml", s_options);
        Assert.False(result.Succeeded);
        return Assert.Single(result.Errors);
    }

    private static OutboundRouteSpec Route(string routeExtra)
    {
        PolicyParseResult result = PolicyParser.Parse(Policy(routeExtra), "policy.yaml", s_options);
        Assert.True(result.Succeeded, string.Join("\n", result.Errors));
        return Assert.Single(result.Policy!.Spec.Outbound.Routes);
    }

    [Fact]
    public void The_emitted_canary_reads_with_matches_weights_subsets_and_endpoints()
    {
        OutboundRouteSpec route = Route("""
                    retries: { attempts: 3, perTryTimeout: 5s, retryOn: "5xx,reset,connect-failure,gateway-error,retriable-4xx,409", budget: { percent: 25, minConcurrency: 5 } }
                    http:
                      - name: canary
                        match:
                          - headers: { x-version: { exact: v2 } }
                          - uri: { prefix: /api/v2/ }
                            method: { exact: POST }
                            headers: { x-debug: { present: true }, x-tenant: { regex: "t-[0-9]+" } }
                        destinations:
                          - { subset: v2, endpoints: ["nawal-v2-pq.belizechain.svc.cluster.local:16443"] }
                      - name: split
                        destinations:
                          - { subset: v1, weight: 90, endpoints: ["nawal-v1-pq.belizechain.svc.cluster.local:16443"], loadBalancing: { policy: LeastRequests } }
                          - { subset: v2, weight: 10, endpoints: ["nawal-v2-pq.belizechain.svc.cluster.local:16443"] }
                        retries: { attempts: 1, retryOn: gateway-error }
                        fault: { delay: { fixedDelay: 2s, percentage: 5 }, abort: { httpStatus: 503, percentage: 0.5 } }
            """);

        Assert.Equal(3, route.RetryAttempts);
        Assert.Equal(new RetryBudgetSpec(25, 5), route.RetryBudget);
        RetryPolicySpec retries = route.Retries!;
        Assert.Equal(TimeSpan.FromSeconds(5), retries.PerTryTimeout);
        Assert.Equal(RetryConditions.FiveXx | RetryConditions.Reset | RetryConditions.ConnectFailure | RetryConditions.GatewayError
            | RetryConditions.Retriable4xx | RetryConditions.RetriableStatusCodes, retries.Conditions);
        Assert.Equal([409], retries.StatusCodes);

        Assert.Equal(2, route.Http.Count);
        HttpRuleSpec canary = route.Http[0];
        Assert.Equal("canary", canary.Name);
        Assert.Equal(2, canary.Matches.Count);
        Assert.Equal(new StringMatchSpec(StringMatchKind.Exact, "v2"), Assert.Single(canary.Matches[0].Headers).Match);
        Assert.Equal(new StringMatchSpec(StringMatchKind.Prefix, "/api/v2/"), canary.Matches[1].Uri);
        Assert.Equal(new StringMatchSpec(StringMatchKind.Exact, "POST"), canary.Matches[1].Method);
        Assert.Equal(StringMatchKind.Present, canary.Matches[1].Headers[0].Match.Kind);
        Assert.Equal(new StringMatchSpec(StringMatchKind.Regex, "t-[0-9]+"), canary.Matches[1].Headers[1].Match);
        DestinationSpec only = Assert.Single(canary.Destinations);
        Assert.Equal(("v2", 100), (only.Subset, only.Weight));

        HttpRuleSpec split = route.Http[1];
        Assert.Equal([90, 10], split.Destinations.Select(d => d.Weight));
        Assert.Equal("nawal-v1-pq.belizechain.svc.cluster.local:16443", Assert.Single(split.Destinations[0].Endpoints).ToString());
        Assert.Equal(LoadBalancingPolicy.LeastRequests, split.Destinations[0].LoadBalancing);
        Assert.Null(split.Destinations[1].LoadBalancing);
        Assert.Equal(RetryConditions.GatewayError, split.Retries!.Conditions);
        Assert.Equal(new FaultInjectionSpec(TimeSpan.FromSeconds(2), 5, 503, 0.5), split.Fault);
    }

    [Fact]
    public void Retries_without_retry_on_keep_the_original_connect_failure_rule()
    {
        OutboundRouteSpec route = Route("        retries: { attempts: 2 }");
        Assert.Null(route.Retries!.Conditions);
        Assert.Equal(RetryBudgetSpec.Default, route.RetryBudget);
        Assert.Empty(route.Http);
    }

    [Fact]
    public void Retries_backoff_sets_the_base_interval_of_the_wait_between_retries()
    {
        OutboundRouteSpec route = Route("""
                    retries: { attempts: 2, retryOn: 5xx, backoff: 100ms }
                    http:
                      - name: slow
                        destinations: [{ subset: v1 }]
                        retries: { attempts: 1, backoff: 2s }
                      - name: default
                        destinations: [{ subset: v1 }]
                        retries: { attempts: 1 }
            """);

        Assert.Equal(TimeSpan.FromMilliseconds(100), route.Retries!.Backoff);
        Assert.Equal(TimeSpan.FromMilliseconds(100), RetryPlan.From(route.Retries)!.BackoffBase);
        Assert.Equal(TimeSpan.FromSeconds(2), RetryPlan.From(route.Http[0].Retries)!.BackoffBase);
        Assert.Null(route.Http[1].Retries!.Backoff);
        Assert.Equal(TimeSpan.FromMilliseconds(25), RetryPlan.From(route.Http[1].Retries)!.BackoffBase); // Envoy's default
    }

    [Theory]
    [InlineData("        retries: { attempts: 1, backoff: 0s }", 11, 42,
        "spec.outbound.routes[0].retries.backoff: 0ms is too short; the base interval between retries must be at least 1ms (leave 'backoff' out for Envoy's 25ms)")]
    [InlineData("        http:\n          - retries: { attempts: 1, backoff: 0 }\n            destinations: [{ subset: v1 }]", 12, 46,
        "spec.outbound.routes[0].http[0].retries.backoff: 0ms is too short; the base interval between retries must be at least 1ms (leave 'backoff' out for Envoy's 25ms)")]
    [InlineData("        retries: { attempts: 1, backoff: soon }", 11, 42,
        "spec.outbound.routes[0].retries.backoff: \"soon\" is not a duration; expected a number with unit h, m, s or ms, e.g. 300s, 5m, 1h, 100ms (0 means none)")]
    [InlineData("        retries: { attempts: 1, retryOn: \"5xx,gateway-eror\" }", 11, 42,
        "spec.outbound.routes[0].retries.retryOn: unknown condition \"gateway-eror\"; did you mean \"gateway-error\"?; use Envoy's names: 5xx, gateway-error, connect-failure, reset, retriable-4xx, refused-stream, retriable-status-codes, cancelled, deadline-exceeded, internal, resource-exhausted, unavailable, or a status code such as 503")]
    [InlineData("        retries: { attempts: 1, perTryTimeout: 5 }", 11, 48,
        "spec.outbound.routes[0].retries.perTryTimeout: \"5\" is not a duration; expected a number with unit h, m, s or ms, e.g. 300s, 5m, 1h, 100ms (0 means none)")]
    [InlineData("        retries: { attempts: 1, budget: { percent: 120 } }", 11, 52,
        "spec.outbound.routes[0].retries.budget.percent: expected a percentage from 0 to 100 (e.g. 10 or 0.5), got \"120\"")]
    [InlineData("        retries: { attempts: 1, budget: { minConcurrency: -1 } }", 11, 59,
        "spec.outbound.routes[0].retries.budget.minConcurrency: -1 is negative; use 0 for no cap")]
    [InlineData("        http: []", 11, 15,
        "spec.outbound.routes[0].http: the list is empty; leave 'http' out to send everything to the route's endpoints")]
    [InlineData("        http:\n          - name: Canary\n            destinations: [{ subset: v2 }]", 12, 19,
        "spec.outbound.routes[0].http[0].name: \"Canary\" is not a valid name; use 1-63 characters of a-z 0-9 - _ (it is a metric label)")]
    [InlineData("        http:\n          - name: a\n            destinations: [{ subset: v2 }]\n          - name: a\n            destinations: [{ subset: v1 }]", 14, 19,
        "spec.outbound.routes[0].http[1].name: \"a\" is already used by an earlier rule of this route")]
    [InlineData("        http:\n          - name: a", 12, 13,
        "spec.outbound.routes[0].http[0].destinations: missing required field \"destinations\" (list at least one destination, e.g. [{ subset: v1, weight: 100 }])")]
    [InlineData("        http:\n          - destinations: [{ subset: v1, weight: 90 }, { subset: v2, weight: 20 }]", 12, 27,
        "spec.outbound.routes[0].http[0].destinations: the weights add up to 110; they must add up to 100 (as in an Istio VirtualService)")]
    [InlineData("        http:\n          - destinations: [{ subset: v1, weight: 90 }, { subset: v2 }]", 12, 56,
        "spec.outbound.routes[0].http[0].destinations[1].weight: required when a rule has several destinations (weights add up to 100)")]
    [InlineData("        http:\n          - destinations: [{ subset: v1, weight: 101 }]", 12, 50,
        "spec.outbound.routes[0].http[0].destinations[0].weight: 101 is out of range; expected a weight from 0 to 100")]
    [InlineData("        http:\n          - destinations: [{ subset: v1, endpoints: [\"nawal-v1-pq\"] }]", 12, 54,
        "spec.outbound.routes[0].http[0].destinations[0].endpoints[0]: \"nawal-v1-pq\" is not \"host:port\" (port 1-65535), e.g. \"nawal-v2-pq.belizechain.svc.cluster.local:16443\"")]
    [InlineData("        http:\n          - destinations: [{ subset: v1, idenity: x }]", 12, 42,
        "spec.outbound.routes[0].http[0].destinations[0].idenity: unknown field \"idenity\"; did you mean \"identity\"? (allowed here: appPort, endpoints, identity, loadBalancing, subset, weight)")]
    [InlineData("        http:\n          - destinations: [{ subset: v1, loadBalancing: { policy: Fastest } }]", 12, 67,
        "spec.outbound.routes[0].http[0].destinations[0].loadBalancing.policy: expected one of RoundRobin, LeastRequests, Random, ConsistentHash, got \"Fastest\"")]
    [InlineData("        http:\n          - match: [{ uri: { prefix: /a, exact: /b } }]\n            destinations: [{ subset: v1 }]", 12, 28,
        "spec.outbound.routes[0].http[0].match[0].uri: write exactly one of exact, prefix, regex")]
    [InlineData("        http:\n          - match: [{ uri: { prefix: api } }]\n            destinations: [{ subset: v1 }]", 12, 28,
        "spec.outbound.routes[0].http[0].match[0].uri: \"api\" must start with '/' (the path is matched without the query string)")]
    [InlineData("        http:\n          - match: [{ uri: { regex: \"(a)\\\\1\" } }]\n            destinations: [{ subset: v1 }]", 12, 37,
        "REGEX")]
    [InlineData("        http:\n          - match: [{ uri: { present: true } }]\n            destinations: [{ subset: v1 }]", 12, 30,
        "spec.outbound.routes[0].http[0].match[0].uri.present: unknown field \"present\" (allowed here: exact, prefix, regex)")]
    [InlineData("        http:\n          - match: [{ headers: { x-debug: { present: yes } } }]\n            destinations: [{ subset: v1 }]", 12, 54,
        "spec.outbound.routes[0].http[0].match[0].headers.x-debug.present: only true is allowed (leave the header out to match without it)")]
    [InlineData("        http:\n          - match: [{ headers: { \"x version\": { exact: v2 } } }]\n            destinations: [{ subset: v1 }]", 12, 34,
        "spec.outbound.routes[0].http[0].match[0].headers: \"x version\" is not a valid header name")]
    [InlineData("        http:\n          - match: [{ methd: { exact: GET } }]\n            destinations: [{ subset: v1 }]", 12, 23,
        "spec.outbound.routes[0].http[0].match[0].methd: unknown field \"methd\"; did you mean \"method\"? (allowed here: headers, method, uri)")]
    [InlineData("        http:\n          - retries: { attempts: 1, budget: { percent: 10 } }\n            destinations: [{ subset: v1 }]", 12, 45,
        "spec.outbound.routes[0].http[0].retries.budget: the retry budget belongs to the route (spec.outbound.routes[].retries.budget), shared by its rules")]
    [InlineData("        http:\n          - fault: { abort: { httpStatus: 700, percentage: 10 } }\n            destinations: [{ subset: v1 }]", 12, 43,
        "spec.outbound.routes[0].http[0].fault.abort.httpStatus: 700 is out of range; expected an HTTP status to answer with from 200 to 599")]
    [InlineData("        http:\n          - fault: { abort: { httpStatus: 500 } }\n            destinations: [{ subset: v1 }]", 12, 29,
        "spec.outbound.routes[0].http[0].fault.abort.percentage: missing required field \"percentage\" (the share of requests from 0 to 100, e.g. 10)")]
    [InlineData("        http:\n          - fault: { delay: { percentage: 5 } }\n            destinations: [{ subset: v1 }]", 12, 29,
        "spec.outbound.routes[0].http[0].fault.delay.fixedDelay: missing required field \"fixedDelay\" (e.g. 2s)")]
    [InlineData("        http:\n          - fault: { delay: { fixedDelay: 2s, percentage: \"ten\" } }\n            destinations: [{ subset: v1 }]", 12, 59,
        "spec.outbound.routes[0].http[0].fault.delay.percentage: expected a percentage from 0 to 100 (e.g. 10 or 0.5), got the string \"ten\"")]
    public void Each_bad_traffic_field_is_one_located_error(string routeExtra, int line, int column, string message)
    {
        PolicyError error = SingleError(routeExtra);
        if (message == "REGEX")
        {
            Assert.StartsWith("spec.outbound.routes[0].http[0].match[0].uri.regex: \"(a)\\1\" is not a usable regular expression: ", error.Message, StringComparison.Ordinal);
            Assert.EndsWith("; write an RE2-style expression (no backreferences or lookarounds), matched against the whole value", error.Message, StringComparison.Ordinal);
        }
        else
        {
            Assert.Equal(message, error.Message);
        }

        Assert.Equal((line, column), (error.Line, error.Column));
        Assert.Equal($"policy.yaml:{line}:{column}: {error.Message}", error.ToString());
    }
}
