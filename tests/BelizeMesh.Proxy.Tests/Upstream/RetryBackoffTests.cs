using System.Net.Http;
using BelizeMesh.Configuration;
using BelizeMesh.Proxy.Configuration;
using BelizeMesh.Proxy.Forwarding;
using BelizeMesh.Proxy.Metrics;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Yarp.ReverseProxy.Forwarder;

namespace BelizeMesh.Proxy.Tests.Upstream;

/// <summary>The wait before a retry (Envoy's fully jittered exponential back-off), on a fake clock and a controlled random
/// source: the engine runs against a scripted forwarder, so every attempt's start time is exact.</summary>
public sealed class RetryBackoffTests : IDisposable
{
    private static readonly TimeSpan s_wait = TimeSpan.FromSeconds(10); // a guard against a hang, not a timing assertion

    private readonly ServiceProvider _services = new ServiceCollection().AddMetrics().BuildServiceProvider();
    private readonly TimerClock _clock = new();

    public void Dispose()
    {
        _services.Dispose();
        _clock.Dispose();
    }

    [Theory]
    [InlineData(1, 0.0, 0.0)]
    [InlineData(1, 0.5, 12.5)] // [0, 25 ms)
    [InlineData(1, 0.75, 18.75)]
    [InlineData(2, 0.75, 56.25)] // [0, 75 ms)
    [InlineData(3, 0.5, 87.5)] // [0, 175 ms)
    [InlineData(3, 0.75, 131.25)]
    [InlineData(4, 0.5, 187.5)] // [0, 375 ms) cut to 250 ms
    [InlineData(4, 0.75, 250.0)]
    [InlineData(10, 0.75, 250.0)]
    public void Backoff_is_drawn_from_an_exponentially_growing_window_and_capped_at_ten_base_intervals(int retry, double sample, double expectedMs)
        => Assert.Equal(TimeSpan.FromMilliseconds(expectedMs), RetryBackoff.Interval(RetryBackoff.DefaultBase, retry, sample));

    [Fact]
    public async Task Retry_waits_a_jittered_backoff_before_the_next_attempt_and_the_first_attempt_does_not_wait()
    {
        var forwarder = new ScriptedForwarder(_clock, attempt => attempt < 2 ? Answer.ConnectFailure : Answer.Ok);
        DateTimeOffset start = _clock.GetUtcNow();
        (Task forwarding, HttpContext context, _) = Forward(forwarder, Plan(attempts: 1), random: 0.4);

        // the first attempt went at once; the retry waits 0.4 x (2^1 - 1) x 25 ms = 10 ms (a whole number of
        // milliseconds: timers, the fake clock's too, count whole milliseconds, so 12.5 ms would fire at 12)
        Assert.Equal([start], forwarder.Starts);
        await _clock.WaitForTimersAsync(1);
        _clock.Advance(TimeSpan.FromMilliseconds(10) - TimeSpan.FromTicks(1));
        Assert.Single(forwarder.Starts);
        _clock.Advance(TimeSpan.FromTicks(1));
        await forwarding.WaitAsync(s_wait);

        Assert.Equal([start, start + TimeSpan.FromMilliseconds(10)], forwarder.Starts);
        Assert.Equal(StatusCodes.Status200OK, context.Response.StatusCode);
    }

    [Fact]
    public async Task Each_retry_waits_longer_up_to_the_max_interval()
    {
        var forwarder = new ScriptedForwarder(_clock, _ => Answer.ConnectFailure);
        DateTimeOffset start = _clock.GetUtcNow();
        (Task forwarding, _, _) = Forward(forwarder, Plan(attempts: 4), random: 0.75);

        // 0.75 x 25 ms x 1, 3, 7, 15 — the last cut to 250 ms
        double[] waits = [18.75, 56.25, 131.25, 250];
        for (int i = 0; i < waits.Length; i++)
        {
            await _clock.WaitForTimersAsync(i + 1);
            _clock.Advance(TimeSpan.FromMilliseconds(waits[i]));
        }

        await forwarding.WaitAsync(s_wait);
        Assert.Equal(
            [0, 18.75, 75, 206.25, 456.25],
            forwarder.Starts.Select(t => (t - start).TotalMilliseconds));
    }

    [Fact]
    public async Task Client_that_goes_away_during_the_backoff_gets_no_further_attempt()
    {
        var forwarder = new ScriptedForwarder(_clock, _ => Answer.ConnectFailure);
        using var aborted = new CancellationTokenSource();
        (Task forwarding, _, RequestState state) = Forward(forwarder, Plan(attempts: 3), random: 0.5, aborted.Token);

        await _clock.WaitForTimersAsync(1);
        aborted.Cancel();
        await forwarding.WaitAsync(s_wait);

        Assert.Single(forwarder.Starts);
        Assert.Equal(ResponseFlag.DownstreamTermination, state.Flag);
    }

    [Fact]
    public async Task Per_try_timeout_of_a_retry_starts_after_its_backoff()
    {
        // per-try 100 ms; the retry waits 0.5 x 1 s = 500 ms, which must not eat into its 100 ms
        var forwarder = new ScriptedForwarder(_clock, attempt => attempt < 2 ? Answer.ConnectFailure : Answer.Silent);
        RetryPlan plan = Plan(attempts: 1, perTryTimeout: TimeSpan.FromMilliseconds(100), backoffBase: TimeSpan.FromSeconds(1));
        DateTimeOffset start = _clock.GetUtcNow();
        (Task forwarding, HttpContext context, _) = Forward(forwarder, plan, random: 0.5);

        await _clock.WaitForTimersAsync(2); // the first attempt's per-try timer, then the back-off
        _clock.Advance(TimeSpan.FromMilliseconds(500));
        await forwarder.WaitForAttemptsAsync(2);
        Assert.Equal([start, start + TimeSpan.FromMilliseconds(500)], forwarder.Starts);
        Assert.Equal([false, false], forwarder.CancelledAtStart);

        _clock.Advance(TimeSpan.FromMilliseconds(99));
        Assert.False(forwarding.IsCompleted);
        _clock.Advance(TimeSpan.FromMilliseconds(1));
        await forwarding.WaitAsync(s_wait);
        Assert.Equal(StatusCodes.Status504GatewayTimeout, context.Response.StatusCode);
    }

    [Fact]
    public async Task Retry_waiting_out_its_backoff_holds_a_retry_budget_slot()
    {
        var forwarder = new ScriptedForwarder(_clock, attempt => attempt < 2 ? Answer.ConnectFailure : Answer.Ok);
        var budget = new RetryBudget(percent: 0, minConcurrency: 1);
        (Task forwarding, _, _) = Forward(forwarder, Plan(attempts: 1), random: 0.5, budget: budget);

        await _clock.WaitForTimersAsync(1);
        Assert.Equal(1, budget.ActiveRetries); // Envoy counts a retry in back-off as active
        Assert.False(budget.TryStartRetry()); // so another request's retry is refused meanwhile

        _clock.Advance(TimeSpan.FromMilliseconds(12.5));
        await forwarding.WaitAsync(s_wait);
        Assert.Equal(0, budget.ActiveRetries);
        Assert.Equal(0, budget.ActiveRequests);
    }

    private static RetryPlan Plan(int attempts, TimeSpan perTryTimeout = default, TimeSpan? backoffBase = null)
        => new(attempts, perTryTimeout, RetryConditions.ConnectFailure | RetryConditions.Reset, [], idempotentOnly: false)
        {
            BackoffBase = backoffBase ?? RetryBackoff.DefaultBase,
        };

    private (Task Forwarding, HttpContext Context, RequestState State) Forward(
        ScriptedForwarder forwarder, RetryPlan plan, double random, CancellationToken aborted = default, RetryBudget? budget = null)
    {
        var engine = new ForwardingEngine(
            forwarder,
            new ProxyMetrics(_services.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>()),
            NullLogger<ForwardingEngine>.Instance,
            new TrafficRandom(new FixedRandom(random)),
            _clock);
        var endpoint = new EndpointState(new EndpointAddress("10.0.0.1", 16443), _clock);
        var target = new UpstreamTarget(
            "nawal.test",
            EndpointSet.Fixed("nawal.test", endpoint),
            LoadBalancer.Create(LoadBalancingPolicy.RoundRobin, null),
            new HttpMessageInvoker(new SocketsHttpHandler()),
            UpstreamTarget.CreateConfig(TimeSpan.Zero, http2: false),
            plan.Attempts,
            outlierThreshold: 0,
            TimeSpan.FromSeconds(30))
        {
            Retry = plan,
            Budget = budget,
        };
        var context = new DefaultHttpContext { RequestAborted = aborted };
        context.Request.Method = HttpMethods.Post;
        context.Request.ContentLength = 0; // a body that can be replayed
        var state = new RequestState(Direction.Outbound, new LocalWorkloadFeature("", null!), null);
        return (engine.ForwardAsync(context, target, state, "nawal.test"), context, state);
    }

    private enum Answer
    {
        Ok,
        ConnectFailure,

        /// <summary>No answer until the attempt is cancelled (its per-try timeout).</summary>
        Silent,
    }

    /// <summary>A forwarder that answers attempt n (1-based) as told, recording when each attempt started.</summary>
    private sealed class ScriptedForwarder(TimeProvider clock, Func<int, Answer> script) : IHttpForwarder
    {
        private readonly SemaphoreSlim _started = new(0);

        public List<DateTimeOffset> Starts { get; } = [];

        public List<bool> CancelledAtStart { get; } = [];

        public async Task WaitForAttemptsAsync(int count)
        {
            while (Volatile.Read(ref _count) < count)
            {
                Assert.True(await _started.WaitAsync(s_wait), $"attempt {count} not made");
            }
        }

        private int _count;

        public ValueTask<ForwarderError> SendAsync(HttpContext context, string destinationPrefix, HttpMessageInvoker httpClient, ForwarderRequestConfig requestConfig, HttpTransformer transformer)
            => SendAsync(context, destinationPrefix, httpClient, requestConfig, transformer, CancellationToken.None);

        public async ValueTask<ForwarderError> SendAsync(HttpContext context, string destinationPrefix, HttpMessageInvoker httpClient, ForwarderRequestConfig requestConfig, HttpTransformer transformer, CancellationToken cancellationToken)
        {
            lock (Starts)
            {
                Starts.Add(clock.GetUtcNow());
                CancelledAtStart.Add(cancellationToken.IsCancellationRequested);
            }

            int attempt = Interlocked.Increment(ref _count);
            _started.Release();
            switch (script(attempt))
            {
                case Answer.Ok:
                    context.Response.StatusCode = StatusCodes.Status200OK;
                    return ForwarderError.None;
                case Answer.ConnectFailure:
                    context.Features.Set<IForwarderErrorFeature>(new Failure(new HttpRequestException(HttpRequestError.ConnectionError, "connection refused")));
                    return ForwarderError.Request;
                default:
                    await Task.Delay(Timeout.InfiniteTimeSpan, cancellationToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                    context.Features.Set<IForwarderErrorFeature>(new Failure(new TaskCanceledException()));
                    return ForwarderError.Request;
            }
        }
    }

    private sealed class Failure(Exception exception) : IForwarderErrorFeature
    {
        public ForwarderError Error => ForwarderError.Request;

        public Exception? Exception => exception;
    }

    /// <summary>A random source that always draws the same number.</summary>
    private sealed class FixedRandom(double value) : Random
    {
        public override double NextDouble() => value;
    }

    /// <summary>A fake clock that also says how many timers were started, so a test advances it only once the code
    /// under test is waiting.</summary>
    private sealed class TimerClock : FakeTimeProvider, IDisposable
    {
        private readonly SemaphoreSlim _created = new(0);
        private int _timers;

        public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
        {
            ITimer timer = base.CreateTimer(callback, state, dueTime, period);
            Interlocked.Increment(ref _timers);
            _created.Release();
            return timer;
        }

        public async Task WaitForTimersAsync(int count)
        {
            while (Volatile.Read(ref _timers) < count)
            {
                Assert.True(await _created.WaitAsync(s_wait), $"timer {count} not started");
            }
        }

        public void Dispose() => _created.Dispose();
    }
}
