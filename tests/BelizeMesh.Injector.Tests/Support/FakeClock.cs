using Microsoft.Extensions.Time.Testing;

namespace BelizeMesh.Injector.Tests.Support;

/// <summary>
/// <see cref="FakeTimeProvider"/> for tests whose watchers also watch a real directory. A file-system event that
/// arrives just as <see cref="FakeTimeProvider.Advance"/> runs re-arms a timer from the event's thread, and the fake
/// clock then runs every due timer (and so the reload) on that thread, after Advance has returned. Such a test waits
/// for the reload it expects instead of assuming it ran inside Advance.
/// </summary>
internal static class FakeClock
{
    /// <summary>Advances <paramref name="time"/> by <paramref name="by"/> and waits (real time, 10 s at most) until
    /// <paramref name="settled"/> holds; the test's assertions that follow say what did not happen.</summary>
    public static void AdvanceUntil(this FakeTimeProvider time, TimeSpan by, Func<bool> settled)
    {
        time.Advance(by);
        SpinWait.SpinUntil(settled, TimeSpan.FromSeconds(10));
    }

    /// <summary>The number of items in a list that handlers on other threads add to under its lock.</summary>
    public static int LockedCount<T>(List<T> list)
    {
        lock (list)
        {
            return list.Count;
        }
    }
}
