using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Threading.Channels;
using BelizeMesh.Identity;
using k8s;
using k8s.Autorest;
using k8s.Models;
using Microsoft.Extensions.Logging;

namespace BelizeMesh.Injector.Controller;

/// <summary>
/// Keeps a <c>belizemesh-certs-&lt;sa&gt;</c> Secret valid for every ServiceAccount in the namespaces that opt in to
/// injection: issues on first sight, renews <c>--renew-before</c> ahead of expiry or when the signing root changed,
/// republishes <c>ca.crt</c> when the trust bundle changes, and deletes the Secrets it owns when their ServiceAccount
/// goes. Every replica keeps list+watch caches; only the Lease holder writes. See docs/injector.md.
/// </summary>
internal sealed partial class CertificateController : IDisposable
{
    /// <summary>The component name in Events.</summary>
    public const string Component = "belizemesh-cert-controller";

    /// <summary>Longest wait between two passes (Task.Delay cannot wait the ~60 days to a 90-day certificate's renewal anyway).</summary>
    private static readonly TimeSpan MaxWait = TimeSpan.FromHours(1);

    private readonly ControllerKubernetes _client;
    private readonly ControllerOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Channel<bool> _wake = Channel.CreateBounded<bool>(new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite });
    // One record per Secret that is waiting: until when, after how many failures in a row, whether a foreign Secret of
    // that name was reported. Dropped on success, and at every pass for Secrets no longer wanted (ServiceAccount gone,
    // namespace no longer opted in), so it never outgrows the Secrets in play.
    private readonly Dictionary<string, PendingSecret> _pending = new(StringComparer.Ordinal);
    private readonly string _namespaceLabel;
    private readonly string _namespaceLabelValue;
    private readonly RenewalSchedule _schedule;
    private RootAuthority? _root;
    // Until when the API server asked (429 Too Many Requests) for no more writes: the pass stops writing until then.
    private DateTimeOffset _throttledUntil = DateTimeOffset.MinValue;
    private string? _rootProblem;
    // The signing root (its Secret's resourceVersion) for which capped lifetimes were reported: once per root, not per certificate.
    private string? _reportedCap;

    /// <summary>
    /// A controller on <paramref name="client"/>; its watches' retries are paced by <paramref name="retryClock"/> (the
    /// real clock unless given; tests pass a fake one), every certificate and Lease decision by <paramref name="time"/>;
    /// <paramref name="renewalDraw"/> places each certificate's renewal in the jitter span (<see cref="RenewalSchedule"/>;
    /// its fingerprint unless given).
    /// </summary>
    public CertificateController(ControllerKubernetes client, ControllerOptions options, TimeProvider time, ILogger logger, ControllerMetrics? metrics = null, TimeProvider? retryClock = null, Func<MeshCertificate, double>? renewalDraw = null)
    {
        retryClock ??= TimeProvider.System;
        _client = client;
        _options = options;
        _time = time;
        _logger = logger;
        _schedule = new RenewalSchedule(options.RenewBefore, renewalDraw);
        Metrics = metrics ?? new ControllerMetrics();
        if (!ControllerOptions.TryParseSelector(options.NamespaceSelector, out _namespaceLabel, out _namespaceLabelValue))
        {
            throw new ArgumentException($"--namespace-selector '{options.NamespaceSelector}' is not KEY=VALUE", nameof(options));
        }

        string selector = Uri.EscapeDataString(options.NamespaceSelector);
        string managed = Uri.EscapeDataString($"{ServiceCertificateSecret.ManagedByLabel}={ServiceCertificateSecret.ManagedByValue}");
        string rootField = Uri.EscapeDataString($"metadata.name={options.RootSecretName}");
        Namespaces = new Reflector<V1Namespace>(client, WatchedResource.Namespaces,
            async ct => { var l = await client.CoreV1.ListNamespaceAsync(labelSelector: options.NamespaceSelector, cancellationToken: ct).ConfigureAwait(false); return (l.Items, l.Metadata.ResourceVersion); },
            $"api/v1/namespaces?labelSelector={selector}", Wake, Metrics, options.WatchTimeout, retryClock, logger);
        ServiceAccounts = new Reflector<V1ServiceAccount>(client, WatchedResource.ServiceAccounts,
            async ct => { var l = await client.CoreV1.ListServiceAccountForAllNamespacesAsync(cancellationToken: ct).ConfigureAwait(false); return (l.Items, l.Metadata.ResourceVersion); },
            "api/v1/serviceaccounts", Wake, Metrics, options.WatchTimeout, retryClock, logger);
        Secrets = new Reflector<V1Secret>(client, WatchedResource.Secrets,
            async ct => { var l = await client.CoreV1.ListSecretForAllNamespacesAsync(labelSelector: $"{ServiceCertificateSecret.ManagedByLabel}={ServiceCertificateSecret.ManagedByValue}", cancellationToken: ct).ConfigureAwait(false); return (l.Items, l.Metadata.ResourceVersion); },
            $"api/v1/secrets?labelSelector={managed}", Wake, Metrics, options.WatchTimeout, retryClock, logger);
        RootSecret = new Reflector<V1Secret>(client, WatchedResource.RootSecret,
            async ct => { var l = await client.CoreV1.ListNamespacedSecretAsync(options.RootSecretNamespace, fieldSelector: $"metadata.name={options.RootSecretName}", cancellationToken: ct).ConfigureAwait(false); return (l.Items, l.Metadata.ResourceVersion); },
            $"api/v1/namespaces/{options.RootSecretNamespace}/secrets?fieldSelector={rootField}", Wake, Metrics, options.WatchTimeout, retryClock, logger);
        Elector = new LeaseElector(client, options, time, logger);
        Elector.LeadershipChanged += Metrics.SetLeader;
    }

    public ControllerMetrics Metrics { get; }

    public LeaseElector Elector { get; }

    internal Reflector<V1Namespace> Namespaces { get; }

    internal Reflector<V1ServiceAccount> ServiceAccounts { get; }

    internal Reflector<V1Secret> Secrets { get; }

    internal Reflector<V1Secret> RootSecret { get; }

    /// <summary>Completes when every cache has listed once (the readiness probe).</summary>
    public Task Synced => Task.WhenAll(Namespaces.Synced, ServiceAccounts.Synced, Secrets.Synced, RootSecret.Synced);

    /// <summary>Completes after each reconciliation pass of the leader (tests await it).</summary>
    public event Action? PassCompleted;

    /// <summary>Runs the caches and the election until cancelled; the leader reconciles.</summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        Task[] reflectors =
        [
            Namespaces.RunAsync(cancellationToken),
            ServiceAccounts.RunAsync(cancellationToken),
            Secrets.RunAsync(cancellationToken),
            RootSecret.RunAsync(cancellationToken),
        ];
        await Elector.RunAsync(LeadAsync, cancellationToken).ConfigureAwait(false);
        await Task.WhenAll(reflectors).ConfigureAwait(false);
    }

    private void Wake() => _wake.Writer.TryWrite(true);

    private async Task LeadAsync(CancellationToken leading)
    {
        try
        {
            await Synced.WaitAsync(leading).ConfigureAwait(false);
            while (!leading.IsCancellationRequested)
            {
                while (_wake.Reader.TryRead(out _))
                {
                }

                DateTimeOffset? next = await ReconcileAllAsync(leading).ConfigureAwait(false);
                TimeSpan wait = next is { } at ? at - _time.GetUtcNow() : MaxWait;
                wait = wait < TimeSpan.Zero ? TimeSpan.Zero : wait > MaxWait ? MaxWait : wait;
                using var waitCts = CancellationTokenSource.CreateLinkedTokenSource(leading);
                Task woken = _wake.Reader.WaitToReadAsync(waitCts.Token).AsTask();
                Task timer = Task.Delay(wait, _time, waitCts.Token);
                PassCompleted?.Invoke(); // after the timer is set, so a test that moves its clock next does not miss it
                await Task.WhenAny(woken, timer).ConfigureAwait(false);
                await waitCts.CancelAsync().ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (leading.IsCancellationRequested)
        {
        }
    }

    /// <summary>One pass over the caches; returns when the next pass is due (the earliest renewal or retry).</summary>
    internal async Task<DateTimeOffset?> ReconcileAllAsync(CancellationToken leading)
    {
        DateTimeOffset now = _time.GetUtcNow();
        DateTimeOffset? next = null;
        RootAuthority? root = LoadRoot();
        long managed = 0;
        DateTimeOffset? earliest = null;

        var wanted = new HashSet<string>(StringComparer.Ordinal);
        foreach (V1ServiceAccount account in ServiceAccounts.Items.Values)
        {
            string ns = account.Metadata.NamespaceProperty;
            string sa = account.Metadata.Name;
            string key = Reflector<V1Secret>.Key(ns, ServiceCertificateSecret.NameFor(sa));
            // A namespace that stopped opting in still runs the pods injected before and mounts their Secrets: the
            // Secrets the controller issued there stay valid (renewed, new bundles), but no new one is issued. (Secrets
            // written by hand with 'belizemesh certs secret', without the ownerReference, stay the operator's there.)
            bool optedIn = Namespaces.Items.TryGetValue(ns, out V1Namespace? space) && OptsIn(space);
            if (!optedIn && !(Secrets.Items.TryGetValue(key, out V1Secret? issued) && OwnedBy(issued, account)))
            {
                continue;
            }

            wanted.Add(key);
            if (root is null)
            {
                continue;
            }

            if (_pending.TryGetValue(key, out PendingSecret pending) && pending.RetryAt > now)
            {
                next = Min(next, pending.RetryAt);
                continue;
            }

            if (_throttledUntil > _time.GetUtcNow())
            {
                next = Min(next, _throttledUntil);
                continue;
            }

            leading.ThrowIfCancellationRequested();
            (DateTimeOffset? due, DateTimeOffset? notAfter) = await ReconcileAsync(account, root, optedIn, leading).ConfigureAwait(false);
            next = Min(next, due);
            if (notAfter is { } expiry)
            {
                managed++;
                earliest = Min(earliest, expiry);
            }
        }

        PrunePending(wanted);
        if (_throttledUntil <= _time.GetUtcNow())
        {
            await DeleteOrphansAsync(leading).ConfigureAwait(false);
        }
        else
        {
            next = Min(next, _throttledUntil);
        }

        Metrics.SetManaged(managed, earliest);
        return next;
    }

    /// <summary>Forgets the retries of Secrets no longer wanted.</summary>
    private void PrunePending(HashSet<string> wanted)
    {
        List<string>? gone = null;
        foreach (string key in _pending.Keys)
        {
            if (!wanted.Contains(key))
            {
                (gone ??= []).Add(key);
            }
        }

        foreach (string key in gone ?? [])
        {
            _pending.Remove(key);
        }
    }

    /// <summary>Secrets waiting for a retry (tests check that it shrinks).</summary>
    internal int PendingCount => _pending.Count;

    private static bool OwnedBy(V1Secret secret, V1ServiceAccount account)
    {
        foreach (V1OwnerReference reference in secret.Metadata.OwnerReferences ?? [])
        {
            if (reference.Kind == "ServiceAccount" && reference.ApiVersion == "v1" && reference.Name == account.Metadata.Name && reference.Uid == account.Metadata.Uid)
            {
                return true;
            }
        }

        return false;
    }

    private bool OptsIn(V1Namespace space) =>
        space.Metadata.Labels is { } labels && labels.TryGetValue(_namespaceLabel, out string? value) && value == _namespaceLabelValue;

    private RootAuthority? LoadRoot()
    {
        string key = Reflector<V1Secret>.Key(_options.RootSecretNamespace, _options.RootSecretName);
        if (!RootSecret.Items.TryGetValue(key, out V1Secret? secret))
        {
            ReportRootProblem($"the root Secret {key} does not exist: create it from 'belizemesh certs root --out DIR' with 'kubectl -n {_options.RootSecretNamespace} create secret generic {_options.RootSecretName} --from-file=DIR/ca.crt --from-file=DIR/ca.key'");
            return null;
        }

        string version = secret.Metadata.ResourceVersion ?? "";
        if (_root is { } current && current.Version == version)
        {
            return current;
        }

        try
        {
            RootAuthority loaded = RootAuthority.Load(secret, _time);
            RootAuthority? previous = _root;
            _root = loaded;
            previous?.Dispose();
            _rootProblem = null;
            LogRootLoaded(_logger, key, loaded.Authority.Certificate.Subject, loaded.Authority.Certificate.SerialNumber, loaded.Bundle.Roots.Count);
            return loaded;
        }
        catch (CredentialsException e)
        {
            // A bad root Secret keeps the last good root in force (as a bad policy keeps the last good policy).
            ReportRootProblem(e.Message);
            return _root;
        }
    }

    private void ReportRootProblem(string problem)
    {
        if (_rootProblem != problem)
        {
            _rootProblem = problem;
            LogRootProblem(_logger, problem);
        }
    }

    /// <summary>Brings one ServiceAccount's Secret up to date (creating it only when <paramref name="mayIssue"/>); returns
    /// when it next needs attention and its NotAfter.</summary>
    private async Task<(DateTimeOffset? Due, DateTimeOffset? NotAfter)> ReconcileAsync(V1ServiceAccount account, RootAuthority root, bool mayIssue, CancellationToken leading)
    {
        string ns = account.Metadata.NamespaceProperty;
        string sa = account.Metadata.Name;
        string name = ServiceCertificateSecret.NameFor(sa);
        string key = Reflector<V1Secret>.Key(ns, name);
        var id = new SpiffeId(_options.TrustDomain, ns, sa);
        Secrets.Items.TryGetValue(key, out V1Secret? current);
        const int attempts = 4;
        for (int attempt = 1; attempt <= attempts; attempt++)
        {
            DateTimeOffset now = _time.GetUtcNow();
            SecretAssessment verdict = SecretAssessment.Assess(current, id, root, now, _schedule, _time);
            switch (verdict.Action)
            {
                case SecretAction.Issue when !mayIssue:
                    return (null, null); // deleted meanwhile in a namespace that no longer opts in: stays deleted
                case SecretAction.UpToDate:
                    _pending.Remove(key);
                    return (verdict.RenewAt, verdict.NotAfter);
                case SecretAction.Foreign:
                    _pending.TryGetValue(key, out PendingSecret before);
                    if (!before.ForeignReported)
                    {
                        LogForeign(_logger, key, verdict.Detail);
                        await EventAsync(account, "Warning", "CertificateFailed", $"Secret {name} exists and was not written by BelizeMesh ({verdict.Detail}); delete it to let the controller issue one", leading).ConfigureAwait(false);
                    }

                    // Such a Secret is not in the watched set (no managed-by label): no event tells when its owner
                    // deletes it. Check again after the failure backoff, not at every pass (a refused create and a
                    // read each time) nor only at the hourly pass.
                    DateTimeOffset recheck = _time.GetUtcNow() + _options.FailureBackoff;
                    _pending[key] = before with { RetryAt = recheck, ForeignReported = true };
                    return (recheck, null);
            }

            try
            {
                (V1Secret written, DateTimeOffset notAfter, DateTimeOffset? renewAt) = await WriteAsync(account, current, verdict, root, leading).ConfigureAwait(false);
                Secrets.Upsert(written);
                _pending.Remove(key);
                string serial = "";
                switch (verdict.Action)
                {
                    case SecretAction.Issue:
                        Metrics.RecordIssued();
                        serial = SerialOf(written);
                        LogIssued(_logger, key, id.ToString(), serial, notAfter);
                        await EventAsync(account, "Normal", "CertificateIssued", $"Issued {name} for {id}, serial {serial}, valid until {ServiceCertificateSecret.FormatNotAfter(notAfter)}", leading).ConfigureAwait(false);
                        break;
                    case SecretAction.Renew:
                        Metrics.RecordRenewed(verdict.Reason);
                        serial = SerialOf(written);
                        LogRenewed(_logger, key, id.ToString(), ControllerMetrics.Label(verdict.Reason), verdict.Detail, serial, notAfter);
                        await EventAsync(account, "Normal", "CertificateRenewed", $"Renewed {name} for {id} ({ControllerMetrics.Label(verdict.Reason)}: {verdict.Detail}), serial {serial}, valid until {ServiceCertificateSecret.FormatNotAfter(notAfter)}", leading).ConfigureAwait(false);
                        break;
                    default:
                        Metrics.RecordBundleUpdate();
                        LogBundleUpdated(_logger, key, root.Bundle.Roots.Count);
                        break;
                }

                if (verdict.Action != SecretAction.UpdateBundle && renewAt is null)
                {
                    await ReportCappedAsync(root, notAfter, leading).ConfigureAwait(false);
                }

                return (renewAt, notAfter);
            }
            catch (HttpOperationException e) when (ApiErrors.IsConflict(e) || ApiErrors.IsNotFound(e))
            {
                // Someone else changed (or deleted, or created) the Secret since our copy: read it again and decide
                // again; the write is never repeated blindly over a version we have not seen.
                Metrics.RecordConflict();
                LogConflict(_logger, key, ApiErrors.Describe(e), attempt);
                try
                {
                    current = await ReadSecretAsync(ns, name, leading).ConfigureAwait(false);
                }
                catch (Exception r) when (r is HttpOperationException or HttpRequestException or IOException
                                          || (r is OperationCanceledException && !leading.IsCancellationRequested))
                {
                    // A failed re-read is this Secret's failure (retried after the backoff), never the whole pass's.
                    return await FailAsync(account, key, $"re-reading it after a conflict: {ApiErrors.Describe(r)}", leading).ConfigureAwait(false);
                }
            }
            catch (HttpOperationException e) when (ApiErrors.IsStatus(e, HttpStatusCode.TooManyRequests))
            {
                // The API server is overloaded: no more writes at all (nor a Warning Event, one more write) until
                // the time it asked for; this Secret and the rest of the pass wait for it.
                Metrics.RecordFailed();
                TimeSpan wait = ApiErrors.RetryAfter(e, _options.FailureBackoff);
                _throttledUntil = _time.GetUtcNow() + wait;
                _pending[key] = (_pending.TryGetValue(key, out PendingSecret throttled) ? throttled : default) with { RetryAt = _throttledUntil };
                LogThrottled(_logger, key, wait.TotalSeconds);
                return (_throttledUntil, null);
            }
            catch (Exception e) when (e is HttpOperationException or HttpRequestException or IOException or ArgumentException or CredentialsException
                                      || (e is OperationCanceledException && !leading.IsCancellationRequested))
            {
                return await FailAsync(account, key, ApiErrors.Describe(e), leading).ConfigureAwait(false);
            }
        }

        return await FailAsync(account, key, $"still conflicting after {attempts} attempts", leading).ConfigureAwait(false);
    }

    private async Task<(DateTimeOffset?, DateTimeOffset?)> FailAsync(V1ServiceAccount account, string key, string error, CancellationToken leading)
    {
        Metrics.RecordFailed();
        // The failure backoff (30 s) after the first failure, doubling with each further one in a row up to 16 times
        // that: a Secret that cannot be written (a webhook, a quota, RBAC) does not cost a write and an Event every 30 s.
        _pending.TryGetValue(key, out PendingSecret before);
        int failures = Math.Min(before.Failures + 1, 5);
        TimeSpan backoff = _options.FailureBackoff * (1 << (failures - 1));
        DateTimeOffset retry = _time.GetUtcNow() + backoff;
        _pending[key] = before with { RetryAt = retry, Failures = failures };
        LogFailed(_logger, key, error, backoff.TotalSeconds);
        await EventAsync(account, "Warning", "CertificateFailed", $"Could not write {ServiceCertificateSecret.NameFor(account.Metadata.Name)}: {error}; retrying in {ControllerOptions.FormatDuration(backoff)}", leading).ConfigureAwait(false);
        return (retry, null);
    }

    /// <summary>The ServiceAccount as the API server holds it now, or null; a field-selected list, so the controller's
    /// RBAC stays <c>list</c>/<c>watch</c> on ServiceAccounts.</summary>
    private async Task<V1ServiceAccount?> ReadServiceAccountAsync(string ns, string name, CancellationToken leading)
    {
        V1ServiceAccountList list = await _client.CoreV1.ListNamespacedServiceAccountAsync(ns, fieldSelector: $"metadata.name={name}", cancellationToken: leading).ConfigureAwait(false);
        foreach (V1ServiceAccount account in list.Items)
        {
            if (account.Metadata.Name == name)
            {
                return account;
            }
        }

        return null;
    }

    private async Task<V1Secret?> ReadSecretAsync(string ns, string name, CancellationToken leading)
    {
        try
        {
            return await _client.CoreV1.ReadNamespacedSecretAsync(name, ns, cancellationToken: leading).ConfigureAwait(false);
        }
        catch (HttpOperationException e) when (ApiErrors.IsNotFound(e))
        {
            return null;
        }
    }

    /// <summary>
    /// Once per signing root: a Warning (log and Event on the root Secret) that certificates are being capped at the
    /// root's NotAfter, so the operator rotates the root before workloads run out of certificates.
    /// </summary>
    private async Task ReportCappedAsync(RootAuthority root, DateTimeOffset notAfter, CancellationToken leading)
    {
        if (_reportedCap == root.Version)
        {
            return;
        }

        _reportedCap = root.Version;
        MeshCertificate ca = root.Authority.Certificate;
        string message = $"The signing root (serial {ca.SerialNumber}) expires at {ServiceCertificateSecret.FormatNotAfter(ca.NotAfter)}, within --cert-validity {ControllerOptions.FormatDuration(_options.CertificateValidity)}: certificates are issued only until then (the first until {ServiceCertificateSecret.FormatNotAfter(notAfter)}); rotate the root (docs/injector.md, Root rotation)";
        LogCapped(_logger, message);
        string key = Reflector<V1Secret>.Key(_options.RootSecretNamespace, _options.RootSecretName);
        if (RootSecret.Items.TryGetValue(key, out V1Secret? secret))
        {
            var involved = new V1ObjectReference { ApiVersion = "v1", Kind = "Secret", Name = secret.Metadata.Name, NamespaceProperty = secret.Metadata.NamespaceProperty, Uid = secret.Metadata.Uid, ResourceVersion = secret.Metadata.ResourceVersion };
            await EventAsync(involved, "Warning", "RootExpiresSoon", message, leading).ConfigureAwait(false);
        }
    }

    /// <summary>Creates or replaces (with the resourceVersion of <paramref name="current"/>) the Secret; returns it with
    /// its certificate's NotAfter and renewal time (null: no renewal for expiry, it lasts as long as the root).</summary>
    private async Task<(V1Secret, DateTimeOffset, DateTimeOffset?)> WriteAsync(V1ServiceAccount account, V1Secret? current, SecretAssessment verdict, RootAuthority root, CancellationToken leading)
    {
        string ns = account.Metadata.NamespaceProperty;
        string sa = account.Metadata.Name;
        // A copy: the cached object stays what the server holds if this write fails.
        V1Secret secret = current is not null ? KubernetesJson.Deserialize<V1Secret>(KubernetesJson.Serialize(current)) : new V1Secret { ApiVersion = "v1", Kind = "Secret", Metadata = new V1ObjectMeta { Name = ServiceCertificateSecret.NameFor(sa), NamespaceProperty = ns } };
        V1ObjectMeta meta = secret.Metadata;
        meta.Labels ??= new Dictionary<string, string>();
        meta.Labels[ServiceCertificateSecret.ManagedByLabel] = ServiceCertificateSecret.ManagedByValue;
        meta.Annotations ??= new Dictionary<string, string>();
        var owner = new V1OwnerReference { ApiVersion = "v1", Kind = "ServiceAccount", Name = sa, Uid = account.Metadata.Uid };
        meta.OwnerReferences = [owner];
        // A Secret's type is immutable: a new one is kubernetes.io/tls, an existing one (made Opaque by hand, say)
        // keeps its type, or the API server would refuse every repair with 422 and the Secret stay broken.
        if (current is null || string.IsNullOrEmpty(current.Type))
        {
            secret.Type = ServiceCertificateSecret.Type;
        }

        var data = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        if (secret.Data is { } existing)
        {
            foreach (var pair in existing)
            {
                data[pair.Key] = pair.Value;
            }
        }

        byte[]? keyBytes = null;
        DateTimeOffset notAfter;
        DateTimeOffset? renewAt;
        try
        {
            if (verdict.Action == SecretAction.UpdateBundle)
            {
                notAfter = verdict.NotAfter!.Value;
                renewAt = verdict.RenewAt;
            }
            else
            {
                var request = new ServiceCertificateRequest
                {
                    Service = ServiceName(sa),
                    Namespace = ns,
                    ServiceAccount = sa,
                    TrustDomain = _options.TrustDomain,
                    Validity = CappedValidity(root),
                };
                using IssuedCertificate issued = root.Authority.Issue(request);
                keyBytes = Encoding.UTF8.GetBytes(issued.ExportPrivateKeyPem());
                data[ServiceCredentials.CertificateFileName] = Encoding.UTF8.GetBytes(issued.CertificatePem);
                data[ServiceCredentials.KeyFileName] = keyBytes;
                notAfter = issued.Certificate.NotAfter;
                renewAt = issued.Certificate.NotAfter >= root.Authority.Certificate.NotAfter - RootAuthority.CapSlack ? null : _schedule.RenewAt(issued.Certificate);
                meta.Annotations[ServiceCertificateSecret.SpiffeIdAnnotation] = request.SpiffeId.ToString();
                meta.Annotations[ServiceCertificateSecret.NotAfterAnnotation] = ServiceCertificateSecret.FormatNotAfter(notAfter);
            }

            data[ServiceCredentials.TrustBundleFileName] = root.BundleBytes;
            secret.Data = data;
            V1Secret written = current is null
                ? await _client.CoreV1.CreateNamespacedSecretAsync(secret, ns, cancellationToken: leading).ConfigureAwait(false)
                : await _client.CoreV1.ReplaceNamespacedSecretAsync(secret, meta.Name, ns, cancellationToken: leading).ConfigureAwait(false);
            return (written, notAfter, renewAt);
        }
        finally
        {
            if (keyBytes is not null)
            {
                CryptographicOperations.ZeroMemory(keyBytes);
            }
        }
    }

    /// <summary>
    /// <c>--cert-validity</c>, or less when the signing root expires sooner: the certificate then ends with the root
    /// (as Istio's CA caps a workload certificate at its signing certificate's NotAfter) instead of failing to issue.
    /// A root already expired is not capped: issuing then fails with the CA's own message (create a new root).
    /// </summary>
    private TimeSpan CappedValidity(RootAuthority root)
    {
        DateTimeOffset now = _time.GetUtcNow();
        DateTimeOffset issuedAt = new(now.UtcTicks - (now.UtcTicks % TimeSpan.TicksPerSecond), TimeSpan.Zero);
        TimeSpan left = root.Authority.Certificate.NotAfter - issuedAt - RootAuthority.CapSlack;
        return left > TimeSpan.Zero && left < _options.CertificateValidity ? left : _options.CertificateValidity;
    }

    /// <summary>Deletes the Secrets this controller owns whose ServiceAccount is gone (or was recreated with another uid).</summary>
    private async Task DeleteOrphansAsync(CancellationToken leading)
    {
        foreach ((string key, V1Secret secret) in Secrets.Items)
        {
            if (secret.Metadata.OwnerReferences is not { Count: > 0 } owners)
            {
                continue;
            }

            V1OwnerReference? owner = null;
            foreach (V1OwnerReference reference in owners)
            {
                if (reference.Kind == "ServiceAccount" && reference.ApiVersion == "v1")
                {
                    owner = reference;
                }
            }

            if (owner is null || secret.Metadata.Name != ServiceCertificateSecret.NameFor(owner.Name))
            {
                continue;
            }

            string ns = secret.Metadata.NamespaceProperty;
            if (ServiceAccounts.Items.TryGetValue(Reflector<V1ServiceAccount>.Key(ns, owner.Name), out V1ServiceAccount? account) && account.Metadata.Uid == owner.Uid)
            {
                continue;
            }

            leading.ThrowIfCancellationRequested();
            try
            {
                // The two caches come from two watches: the ServiceAccount one may not have caught up with a Secret
                // written for a ServiceAccount created just now. Deleting is not undone by the next pass, so the
                // owner's absence is confirmed with the API server first.
                if (await ReadServiceAccountAsync(ns, owner.Name, leading).ConfigureAwait(false) is { } live && live.Metadata.Uid == owner.Uid)
                {
                    continue;
                }

                var options = new V1DeleteOptions { Preconditions = new V1Preconditions { Uid = secret.Metadata.Uid, ResourceVersion = secret.Metadata.ResourceVersion } };
                await _client.CoreV1.DeleteNamespacedSecretAsync(secret.Metadata.Name, ns, body: options, cancellationToken: leading).ConfigureAwait(false);
                Secrets.Remove(key, secret.Metadata.ResourceVersion);
                Metrics.RecordDeleted();
                LogDeleted(_logger, key, owner.Name);
            }
            catch (HttpOperationException e) when (ApiErrors.IsNotFound(e))
            {
                Secrets.Remove(key, secret.Metadata.ResourceVersion);
            }
            catch (HttpOperationException e) when (ApiErrors.IsConflict(e))
            {
                Metrics.RecordConflict(); // changed since our copy: the watch brings the new version and the next pass decides again
            }
            catch (Exception e) when (e is HttpOperationException or HttpRequestException or IOException || (e is OperationCanceledException && !leading.IsCancellationRequested))
            {
                LogFailed(_logger, key, ApiErrors.Describe(e), 0);
            }
        }
    }

    private Task EventAsync(V1ServiceAccount account, string type, string reason, string message, CancellationToken leading) =>
        EventAsync(new V1ObjectReference { ApiVersion = "v1", Kind = "ServiceAccount", Name = account.Metadata.Name, NamespaceProperty = account.Metadata.NamespaceProperty, Uid = account.Metadata.Uid, ResourceVersion = account.Metadata.ResourceVersion }, type, reason, message, leading);

    private async Task EventAsync(V1ObjectReference involved, string type, string reason, string message, CancellationToken leading)
    {
        DateTime now = _time.GetUtcNow().UtcDateTime;
        string ns = involved.NamespaceProperty;
        var e = new Corev1Event
        {
            ApiVersion = "v1",
            Kind = "Event",
            Metadata = new V1ObjectMeta { Name = $"{involved.Name}.{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8))}", NamespaceProperty = ns },
            InvolvedObject = involved,
            Reason = reason,
            Message = message,
            Type = type,
            Count = 1,
            FirstTimestamp = now,
            LastTimestamp = now,
            Source = new V1EventSource { Component = Component },
            ReportingComponent = "belizemesh.io/" + Component,
            ReportingInstance = _options.Identity,
        };
        try
        {
            await _client.CoreV1.CreateNamespacedEventAsync(e, ns, cancellationToken: leading).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is HttpOperationException or HttpRequestException or IOException || (ex is OperationCanceledException && !leading.IsCancellationRequested))
        {
            LogEventFailed(_logger, reason, ns, ApiErrors.Describe(ex));
        }
    }

    /// <summary>The service name in the certificate's CN and DNS SANs: the ServiceAccount's name (a DNS label by convention).</summary>
    internal static string ServiceName(string serviceAccount)
    {
        if (KubernetesNames.IsDnsLabel(serviceAccount))
        {
            return serviceAccount;
        }

        string label = serviceAccount.Replace('.', '-');
        return label.Length > 63 ? label[..63].TrimEnd('-') : label;
    }

    private static string SerialOf(V1Secret secret)
    {
        try
        {
            return MeshCertificate.ParsePem(Encoding.UTF8.GetString(secret.Data[ServiceCredentials.CertificateFileName])).SerialNumber;
        }
        catch (Exception e) when (e is CertificateFormatException or KeyNotFoundException or NullReferenceException)
        {
            return "?";
        }
    }

    /// <summary>A Secret waiting: not before <see cref="RetryAt"/>; <see cref="Failures"/> in a row (each doubles the wait
    /// before the next attempt and its Warning Event); whether the foreign Secret of that name was reported.</summary>
    private readonly record struct PendingSecret(DateTimeOffset RetryAt, int Failures, bool ForeignReported);

    private static DateTimeOffset? Min(DateTimeOffset? a, DateTimeOffset? b) => a is null ? b : b is null ? a : a < b ? a : b;

    public void Dispose() => _root?.Dispose();

    [LoggerMessage(EventId = 1, Level = LogLevel.Information, Message = "Signing root loaded from {Secret}: {Subject}, serial {Serial}; trust bundle of {Roots} root(s)")]
    private static partial void LogRootLoaded(ILogger logger, string secret, string subject, string serial, int roots);

    [LoggerMessage(EventId = 2, Level = LogLevel.Error, Message = "Root Secret unusable, no certificate is issued until it is fixed (the last good root stays in force if there was one): {Problem}")]
    private static partial void LogRootProblem(ILogger logger, string problem);

    [LoggerMessage(EventId = 3, Level = LogLevel.Information, Message = "Issued {Secret} for {SpiffeId}, serial {Serial}, valid until {NotAfter:u}")]
    private static partial void LogIssued(ILogger logger, string secret, string spiffeId, string serial, DateTimeOffset notAfter);

    [LoggerMessage(EventId = 4, Level = LogLevel.Information, Message = "Renewed {Secret} for {SpiffeId} ({Reason}: {Detail}), serial {Serial}, valid until {NotAfter:u}")]
    private static partial void LogRenewed(ILogger logger, string secret, string spiffeId, string reason, string detail, string serial, DateTimeOffset notAfter);

    [LoggerMessage(EventId = 5, Level = LogLevel.Information, Message = "Trust bundle of {Secret} updated ({Roots} root(s))")]
    private static partial void LogBundleUpdated(ILogger logger, string secret, int roots);

    [LoggerMessage(EventId = 6, Level = LogLevel.Information, Message = "Conflict writing {Secret} ({Error}), attempt {Attempt}: re-reading it")]
    private static partial void LogConflict(ILogger logger, string secret, string error, int attempt);

    [LoggerMessage(EventId = 7, Level = LogLevel.Error, Message = "Could not write {Secret}: {Error}; retrying in {RetrySeconds} s")]
    private static partial void LogFailed(ILogger logger, string secret, string error, double retrySeconds);

    [LoggerMessage(EventId = 8, Level = LogLevel.Information, Message = "Deleted {Secret}: its ServiceAccount {ServiceAccount} is gone")]
    private static partial void LogDeleted(ILogger logger, string secret, string serviceAccount);

    [LoggerMessage(EventId = 9, Level = LogLevel.Warning, Message = "Left {Secret} alone: {Detail}")]
    private static partial void LogForeign(ILogger logger, string secret, string detail);

    [LoggerMessage(EventId = 11, Level = LogLevel.Warning, Message = "Writing {Secret} was refused with 429 Too Many Requests: no writes for {RetrySeconds} s")]
    private static partial void LogThrottled(ILogger logger, string secret, double retrySeconds);

    [LoggerMessage(EventId = 12, Level = LogLevel.Warning, Message = "{Message}")]
    private static partial void LogCapped(ILogger logger, string message);

    [LoggerMessage(EventId = 10, Level = LogLevel.Debug, Message = "Could not record Event {Reason} in {Namespace}: {Error}")]
    private static partial void LogEventFailed(ILogger logger, string reason, string @namespace, string error);
}
