using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using BelizeMesh.Injector.Server;

namespace BelizeMesh.Injector.Tests.Support;

/// <summary>A real <c>serve</c> (Kestrel, HTTPS, throwaway ECDSA certificate) on 127.0.0.1, port 0.</summary>
public sealed class ServerFixture : IAsyncLifetime
{
    private TestCertificates? _certs;

    internal InjectorServer Server { get; private set; } = null!;

    public HttpClient Client { get; private set; } = null!;

    internal string? ConfigPath { get; init; }

    public async Task InitializeAsync()
    {
        _certs = new TestCertificates();
        Server = await InjectorServer.StartAsync(
            new ServeOptions(new IPEndPoint(IPAddress.Loopback, 0), _certs.CertPath, _certs.KeyPath, ConfigPath),
            configureLogging: _ => { });
        Client = CreateClient(Server.Endpoint.Port, _certs);
    }

    /// <summary>A client that trusts exactly the test certificate.</summary>
    internal static HttpClient CreateClient(int port, TestCertificates certs, Version? version = null)
    {
        string expected = certs.Certificate.GetCertHashString();
        var handler = new SocketsHttpHandler();
        handler.SslOptions.RemoteCertificateValidationCallback = (_, certificate, _, _) => certificate?.GetCertHashString() == expected;
        return new HttpClient(handler)
        {
            BaseAddress = new Uri($"https://127.0.0.1:{port}"),
            DefaultRequestVersion = version ?? HttpVersion.Version11,
            DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact,
        };
    }

    public async Task DisposeAsync()
    {
        Client.Dispose();
        await Server.DisposeAsync();
        _certs?.Dispose();
    }

    /// <summary>POSTs a review to /inject and returns status, body and, for 200, the parsed response.</summary>
    internal static async Task<(HttpStatusCode Status, string Body, JsonObject? Response)> PostAsync(HttpClient client, JsonNode review)
    {
        using var content = new StringContent(review.ToJsonString(), Encoding.UTF8);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        using HttpResponseMessage response = await client.PostAsync("/inject", content);
        string body = await response.Content.ReadAsStringAsync();
        JsonObject? parsed = response.StatusCode == HttpStatusCode.OK ? JsonNode.Parse(body)!["response"]!.AsObject() : null;
        return (response.StatusCode, body, parsed);
    }

    /// <summary>The decoded JSON Patch of an admission response, or null when it has none.</summary>
    internal static JsonArray? Patch(JsonObject response) =>
        response["patch"] is { } b64 ? JsonNode.Parse(Convert.FromBase64String(b64.GetValue<string>()))!.AsArray() : null;
}
