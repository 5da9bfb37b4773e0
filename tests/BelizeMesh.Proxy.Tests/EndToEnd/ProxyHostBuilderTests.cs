using BelizeMesh.Proxy.Hosting;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace BelizeMesh.Proxy.Tests.EndToEnd;

/// <summary>
/// The sidecar builds its host from <c>WebApplication.CreateEmptyBuilder</c> (perf/README.md, "footprint, round 6") and
/// adds back only what it documents: log levels from environment variables (docs/policy.md, "Logs"), Kestrel, and the
/// console lifetime that turns SIGTERM into a drain. Each test uses an environment variable name of its own, so tests
/// running side by side in this process do not see each other's settings.
/// </summary>
public sealed class ProxyHostBuilderTests
{
    [Fact]
    public async Task Log_levels_come_from_environment_variables_as_docs_policy_md_describes()
    {
        const string Category = "BelizeMeshBuilderProbe.Quiet";
        Environment.SetEnvironmentVariable("Logging__LogLevel__" + Category, "Error");
        try
        {
            WebApplicationBuilder builder = ProxyHost.CreateBuilder();
            builder.Logging.AddProvider(new ProbeProvider());
            await using WebApplication app = builder.Build();
            ILogger logger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger(Category);
            ILogger other = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("BelizeMeshBuilderProbe.Other");

            Assert.Equal("Error", app.Configuration["Logging:LogLevel:" + Category]);
            Assert.False(logger.IsEnabled(LogLevel.Warning));
            Assert.True(logger.IsEnabled(LogLevel.Error));
            Assert.True(other.IsEnabled(LogLevel.Information));
        }
        finally
        {
            Environment.SetEnvironmentVariable("Logging__LogLevel__" + Category, null);
        }
    }

    [Fact]
    public async Task Builder_has_kestrel_and_the_console_lifetime_and_reads_no_appsettings_file()
    {
        WebApplicationBuilder builder = ProxyHost.CreateBuilder();
        await using WebApplication app = builder.Build();

        Assert.StartsWith("KestrelServer", app.Services.GetRequiredService<IServer>().GetType().Name, StringComparison.Ordinal);
        Assert.Equal("ConsoleLifetime", app.Services.GetRequiredService<IHostLifetime>().GetType().Name);
        Assert.DoesNotContain(((IConfigurationRoot)app.Configuration).Providers, p => p is Microsoft.Extensions.Configuration.Json.JsonConfigurationProvider);
    }

    private sealed class ProbeProvider : ILoggerProvider
    {
        public ILogger CreateLogger(string categoryName) => new ProbeLogger();

        public void Dispose()
        {
        }

        private sealed class ProbeLogger : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state)
                where TState : notnull => null;

            public bool IsEnabled(LogLevel logLevel) => true;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
            {
            }
        }
    }
}
