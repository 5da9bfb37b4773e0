using k8s;
using k8s.Autorest;
using k8s.Models;
using Microsoft.Extensions.Logging;

namespace BelizeMesh.Injector.Controller;

/// <summary>
/// Leader election on a <c>coordination.k8s.io/v1</c> Lease, with the semantics of KubernetesClient's (and
/// client-go's) <c>LeaderElector</c>, which the AOT flavour of the library does not ship:
/// <list type="bullet">
/// <item>A candidate takes the Lease when it is free, or when its record has not changed for the record's
/// <c>leaseDurationSeconds</c> (the holder's, which may differ from this replica's own) as measured on the candidate's
/// own monotonic clock from when that record arrived (no trust in other nodes' clocks, nor in its own wall clock).</item>
/// <item>The leader renews every <c>retryPeriod</c>; when it has not renewed for <c>renewDeadline</c> (shorter than the
/// lease duration; measured on the monotonic clock from when its last successful renewal was sent) it stops leading,
/// at that deadline, before anyone else can take over, so two replicas never lead at once.</item>
/// <item>Every write carries the Lease's resourceVersion: of two candidates racing, one gets 409 Conflict and loses.</item>
/// <item>On shutdown the leader releases the Lease (empty holder) so a successor need not wait out the duration.</item>
/// </list>
/// </summary>
internal sealed partial class LeaseElector
{
    private readonly IKubernetes _client;
    private readonly ControllerOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private string? _observedHolder;
    private DateTime? _observedRenewTime;
    private string? _observedResourceVersion;
    // When this replica first saw the current record, on the monotonic clock (a wall-clock step must not move it).
    private long _observedAt;

    public LeaseElector(IKubernetes client, ControllerOptions options, TimeProvider time, ILogger logger)
    {
        _client = client;
        _options = options;
        _time = time;
        _logger = logger;
    }

    /// <summary>True while this replica leads.</summary>
    public bool IsLeader { get; private set; }

    /// <summary>Raised (true/false) when leadership changes.</summary>
    public event Action<bool>? LeadershipChanged;

    /// <summary>
    /// Campaigns until <paramref name="cancellationToken"/> is cancelled; while leading runs <paramref name="lead"/>
    /// with a token that is cancelled the moment leadership is lost. Leading again later calls it again.
    /// </summary>
    public async Task RunAsync(Func<CancellationToken, Task> lead, CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            // Follower: try now, then every retry period. The renew deadline is this replica's own, measured on the
            // monotonic clock (which NTP does not step) from when the successful write was sent: the server may have
            // applied it, and a follower seen it, long before a slow answer arrives.
            long lastRenew = _time.GetTimestamp();
            while (!await TryAcquireOrRenewAsync(cancellationToken).ConfigureAwait(false))
            {
                if (!await DelayAsync(_options.RetryPeriod, cancellationToken).ConfigureAwait(false))
                {
                    return;
                }

                lastRenew = _time.GetTimestamp();
            }

            SetLeader(true);
            bool leadFailed = false;
            using var leading = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            Task work = Task.Run(() => lead(leading.Token), CancellationToken.None);
            try
            {
                while (true)
                {
                    // Wake at the renew deadline when it comes before the next retry: leading may not outlast it.
                    TimeSpan untilDeadline = _options.RenewDeadline - _time.GetElapsedTime(lastRenew);
                    TimeSpan wait = untilDeadline < _options.RetryPeriod ? untilDeadline : _options.RetryPeriod;
                    if (!await DelayAsync(wait > TimeSpan.Zero ? wait : TimeSpan.Zero, cancellationToken).ConfigureAwait(false))
                    {
                        break;
                    }

                    if (work.IsCompleted)
                    {
                        break;
                    }

                    // The attempt may not outlast the renew deadline: a request hanging on a partitioned network
                    // must not keep this replica leading after the point where another may take over.
                    TimeSpan left = _options.RenewDeadline - _time.GetElapsedTime(lastRenew);
                    bool renewed = false;
                    long sent = _time.GetTimestamp();
                    if (left > TimeSpan.Zero)
                    {
                        using var attempt = new CancellationTokenSource(left, _time);
                        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, attempt.Token);
                        renewed = await TryAcquireOrRenewAsync(linked.Token).ConfigureAwait(false);
                    }

                    if (cancellationToken.IsCancellationRequested)
                    {
                        break;
                    }

                    if (renewed)
                    {
                        lastRenew = sent;
                    }
                    else if (_time.GetElapsedTime(lastRenew) >= _options.RenewDeadline || !OwnsObservedRecord)
                    {
                        LogLost(_logger, _options.Identity, _options.LeaseNamespace, _options.LeaseName);
                        break;
                    }
                }
            }
            finally
            {
                SetLeader(false);
                await leading.CancelAsync().ConfigureAwait(false);
                try
                {
                    await work.ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                }
                catch (Exception e)
                {
                    // The leader's work failed: it stopped writing; campaign again after a retry period (not at
                    // once: the same failure would repeat as fast as it throws).
                    LogLeadFailed(_logger, _options.Identity, e);
                    leadFailed = true;
                }
            }

            if (cancellationToken.IsCancellationRequested)
            {
                await ReleaseAsync().ConfigureAwait(false);
                return;
            }

            if (leadFailed && !await DelayAsync(_options.RetryPeriod, cancellationToken).ConfigureAwait(false))
            {
                await ReleaseAsync().ConfigureAwait(false);
                return;
            }
        }
    }

    private bool OwnsObservedRecord => _observedHolder == _options.Identity;

    private void SetLeader(bool leader)
    {
        if (IsLeader == leader)
        {
            return;
        }

        IsLeader = leader;
        if (leader)
        {
            LogAcquired(_logger, _options.Identity, _options.LeaseNamespace, _options.LeaseName);
        }

        LeadershipChanged?.Invoke(leader);
    }

    private async Task<bool> DelayAsync(TimeSpan delay, CancellationToken cancellationToken)
    {
        try
        {
            await Task.Delay(delay, _time, cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    /// <summary>One attempt: create the Lease, take it over when free or expired, or renew it when ours.</summary>
    internal async Task<bool> TryAcquireOrRenewAsync(CancellationToken cancellationToken)
    {
        V1Lease? lease;
        try
        {
            lease = await _client.CoordinationV1.ReadNamespacedLeaseAsync(_options.LeaseName, _options.LeaseNamespace, cancellationToken: cancellationToken).ConfigureAwait(false);
        }
        catch (HttpOperationException e) when (ApiErrors.IsNotFound(e))
        {
            lease = null;
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            // Any failure (the network, the server, or an unexpected one: a client library exception, a malformed
            // field) is a failed attempt, retried after the retry period; the campaign never ends on one.
            LogLeaseError(_logger, _options.LeaseNamespace, _options.LeaseName, ApiErrors.Describe(e));
            return false;
        }
        catch (OperationCanceledException)
        {
            return false;
        }

        // Taken once the answer is in: a record counts as seen when it arrived, not when it was asked for (the holder
        // may have renewed while a slow read was under way). Wall time only for what is written into the Lease; every
        // duration is measured on the monotonic clock.
        DateTimeOffset now = _time.GetUtcNow();
        long stamp = _time.GetTimestamp();
        try
        {
            if (lease is null)
            {
                var created = new V1Lease
                {
                    ApiVersion = "coordination.k8s.io/v1",
                    Kind = "Lease",
                    Metadata = new V1ObjectMeta { Name = _options.LeaseName, NamespaceProperty = _options.LeaseNamespace },
                    Spec = new V1LeaseSpec
                    {
                        HolderIdentity = _options.Identity,
                        LeaseDurationSeconds = (int)Math.Ceiling(_options.LeaseDuration.TotalSeconds),
                        AcquireTime = now.UtcDateTime,
                        RenewTime = now.UtcDateTime,
                        LeaseTransitions = 0,
                    },
                };
                created = await _client.CoordinationV1.CreateNamespacedLeaseAsync(created, _options.LeaseNamespace, cancellationToken: cancellationToken).ConfigureAwait(false);
                Observe(created, stamp);
                return true;
            }

            Observe(lease, stamp);
            V1LeaseSpec spec = lease.Spec ??= new V1LeaseSpec();
            bool ours = spec.HolderIdentity == _options.Identity;
            if (!ours && !string.IsNullOrEmpty(spec.HolderIdentity) && _time.GetElapsedTime(_observedAt, stamp) < HolderLeaseDuration(spec))
            {
                return false; // held by another replica whose record changed less than its lease duration ago
            }

            if (!ours)
            {
                spec.AcquireTime = now.UtcDateTime;
                spec.LeaseTransitions = (spec.LeaseTransitions ?? 0) + 1;
                spec.HolderIdentity = _options.Identity;
            }

            spec.RenewTime = now.UtcDateTime;
            spec.LeaseDurationSeconds = (int)Math.Ceiling(_options.LeaseDuration.TotalSeconds);
            // ReplaceNamespacedLease sends the resourceVersion read above: a concurrent writer makes this a 409.
            V1Lease replaced = await _client.CoordinationV1.ReplaceNamespacedLeaseAsync(lease, _options.LeaseName, _options.LeaseNamespace, cancellationToken: cancellationToken).ConfigureAwait(false);
            Observe(replaced, stamp);
            return true;
        }
        catch (HttpOperationException e) when (ApiErrors.IsConflict(e))
        {
            return false; // another replica wrote first; observe its record on the next attempt
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            // Any failure (the network, the server, or an unexpected one: a client library exception, a malformed
            // field) is a failed attempt, retried after the retry period; the campaign never ends on one.
            LogLeaseError(_logger, _options.LeaseNamespace, _options.LeaseName, ApiErrors.Describe(e));
            return false;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    /// <summary>
    /// How long the holder's record stands: the duration the holder wrote into it (its renew deadline is shorter than
    /// that, not than this replica's <c>--lease-duration</c>, which may differ during a rollout), or this replica's
    /// own when the record carries none.
    /// </summary>
    private TimeSpan HolderLeaseDuration(V1LeaseSpec spec) =>
        spec.LeaseDurationSeconds is int seconds && seconds > 0 ? TimeSpan.FromSeconds(seconds) : _options.LeaseDuration;

    private void Observe(V1Lease lease, long stamp)
    {
        string? holder = lease.Spec?.HolderIdentity;
        DateTime? renew = lease.Spec?.RenewTime;
        if (holder != _observedHolder || renew != _observedRenewTime || _observedResourceVersion is null)
        {
            _observedAt = stamp;
        }

        _observedHolder = holder;
        _observedRenewTime = renew;
        _observedResourceVersion = lease.Metadata?.ResourceVersion;
    }

    /// <summary>Gives the Lease up (holder cleared) so a successor takes over at once.</summary>
    private async Task ReleaseAsync()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        try
        {
            V1Lease lease = await _client.CoordinationV1.ReadNamespacedLeaseAsync(_options.LeaseName, _options.LeaseNamespace, cancellationToken: timeout.Token).ConfigureAwait(false);
            if (lease.Spec?.HolderIdentity != _options.Identity)
            {
                return;
            }

            lease.Spec.HolderIdentity = null;
            lease.Spec.LeaseDurationSeconds = 1;
            lease.Spec.RenewTime = _time.GetUtcNow().UtcDateTime;
            await _client.CoordinationV1.ReplaceNamespacedLeaseAsync(lease, _options.LeaseName, _options.LeaseNamespace, cancellationToken: timeout.Token).ConfigureAwait(false);
            LogReleased(_logger, _options.Identity, _options.LeaseNamespace, _options.LeaseName);
        }
        catch (Exception e)
        {
            LogLeaseError(_logger, _options.LeaseNamespace, _options.LeaseName, ApiErrors.Describe(e));
        }
    }

    [LoggerMessage(EventId = 30, Level = LogLevel.Information, Message = "{Identity} now leads (Lease {Namespace}/{Name})")]
    private static partial void LogAcquired(ILogger logger, string identity, string @namespace, string name);

    [LoggerMessage(EventId = 31, Level = LogLevel.Warning, Message = "{Identity} lost the Lease {Namespace}/{Name}: stopped writing")]
    private static partial void LogLost(ILogger logger, string identity, string @namespace, string name);

    [LoggerMessage(EventId = 32, Level = LogLevel.Information, Message = "{Identity} released the Lease {Namespace}/{Name}")]
    private static partial void LogReleased(ILogger logger, string identity, string @namespace, string name);

    [LoggerMessage(EventId = 34, Level = LogLevel.Error, Message = "{Identity} stopped leading: its work failed; campaigning again after the retry period")]
    private static partial void LogLeadFailed(ILogger logger, string identity, Exception exception);

    [LoggerMessage(EventId = 33, Level = LogLevel.Warning, Message = "Lease {Namespace}/{Name}: {Error}")]
    private static partial void LogLeaseError(ILogger logger, string @namespace, string name, string error);
}
