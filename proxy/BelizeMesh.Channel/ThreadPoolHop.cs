using System.Runtime.CompilerServices;

namespace BelizeMesh.Channel;

/// <summary>
/// <c>await ThreadPoolHop.FromEventLoop;</c> moves the rest of a method to a thread-pool thread when it is running
/// anywhere else, and costs nothing when it already runs on one.
/// </summary>
/// <remarks>
/// The sidecar runs socket continuations inline on the socket engine's epoll threads
/// (<c>DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS=1</c>, and Kestrel's <c>UnsafePreferInlineScheduling</c>): a
/// continuation after a receive runs on the thread that waits for every other socket of that engine. Anything that
/// computes for long — the handshake's ML-KEM, ML-DSA and P-256 ECDH work, ~0.4 ms per server handshake — must hop first,
/// or every connection on that epoll thread waits behind it. The epoll threads are not thread-pool threads; the pool's
/// workers are, so the check is <see cref="Thread.IsThreadPoolThread"/>.
/// </remarks>
internal readonly struct ThreadPoolHop : ICriticalNotifyCompletion
{
    private static readonly Action<Action> s_run = static continuation => continuation();

    /// <summary>The awaitable: completes at once on a thread-pool thread, else queues the continuation to the pool.</summary>
    public static ThreadPoolHop FromEventLoop => default;

    public ThreadPoolHop GetAwaiter() => this;

    public bool IsCompleted => Thread.CurrentThread.IsThreadPoolThread;

    public void GetResult()
    {
    }

    public void OnCompleted(Action continuation) => ThreadPool.QueueUserWorkItem(s_run, continuation, preferLocal: false);

    public void UnsafeOnCompleted(Action continuation) => ThreadPool.UnsafeQueueUserWorkItem(s_run, continuation, preferLocal: false);
}
