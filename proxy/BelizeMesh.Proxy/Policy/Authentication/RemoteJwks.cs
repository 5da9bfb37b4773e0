using System.Net;
using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using BelizeMesh.Proxy.Metrics;
using Microsoft.Extensions.Logging;

namespace BelizeMesh.Proxy.Policy.Authentication;

/// <summary>How <c>jwtRules[].jwksUri</c> key sets are fetched (tests shorten the durations).</summary>
internal sealed record RemoteJwksOptions
{
    /// <summary>How long a fetched key set is used before it is fetched again: Envoy's <c>remote_jwks.cache_duration</c> default.</summary>
    public TimeSpan CacheDuration { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>One fetch (connect, TLS, response) must finish within this: Istio's <c>jwtRules[].timeout</c> default.</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>The largest response read; a longer one is refused (the same cap as inline and file key sets).</summary>
    public int MaxBytes { get; init; } = JsonWebKeySet.MaxBytes;

    /// <summary>The wait after the first failed fetch; it doubles with each further failure, up to <see cref="RetryMax"/>.</summary>
    public TimeSpan RetryBase { get; init; } = TimeSpan.FromSeconds(1);

    public TimeSpan RetryMax { get; init; } = TimeSpan.FromMinutes(1);

    /// <summary>Tests only: trust these roots instead of the system trust store (a throwaway CA). Not a policy setting:
    /// Istio's <c>jwtRules</c> have no CA field, and in a pod the image's CA bundle decides.</summary>
    internal X509Certificate2Collection? TestTrustedRoots { get; init; }
}

/// <summary>
/// The key set of one <c>jwksUri</c>, fetched in the background and shared by every rule that names the URI (Envoy's
/// <c>remote_jwks</c> with asynchronous fetching). The first fetch starts when a policy first names the URI; nothing
/// waits for it (readiness does not depend on the network), and until one succeeds the issuer's tokens are refused
/// with 401 "Jwks remote fetch is failed" — fail closed. A fetched set is used for <see cref="RemoteJwksOptions.CacheDuration"/>
/// and then fetched again. A failed fetch (connect or TLS error, a status other than 200, a timeout, a response over
/// the size cap, a body that is not a usable JWKS) keeps the last good set, is retried with exponential backoff, is
/// counted in <c>belizemesh_proxy_jwks_loads_total{result="failure"}</c>, and is logged once per distinct reason.
/// </summary>
/// <remarks>
/// https is checked against the system trust store (the image's CA bundle), as any <see cref="HttpClient"/> does;
/// redirects are not followed (Envoy does not follow them either) and no proxy from the environment is used.
/// </remarks>
internal sealed partial class RemoteJwks : IDisposable
{
    private readonly HttpClient _http;
    private readonly RemoteJwksOptions _options;
    private readonly TimeProvider _time;
    private readonly ProxyMetrics _metrics;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stop = new();
    private readonly SemaphoreSlim _gate = new(1, 1);
    private volatile JwtKeys? _current;
    private byte[]? _lastHash;
    private string? _lastError;
    private int _successes;
    private int _failures;

    public RemoteJwks(Uri uri, HttpClient http, RemoteJwksOptions options, TimeProvider time, ProxyMetrics metrics, ILogger logger)
    {
        Uri = uri;
        _http = http;
        _options = options;
        _time = time;
        _metrics = metrics;
        _logger = logger;
        if (uri.Scheme == Uri.UriSchemeHttp)
        {
            Log.PlainHttp(logger, uri.AbsoluteUri);
        }

        _ = Task.Run(RunAsync);
    }

    public Uri Uri { get; }

    /// <summary>The last good key set; null until a fetch has succeeded.</summary>
    public JwtKeys? Current => _current;

    /// <summary>Fetches that succeeded so far (tests).</summary>
    internal int Successes => Volatile.Read(ref _successes);

    /// <summary>Fetches that failed so far (tests).</summary>
    internal int Failures => Volatile.Read(ref _failures);

    /// <summary>Whether this fetcher was stopped (no policy names its URI any more).</summary>
    internal bool Stopped => _stop.IsCancellationRequested;

    private async Task RunAsync()
    {
        CancellationToken stop = _stop.Token;
        int failuresInARow = 0;
        try
        {
            while (true)
            {
                bool fetched;
                try
                {
                    fetched = await FetchAsync(stop).ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    if (stop.IsCancellationRequested)
                    {
                        return; // stopped mid-fetch (the shared client may be disposed already)
                    }

                    // never let one bad round end the fetching for the sidecar's lifetime
                    Log.FetchCrashed(_logger, Uri.AbsoluteUri, ex);
                    fetched = false;
                }

                failuresInARow = fetched ? 0 : failuresInARow + 1;
                await Task.Delay(fetched ? _options.CacheDuration : Backoff(failuresInARow), _time, stop).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
        }
    }

    /// <summary>1 × base, 2 ×, 4 ×, … up to the maximum.</summary>
    private TimeSpan Backoff(int failuresInARow)
    {
        TimeSpan wait = _options.RetryBase;
        for (int i = 1; i < failuresInARow && wait < _options.RetryMax; i++)
        {
            wait += wait;
        }

        return wait < _options.RetryMax ? wait : _options.RetryMax;
    }

    /// <summary>Fetches the key set once and publishes it when it is new; false when the fetch failed.</summary>
    internal async Task<bool> FetchAsync(CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            (byte[]? body, string? error) = await DownloadAsync(cancellationToken).ConfigureAwait(false);
            JwtKeys? published = null;
            if (body is not null)
            {
                byte[] hash = SHA256.HashData(body);
                if (_current is not null && _lastHash is not null && hash.AsSpan().SequenceEqual(_lastHash))
                {
                    published = _current; // the same bytes as last time: keep the keys (no re-parse)
                }
                else if (JsonWebKeySet.TryParse(body, out error) is { } parsed)
                {
                    published = new JwtKeys(parsed.Keys);
                    _lastHash = hash;
                    _current = published;
                    Log.Fetched(_logger, Uri.AbsoluteUri, parsed.Keys.Length);
                }
            }

            // Log first, count after: whoever sees the count (a test, an operator reading the metric) finds the line.
            if (published is null)
            {
                if (error != _lastError)
                {
                    _lastError = error;
                    Log.FetchFailed(_logger, Uri.AbsoluteUri, error!, _current is null
                        ? "no keys yet: tokens of its issuers get 401 until a fetch succeeds"
                        : "keeping the last good key set");
                }

                _metrics.JwksLoaded(success: false);
                Interlocked.Increment(ref _failures);
                return false;
            }

            if (_lastError is not null)
            {
                _lastError = null;
                Log.Recovered(_logger, Uri.AbsoluteUri);
            }

            _metrics.JwksLoaded(success: true);
            Interlocked.Increment(ref _successes);
            return true;
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>The response body (status 200, at most <see cref="RemoteJwksOptions.MaxBytes"/>), or why there is none.</summary>
    private async Task<(byte[]? Body, string? Error)> DownloadAsync(CancellationToken cancellationToken)
    {
        using var timeout = new CancellationTokenSource(_options.Timeout, _time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token);
        try
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, Uri);
            request.Headers.Accept.ParseAdd("application/json");
            using HttpResponseMessage response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, linked.Token).ConfigureAwait(false);
            int status = (int)response.StatusCode;
            if (response.StatusCode != HttpStatusCode.OK)
            {
                return (null, status is >= 300 and < 400
                    ? $"HTTP {status}: redirects are not followed; write the final URL in jwksUri"
                    : $"HTTP {status} {response.ReasonPhrase}".TrimEnd());
            }

            int max = _options.MaxBytes;
            if (response.Content.Headers.ContentLength is long length && length > max)
            {
                return (null, $"the response is {length} bytes; a JWKS may have at most {max}");
            }

            Stream stream = await response.Content.ReadAsStreamAsync(linked.Token).ConfigureAwait(false);
            await using (stream.ConfigureAwait(false))
            {
                byte[] buffer = new byte[Math.Min(max + 1, 16 * 1024)];
                int total = 0;
                while (true)
                {
                    if (total == buffer.Length)
                    {
                        Array.Resize(ref buffer, (int)Math.Min((long)buffer.Length * 2, max + 1L));
                    }

                    int read = await stream.ReadAsync(buffer.AsMemory(total), linked.Token).ConfigureAwait(false);
                    if (read == 0)
                    {
                        return (buffer.AsSpan(0, total).ToArray(), null);
                    }

                    total += read;
                    if (total > max)
                    {
                        return (null, $"the response is more than {max} bytes; a JWKS may have at most {max}");
                    }
                }
            }
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return (null, $"no complete response within {_options.Timeout.TotalSeconds:0.###}s");
        }
        catch (HttpRequestException ex)
        {
            // e.g. ConnectionError "Connection refused (host:port)", SecureConnectionError with the certificate's problem
            string detail = ex.InnerException is { } inner && inner.Message != ex.Message ? $"{ex.Message.TrimEnd('.')}: {inner.Message.TrimEnd('.')}" : ex.Message.TrimEnd('.');
            return (null, $"{ex.HttpRequestError}: {detail}");
        }
        catch (IOException ex)
        {
            return (null, $"the response broke off: {ex.Message.TrimEnd('.')}");
        }
    }

    /// <summary>Stops fetching; <see cref="Current"/> stays readable for snapshots that still hold this fetcher.</summary>
    public void Dispose()
    {
        if (!_stop.IsCancellationRequested)
        {
            _stop.Cancel();
        }
    }

    private static partial class Log
    {
        [LoggerMessage(610, LogLevel.Information, "JWKS {Uri} fetched ({Count} keys).", EventName = "JwksFetched")]
        public static partial void Fetched(ILogger logger, string uri, int count);

        [LoggerMessage(611, LogLevel.Error, "JWKS {Uri} fetch failed: {Reason}; {Consequence}. Retrying with backoff; the same reason is not logged again.", EventName = "JwksFetchFailed")]
        public static partial void FetchFailed(ILogger logger, string uri, string reason, string consequence);

        [LoggerMessage(612, LogLevel.Information, "JWKS {Uri} fetched again after failures.", EventName = "JwksFetchRecovered")]
        public static partial void Recovered(ILogger logger, string uri);

        [LoggerMessage(613, LogLevel.Warning, "JWKS {Uri} is fetched over plain http: anyone on the network path can replace the keys that authenticate requests; serve it over https.", EventName = "JwksPlainHttp")]
        public static partial void PlainHttp(ILogger logger, string uri);

        [LoggerMessage(614, LogLevel.Error, "JWKS {Uri}: a fetch failed unexpectedly; keeping the keys in force and retrying.", EventName = "JwksFetchCrashed")]
        public static partial void FetchCrashed(ILogger logger, string uri, Exception exception);
    }
}

/// <summary>
/// The <see cref="RemoteJwks"/> fetchers of the policy in force, one per distinct URI, shared by successive snapshots:
/// a reload that keeps a URI keeps its fetcher and keys; <see cref="Commit"/> after each build stops the fetchers no
/// rule names any more. One <see cref="HttpClient"/> serves them all.
/// </summary>
internal sealed class RemoteJwksRegistry(RemoteJwksOptions options, TimeProvider time, ProxyMetrics metrics, ILoggerFactory loggers) : IDisposable
{
    private readonly Lock _lock = new();
    private readonly Dictionary<string, RemoteJwks> _fetchers = new(StringComparer.Ordinal);
    private readonly HashSet<string> _used = new(StringComparer.Ordinal);
    private readonly ILogger _logger = loggers.CreateLogger("BelizeMesh.Proxy.Policy.Authentication.RemoteJwks");
    private HttpClient? _http;

    /// <summary>The fetcher for <paramref name="uri"/>, started on first use.</summary>
    public RemoteJwks Get(Uri uri)
    {
        string key = uri.AbsoluteUri;
        lock (_lock)
        {
            _used.Add(key);
            if (_fetchers.TryGetValue(key, out RemoteJwks? existing))
            {
                return existing;
            }

            _http ??= new HttpClient(new SocketsHttpHandler
            {
                UseProxy = false, // the sidecar's own egress; an HTTP_PROXY meant for the app must not apply to it
                AllowAutoRedirect = false,
                ConnectTimeout = options.Timeout,
                PooledConnectionIdleTimeout = TimeSpan.FromSeconds(30),
                AutomaticDecompression = DecompressionMethods.None,
                SslOptions = SslOptions(options),
            })
            {
                Timeout = Timeout.InfiniteTimeSpan, // each fetch has its own deadline
            };
            var fetcher = new RemoteJwks(uri, _http, options, time, metrics, _logger);
            _fetchers[key] = fetcher;
            return fetcher;
        }
    }

    /// <summary>The system trust store (the default), or the test's roots only.</summary>
    private static SslClientAuthenticationOptions SslOptions(RemoteJwksOptions options)
    {
        var ssl = new SslClientAuthenticationOptions();
        if (options.TestTrustedRoots is { } roots)
        {
            var policy = new X509ChainPolicy { TrustMode = X509ChainTrustMode.CustomRootTrust, RevocationMode = X509RevocationMode.NoCheck };
            policy.CustomTrustStore.AddRange(roots);
            ssl.CertificateChainPolicy = policy;
        }

        return ssl;
    }

    /// <summary>Stops the fetchers that the last build did not ask for.</summary>
    public void Commit()
    {
        lock (_lock)
        {
            List<string>? unused = null;
            foreach (string key in _fetchers.Keys)
            {
                if (!_used.Contains(key))
                {
                    (unused ??= []).Add(key);
                }
            }

            if (unused is not null)
            {
                foreach (string key in unused)
                {
                    _fetchers.Remove(key, out RemoteJwks? fetcher);
                    fetcher!.Dispose();
                }
            }

            _used.Clear();
        }
    }

    /// <summary>The fetcher in force for <paramref name="uri"/>, if any (tests).</summary>
    internal RemoteJwks? Find(Uri uri)
    {
        lock (_lock)
        {
            return _fetchers.GetValueOrDefault(uri.AbsoluteUri);
        }
    }

    /// <summary>How many fetchers run (tests).</summary>
    internal int Count
    {
        get
        {
            lock (_lock)
            {
                return _fetchers.Count;
            }
        }
    }

    public void Dispose()
    {
        lock (_lock)
        {
            foreach (RemoteJwks fetcher in _fetchers.Values)
            {
                fetcher.Dispose();
            }

            _fetchers.Clear();
            _http?.Dispose();
        }
    }
}
