using System.Diagnostics;
using System.Net;
using System.Net.Http;
using BelizeMesh.Proxy.Demo;
using BelizeMesh.Proxy.Hosting;

namespace BelizeMesh.Proxy.Tests.EndToEnd;

/// <summary>
/// The sidecar process turns on inline socket completions in <c>Main</c> (<see cref="FootprintDefaults"/>), before the
/// runtime's socket engine reads the variable, and the PQ channel works with them. This has to run in a process of its
/// own: the test host created its sockets long ago. It runs <c>belizemesh-proxy demo</c> (two sidecars with the PQ
/// channel between them, one process) and reads the runtime's own evidence: with inline completions the socket engine
/// starts one epoll thread (".NET Sockets") per core, without them one for up to 30 cores. The same process checks
/// the other setting <c>Main</c> makes for the whole process, the threads' scheduling policy (<see cref="SchedulingPolicy"/>).
/// </summary>
public sealed class InlineSocketCompletionsTests
{
    private static readonly TimeSpan Backstop = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task Sidecar_process_runs_socket_continuations_inline_and_requests_cross_the_pq_channel()
    {
        await using var demo = await DemoProcess.StartAsync(inlineCompletions: null);

        await demo.AssertRequestsCrossThePqChannelAsync();
        if (Environment.ProcessorCount > 1)
        {
            Assert.Equal(Environment.ProcessorCount, demo.SocketEngineThreads());
        }
    }

    [Fact]
    public async Task Operator_value_of_the_inline_completions_variable_wins()
    {
        await using var demo = await DemoProcess.StartAsync(inlineCompletions: "0");

        await demo.AssertRequestsCrossThePqChannelAsync();
        if (Environment.ProcessorCount is > 1 and < 45)
        {
            Assert.Equal(1, demo.SocketEngineThreads());
        }
    }

    [Fact]
    public async Task Every_thread_of_the_sidecar_runs_sched_batch_by_default()
    {
        if (!OperatingSystem.IsLinux())
        {
            return;
        }

        await using var demo = await DemoProcess.StartAsync(inlineCompletions: null);

        await demo.AssertRequestsCrossThePqChannelAsync();
        IReadOnlyList<(string Name, int Policy)> threads = demo.ThreadPolicies();
        Assert.Contains(threads, t => t.Name == ".NET Sockets");
        Assert.All(threads, t => Assert.True(t.Policy == 3, $"thread '{t.Name}' runs policy {t.Policy}, not SCHED_BATCH (3)"));
    }

    [Fact]
    public async Task Operator_can_keep_the_kernels_default_scheduling_policy()
    {
        if (!OperatingSystem.IsLinux())
        {
            return;
        }

        await using var demo = await DemoProcess.StartAsync(inlineCompletions: null, schedulingPolicy: "other");

        await demo.AssertRequestsCrossThePqChannelAsync();
        Assert.All(demo.ThreadPolicies(), t => Assert.True(t.Policy == 0, $"thread '{t.Name}' runs policy {t.Policy}, not SCHED_OTHER (0)"));
    }

    [Fact]
    public async Task A_misspelt_scheduling_policy_is_reported_and_the_sidecar_still_serves()
    {
        if (!OperatingSystem.IsLinux())
        {
            return;
        }

        await using var demo = await DemoProcess.StartAsync(inlineCompletions: null, schedulingPolicy: "bacth");

        await demo.AssertRequestsCrossThePqChannelAsync();
        Assert.Contains("BELIZEMESH_SCHED_POLICY=bacth is not a scheduling policy: set it to 'batch'", demo.Output(), StringComparison.Ordinal);
        Assert.All(demo.ThreadPolicies(), t => Assert.Equal(0, t.Policy));
    }

    private sealed class DemoProcess : IAsyncDisposable
    {
        private readonly Process _process;
        private readonly System.Text.StringBuilder _output = new();

        private DemoProcess(Process process) => _process = process;

        private string Outbound { get; set; } = "";

        public static async Task<DemoProcess> StartAsync(string? inlineCompletions, string? schedulingPolicy = null)
        {
            string proxy = Path.Combine(AppContext.BaseDirectory, "belizemesh-proxy.dll");
            Assert.True(File.Exists(proxy), $"{proxy} not found: the test project references the proxy project, whose build output lands beside the tests");
            var start = new ProcessStartInfo("dotnet", ["exec", proxy, "demo", "--outbound-port", "0"])
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            };
            start.Environment.Remove(FootprintDefaults.InlineSocketCompletionsVariable);
            start.Environment.Remove("DOTNET_SYSTEM_NET_SOCKETS_THREAD_COUNT");
            if (inlineCompletions is not null)
            {
                start.Environment[FootprintDefaults.InlineSocketCompletionsVariable] = inlineCompletions;
            }

            start.Environment.Remove(SchedulingPolicy.Variable);
            if (schedulingPolicy is not null)
            {
                start.Environment[SchedulingPolicy.Variable] = schedulingPolicy;
            }

            var ready = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var demo = new DemoProcess(Process.Start(start)!);
            demo._process.OutputDataReceived += (_, e) =>
            {
                if (e.Data is null)
                {
                    ready.TrySetException(new InvalidOperationException("the demo exited before it was ready:\n" + demo.Output()));
                    return;
                }

                lock (demo._output)
                {
                    demo._output.AppendLine(e.Data);
                }

                var outbound = System.Text.RegularExpressions.Regex.Match(e.Data, @"frontend outbound  (127\.0\.0\.1:\d+)");
                if (outbound.Success)
                {
                    demo.Outbound = outbound.Groups[1].Value;
                }

                if (e.Data.Contains("Press Ctrl+C", StringComparison.Ordinal))
                {
                    ready.TrySetResult();
                }
            };
            demo._process.ErrorDataReceived += (_, e) =>
            {
                lock (demo._output)
                {
                    demo._output.AppendLine(e.Data);
                }
            };
            demo._process.BeginOutputReadLine();
            demo._process.BeginErrorReadLine();
            try
            {
                await ready.Task.WaitAsync(Backstop);
            }
            catch
            {
                await demo.DisposeAsync();
                throw;
            }

            Assert.False(string.IsNullOrEmpty(demo.Outbound), demo.Output());
            return demo;
        }

        public string Output()
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }

        /// <summary>Several requests, each on a new connection to the frontend, through the channel to the backend.</summary>
        public async Task AssertRequestsCrossThePqChannelAsync()
        {
            for (int i = 0; i < 5; i++)
            {
                using var http = new HttpClient(new SocketsHttpHandler { UseProxy = false }) { Timeout = Backstop };
                using var request = new HttpRequestMessage(HttpMethod.Get, $"http://{Outbound}/api/hello");
                request.Headers.Host = DemoMesh.BackendHost;
                using HttpResponseMessage response = await http.SendAsync(request);
                string body = await response.Content.ReadAsStringAsync();
                Assert.True(response.StatusCode == HttpStatusCode.OK, $"{response.StatusCode}: {body}\n{Output()}");
                // The backend saw the frontend's SPIFFE ID: it came through the channel's handshake.
                Assert.Contains("caller spiffe://cluster.local/ns/demo/sa/frontend", body, StringComparison.Ordinal);
            }
        }

        /// <summary>Threads the runtime's socket engine started (named ".NET Sockets").</summary>
        public int SocketEngineThreads()
        {
            int count = 0;
            foreach (string task in Directory.GetDirectories($"/proc/{_process.Id}/task"))
            {
                try
                {
                    if (File.ReadAllText(Path.Combine(task, "comm")).Trim() == ".NET Sockets")
                    {
                        count++;
                    }
                }
                catch (IOException)
                {
                    // the thread exited between the listing and the read
                }
            }

            return count;
        }

        /// <summary>Each thread's name and scheduling policy (field 41 of <c>/proc/PID/task/TID/stat</c>).</summary>
        public IReadOnlyList<(string Name, int Policy)> ThreadPolicies()
        {
            var threads = new List<(string, int)>();
            foreach (string task in Directory.GetDirectories($"/proc/{_process.Id}/task"))
            {
                try
                {
                    string stat = File.ReadAllText(Path.Combine(task, "stat"));
                    // Fields after the parenthesised name start at field 3 (state); the policy is field 41.
                    string[] fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
                    threads.Add((File.ReadAllText(Path.Combine(task, "comm")).Trim(), int.Parse(fields[41 - 3], System.Globalization.CultureInfo.InvariantCulture)));
                }
                catch (IOException)
                {
                    // the thread exited between the listing and the read
                }
            }

            return threads;
        }

        public async ValueTask DisposeAsync()
        {
            if (!_process.HasExited)
            {
                // SIGINT, as Ctrl+C: the demo deletes its keys and certificates on the way out.
                try
                {
                    using Process kill = Process.Start("kill", ["-INT", _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
                    await kill.WaitForExitAsync();
                }
                catch (System.ComponentModel.Win32Exception)
                {
                    // no kill(1) on this machine: the wait below ends in Kill
                }

                using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(30));
                try
                {
                    await _process.WaitForExitAsync(stop.Token);
                }
                catch (OperationCanceledException)
                {
                    _process.Kill(entireProcessTree: true);
                }
            }

            _process.Dispose();
        }
    }
}
