using System.Net.Http.Headers;
using Microsoft.AspNetCore.Http;
using Yarp.ReverseProxy.Forwarder;

namespace BelizeMesh.Proxy.Forwarding;

/// <summary>
/// YARP's default header copying plus the proxy's rules: the request target is the one the handler fixed
/// (<see cref="RequestState.TargetPathAndQuery"/>, sent without URI canonicalization), the original <c>Host</c> is kept
/// (as Envoy does, so the app sees the name it was called by), and every spelling of
/// <see cref="ProxyHeaders.PeerIdentity"/>, <see cref="ProxyHeaders.AppPort"/> and
/// <see cref="ProxyHeaders.ForwardedClientCert"/> is removed, then they are set from
/// the verified identity and the route's app port when there are ones.
/// </summary>
/// <remarks>
/// One instance for every request: what differs per request is in the request's <see cref="RequestState"/>, looked up
/// once per transform (a request forwarded without one — none is today — gets the header rules and YARP's default).
/// </remarks>
internal sealed class ForwardingTransformer : HttpTransformer
{
    public static readonly ForwardingTransformer Instance = new();

    private ForwardingTransformer()
    {
    }

    private static readonly UriCreationOptions Verbatim = new() { DangerousDisablePathAndQueryCanonicalization = true };

    public override async ValueTask TransformRequestAsync(HttpContext httpContext, HttpRequestMessage proxyRequest, string destinationPrefix, CancellationToken cancellationToken)
    {
        RequestState? state = httpContext.Features.Get<RequestState>();
        if (state?.TargetPathAndQuery is { } target)
        {
            // set before the base call, which only fills RequestUri when it is null
            proxyRequest.RequestUri = new Uri(destinationPrefix + target, in Verbatim);
        }

        await base.TransformRequestAsync(httpContext, proxyRequest, destinationPrefix, cancellationToken).ConfigureAwait(false);
        RequestStreams.AllowPauses(httpContext, proxyRequest);
        bool copiedHost = RemoveReserved(proxyRequest);
        if (state?.ForwardedIdentity is { } identity)
        {
            proxyRequest.Headers.TryAddWithoutValidation(ProxyHeaders.PeerIdentity, identity);
        }

        if (state?.AppPort is { } appPort)
        {
            proxyRequest.Headers.TryAddWithoutValidation(ProxyHeaders.AppPort, appPort.Value);
        }

        // The base copied the request's Host as it came (it is the Host the client sent, which Kestrel checked);
        // setting it again would validate it twice (each one a Uri parse: 1.7% of the pair's CPU samples).
        if (!copiedHost && httpContext.Request.Host.HasValue)
        {
            proxyRequest.Headers.Host = httpContext.Request.Host.Value;
        }

        if (state is null)
        {
            return;
        }

        Metrics.PeerMetadataExchange.OnRequest(state, proxyRequest);
        if (state.Retry is { } retry)
        {
            // as Envoy's include_request_attempt_count: the upstream can tell a retry from a first try
            proxyRequest.Headers.Remove(AttemptCountHeader);
            proxyRequest.Headers.TryAddWithoutValidation(AttemptCountHeader, retry.Attempt.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }
    }

    /// <summary>Sent upstream on requests with a retry policy: 1 on the first try, 2 on the first retry, …</summary>
    public const string AttemptCountHeader = "x-envoy-attempt-count";

    /// <summary>
    /// A response a retry policy names (and the budget allows retrying) is held back: neither its headers nor its body
    /// reach the client, and the engine makes the next attempt (YARP's documented way to let the caller retry).
    /// </summary>
    public override ValueTask<bool> TransformResponseAsync(HttpContext httpContext, HttpResponseMessage? proxyResponse, CancellationToken cancellationToken)
    {
        RequestState? state = httpContext.Features.Get<RequestState>();
        if (proxyResponse is not null
            && state?.Retry is { } retry
            && retry.TryRetryResponse((int)proxyResponse.StatusCode, proxyResponse))
        {
            return ValueTask.FromResult(false);
        }

        ValueTask<bool> copied = base.TransformResponseAsync(httpContext, proxyResponse, cancellationToken);
        if (copied.IsCompletedSuccessfully)
        {
            Metrics.PeerMetadataExchange.OnResponse(httpContext, state);
            if (proxyResponse is not null && copied.Result)
            {
                ResponseHeadersFirst.Apply(httpContext, proxyResponse);
            }

            return copied;
        }

        return AfterCopyAsync(httpContext, proxyResponse, copied, state);
    }

    /// <summary>
    /// Kestrel offers response trailers (<see cref="Microsoft.AspNetCore.Http.Features.IHttpResponseTrailersFeature"/>) on
    /// HTTP/2 and HTTP/3 requests only: on an HTTP/1.x request the base's lookup of it always misses — after walking
    /// Kestrel's whole feature chain and the connection's (~0.4% of the pair's CPU samples at 64 connections) — and
    /// copies nothing, so it is not made.
    /// </summary>
    public override ValueTask TransformResponseTrailersAsync(HttpContext httpContext, HttpResponseMessage proxyResponse, CancellationToken cancellationToken)
    {
        string protocol = httpContext.Request.Protocol;
        return HttpProtocol.IsHttp2(protocol) || HttpProtocol.IsHttp3(protocol)
            ? base.TransformResponseTrailersAsync(httpContext, proxyResponse, cancellationToken)
            : default;
    }

    private static async ValueTask<bool> AfterCopyAsync(HttpContext httpContext, HttpResponseMessage? proxyResponse, ValueTask<bool> copied, RequestState? state)
    {
        bool result = await copied.ConfigureAwait(false);
        Metrics.PeerMetadataExchange.OnResponse(httpContext, state);
        if (proxyResponse is not null && result)
        {
            ResponseHeadersFirst.Apply(httpContext, proxyResponse);
        }

        return result;
    }

    /// <summary>Removes every header whose name normalises to a reserved one, and the peer metadata header (which
    /// <see cref="Metrics.PeerMetadataExchange.OnRequest"/> sets again when it should go). Allocates only when one is
    /// present. True when the headers hold a <c>Host</c>.</summary>
    private static bool RemoveReserved(HttpRequestMessage proxyRequest)
    {
        string? first = null;
        List<string>? more = null;
        bool host = false;
        foreach (KeyValuePair<string, HeaderStringValues> header in proxyRequest.Headers.NonValidated)
        {
            if (ReferenceEquals(header.Key, HostHeader) || string.Equals(header.Key, HostHeader, StringComparison.OrdinalIgnoreCase))
            {
                host = true;
            }
            else if (ProxyHeaders.IsSpellingOf(header.Key, ProxyHeaders.PeerIdentity) || ProxyHeaders.IsSpellingOf(header.Key, ProxyHeaders.AppPort)
                || ProxyHeaders.IsSpellingOf(header.Key, ProxyHeaders.ForwardedClientCert)
                || string.Equals(header.Key, Metrics.PeerMetadata.Header, StringComparison.OrdinalIgnoreCase))
            {
                if (first is null)
                {
                    first = header.Key;
                }
                else
                {
                    (more ??= []).Add(header.Key);
                }
            }
        }

        if (first is null)
        {
            return host;
        }

        proxyRequest.Headers.Remove(first);
        if (more is not null)
        {
            foreach (string name in more)
            {
                proxyRequest.Headers.Remove(name);
            }
        }

        return host;
    }

    private const string HostHeader = "Host";
}

/// <summary>Set by the outbound side from the route's <c>appPort</c>: the app port to ask the peer's inbound for. One
/// instance per route, built with the snapshot.</summary>
internal sealed class ForwardedAppPortFeature(int port)
{
    public int Port { get; } = port;

    public string Value { get; } = port.ToString(System.Globalization.CultureInfo.InvariantCulture);
}
