using System.Buffers;
using System.IO.Pipelines;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core.Features;

namespace BelizeMesh.Proxy.Hosting;

/// <summary>
/// Lets one cleartext listener serve both HTTP/1.1 and HTTP/2 with prior knowledge (h2c, RFC 9113 3.3), as the
/// outbound listener must for local apps. Kestrel in .NET 10 picks HTTP/1.1 for every cleartext connection on an
/// <c>Http1AndHttp2</c> endpoint (it would need ALPN to choose). This connection middleware peeks — without
/// consuming — at the first bytes; when they are the HTTP/2 connection preface it publishes an application protocol
/// of <c>h2</c> the way a TLS handshake would, which is the signal Kestrel's protocol selection reads. No TLS
/// handshake feature is published, so nothing claims the connection is encrypted, and the request scheme comes from
/// the client's <c>:scheme</c> (<c>KestrelServerOptions.AllowAlternateSchemes</c>).
/// </summary>
internal static class H2cPriorKnowledge
{
    // "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
    private static ReadOnlySpan<byte> Preface => "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"u8;

    public static Func<ConnectionDelegate, ConnectionDelegate> Middleware => next => async connection =>
    {
        if (await StartsWithPrefaceAsync(connection.Transport.Input, connection.ConnectionClosed, connection.Features.Get<ListenerGuard.Deadline>()).ConfigureAwait(false))
        {
            var feature = new NegotiatedH2Feature();
            connection.Features.Set<ITlsApplicationProtocolFeature>(feature);
            connection.Features.Set<ITlsConnectionFeature>(feature);
        }

        await next(connection).ConfigureAwait(false);
    };

    /// <summary>Reads until the bytes seen either diverge from the preface or contain all of it; consumes nothing.
    /// Bytes that leave it undecided start <paramref name="deadline"/>'s sniff timeout (an outbound connection that sent
    /// nothing was only idle until then).</summary>
    internal static async ValueTask<bool> StartsWithPrefaceAsync(PipeReader input, CancellationToken cancellationToken, ListenerGuard.Deadline? deadline = null)
    {
        while (true)
        {
            ReadResult result;
            try
            {
                result = await input.ReadAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return false;
            }

            ReadOnlySequence<byte> buffer = result.Buffer;
            Verdict verdict = Check(buffer);
            input.AdvanceTo(buffer.Start, verdict == Verdict.NeedMore ? buffer.End : buffer.Start);
            if (verdict != Verdict.NeedMore)
            {
                return verdict == Verdict.Http2;
            }

            if (!buffer.IsEmpty)
            {
                deadline?.FirstByte();
            }

            if (result.IsCompleted || result.IsCanceled)
            {
                return false;
            }
        }
    }

    private enum Verdict
    {
        NeedMore,
        Http2,
        NotHttp2,
    }

    private static Verdict Check(ReadOnlySequence<byte> buffer)
    {
        int length = (int)Math.Min(buffer.Length, Preface.Length);
        Span<byte> head = stackalloc byte[Preface.Length];
        buffer.Slice(0, length).CopyTo(head);
        if (!head[..length].SequenceEqual(Preface[..length]))
        {
            return Verdict.NotHttp2;
        }

        return length == Preface.Length ? Verdict.Http2 : Verdict.NeedMore;
    }

    private sealed class NegotiatedH2Feature : ITlsApplicationProtocolFeature, ITlsConnectionFeature
    {
        private static readonly ReadOnlyMemory<byte> s_h2 = "h2"u8.ToArray();

        public ReadOnlyMemory<byte> ApplicationProtocol => s_h2;

        public X509Certificate2? ClientCertificate
        {
            get => null;
            set => throw new NotSupportedException("cleartext HTTP/2 has no client certificate");
        }

        public Task<X509Certificate2?> GetClientCertificateAsync(CancellationToken cancellationToken) => Task.FromResult<X509Certificate2?>(null);
    }
}
