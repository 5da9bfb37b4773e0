using BelizeMesh.Channel.Middleware;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace BelizeMesh.Channel;

/// <summary>Kestrel endpoint configuration for the post-quantum channel.</summary>
public static class ListenOptionsPqChannelExtensions
{
    /// <summary>
    /// Terminates the post-quantum channel (docs/protocol.md) on this endpoint: every accepted connection must complete
    /// the handshake within <see cref="PqChannelOptions.HandshakeTimeout"/>; what follows in the pipeline sees the
    /// decrypted stream and an <see cref="IPqChannelFeature"/> naming the authenticated client.
    /// </summary>
    /// <exception cref="InvalidOperationException">The options are incomplete (the message names the missing setting).</exception>
    public static ListenOptions UsePqChannel(this ListenOptions listenOptions, PqChannelOptions options)
    {
        ArgumentNullException.ThrowIfNull(listenOptions);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate(); // fail at configuration time, not on the first connection
        ILoggerFactory loggerFactory = listenOptions.ApplicationServices.GetService<ILoggerFactory>() ?? NullLoggerFactory.Instance;
        listenOptions.Use(next => new PqChannelConnectionMiddleware(next, options, loggerFactory).OnConnectionAsync);
        return listenOptions;
    }

    /// <summary>
    /// Gives Kestrel's socket transport blocks that hold whole records (<see cref="RecordSizedMemoryPoolFactory"/>)
    /// instead of 4 KiB ones, so a channel record arrives in one receive instead of four. Applies to every listener of
    /// the host. Call before the host is built.
    /// </summary>
    public static IServiceCollection AddPqChannelMemoryPool(this IServiceCollection services, int blockSize = RecordSizedMemoryPoolFactory.DefaultBlockSize)
    {
        ArgumentNullException.ThrowIfNull(services);
        services.AddSingleton<IMemoryPoolFactory<byte>>(new RecordSizedMemoryPoolFactory(blockSize));
        return services;
    }
}
