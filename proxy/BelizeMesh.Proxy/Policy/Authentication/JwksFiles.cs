using System.Security.Cryptography;
using BelizeMesh.Proxy.Configuration;
using BelizeMesh.Proxy.Metrics;
using Microsoft.Extensions.Logging;

namespace BelizeMesh.Proxy.Policy.Authentication;

/// <summary>
/// The key sets of <c>jwtRules[].jwksFile</c>, kept across policy snapshots. A file is read when a snapshot is built
/// (start-up, every policy reload) and whenever its bytes change (the policy watcher's events and 30 s poll ask
/// <see cref="Changed"/>). A file that is missing, unreadable or not a valid JWKS is logged with the reason and counted
/// (<c>belizemesh_proxy_jwks_loads_total{result="failure"}</c>); its last good key set stays in force, and an issuer
/// that never had one has no keys (its tokens get 401), which fails closed.
/// </summary>
internal sealed partial class JwksFiles(TimeProvider time, ProxyMetrics metrics, ILogger<JwksFiles> logger)
{
    private readonly Lock _gate = new();
    private readonly Dictionary<string, Entry> _files = new(StringComparer.Ordinal);

    public TimeProvider Time => time;

    /// <summary>The key set for a rule: its inline <c>jwks</c> (checked by the parser) or its file's last good set.</summary>
    public JsonWebKeySet? KeysFor(JwtRuleSpec rule)
    {
        if (rule.Jwks is not null)
        {
            return JsonWebKeySet.TryParse(System.Text.Encoding.UTF8.GetBytes(rule.Jwks), out _);
        }

        return rule.JwksFile is null ? null : Load(rule.JwksFile);
    }

    /// <summary>
    /// At start-up every <c>jwksFile</c> must hold a valid JWKS, as the policy itself must be valid: a sidecar started
    /// with a key set it cannot read would refuse every token of that issuer. Later, a bad file keeps the last good set.
    /// </summary>
    public static IReadOnlyList<PolicyError> CheckAtStart(SidecarPolicy policy)
    {
        var errors = new List<PolicyError>();
        IReadOnlyList<JwtRuleSpec> rules = policy.Spec.Inbound.JwtRules;
        for (int i = 0; i < rules.Count; i++)
        {
            if (rules[i].JwksFile is not { } path)
            {
                continue;
            }

            Read(path, out byte[]? bytes, out string? error);
            if (bytes is not null)
            {
                JsonWebKeySet.TryParse(bytes, out error);
            }

            if (error is not null)
            {
                errors.Add(new PolicyError(path, 1, 1, $"spec.inbound.jwtRules[{i}].jwksFile: {error}"));
            }
        }

        return errors;
    }

    /// <summary>Whether any <c>jwksFile</c> of <paramref name="policy"/> now holds other bytes than were last read.</summary>
    public bool Changed(SidecarPolicy policy)
    {
        foreach (JwtRuleSpec rule in policy.Spec.Inbound.JwtRules)
        {
            if (rule.JwksFile is null)
            {
                continue;
            }

            string hash = Read(rule.JwksFile, out _, out _);
            lock (_gate)
            {
                if (!_files.TryGetValue(rule.JwksFile, out Entry? entry) || entry.LastHash != hash)
                {
                    return true;
                }
            }
        }

        return false;
    }

    private JsonWebKeySet? Load(string path)
    {
        string hash = Read(path, out byte[]? bytes, out string? readError);
        lock (_gate)
        {
            _files.TryGetValue(path, out Entry? entry);
            if (entry is not null && entry.LastHash == hash)
            {
                return entry.Good;
            }

            JsonWebKeySet? parsed = null;
            string? error = readError;
            if (bytes is not null)
            {
                parsed = JsonWebKeySet.TryParse(bytes, out error);
            }

            if (parsed is null)
            {
                metrics.JwksLoaded(success: false);
                Log.Rejected(logger, path, error!, entry?.Good is null ? "no keys: tokens of this issuer get 401 until the file is fixed" : "keeping the last good key set");
                _files[path] = new Entry(hash, entry?.Good);
                return entry?.Good;
            }

            metrics.JwksLoaded(success: true);
            Log.Loaded(logger, path, parsed.Keys.Length);
            _files[path] = new Entry(hash, parsed);
            return parsed;
        }
    }

    /// <summary>The file's content hash ("missing: …" when it cannot be read), and its bytes when it could.</summary>
    private static string Read(string path, out byte[]? bytes, out string? error)
    {
        bytes = null;
        error = null;
        try
        {
            var info = new FileInfo(path);
            if (info.Exists && info.Length > JsonWebKeySet.MaxBytes)
            {
                error = $"the file is {info.Length} bytes; a JWKS may have at most {JsonWebKeySet.MaxBytes}";
                return "too-large:" + info.Length.ToString(System.Globalization.CultureInfo.InvariantCulture);
            }

            bytes = File.ReadAllBytes(path);
            return Convert.ToHexString(SHA256.HashData(bytes));
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            error = $"cannot read the file ({ex.Message.TrimEnd('.')}); mount the JWKS there or fix jwksFile";
            return "unreadable:" + ex.GetType().Name;
        }
    }

    private sealed record Entry(string LastHash, JsonWebKeySet? Good);

    private static partial class Log
    {
        [LoggerMessage(600, LogLevel.Information, "JWKS {File} loaded ({Count} keys).", EventName = "JwksLoaded")]
        public static partial void Loaded(ILogger logger, string file, int count);

        [LoggerMessage(601, LogLevel.Error, "JWKS {File} rejected: {Reason}; {Consequence}.", EventName = "JwksRejected")]
        public static partial void Rejected(ILogger logger, string file, string reason, string consequence);
    }
}
