using System.Net;
using System.Net.Sockets;
using System.Text;

namespace BelizeMesh.Proxy.Tests.EndToEnd;

/// <summary>The outbound listener as an HTTP proxy (HTTP_PROXY): absolute-form requests route by the URI's authority;
/// CONNECT gets a clear 501.</summary>
public sealed class OutboundProxyFormTests : IAsyncLifetime
{
    private TestApp _app = null!;
    private Sidecar _server = null!;
    private Sidecar _client = null!;

    public async Task InitializeAsync()
    {
        _app = await TestApp.StartAsync("proxy-form-app");
        _server = await Sidecar.StartAsync(Sidecar.Policy(_app.Url));
        _client = await Sidecar.StartAsync(Sidecar.Policy("http://127.0.0.1:1", outboundRoutes: Sidecar.Route("nawal.test", $"\"{_server.InboundEndpoint}\"")));
    }

    public async Task DisposeAsync()
    {
        await _client.DisposeAsync();
        await _server.DisposeAsync();
        await _app.DisposeAsync();
    }

    private async Task<string> RawAsync(string request)
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(_client.Host.OutboundEndPoint);
        await socket.SendAsync(Encoding.ASCII.GetBytes(request));
        var response = new StringBuilder();
        byte[] buffer = new byte[4096];
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        int read;
        while ((read = await socket.ReceiveAsync(buffer, timeout.Token)) > 0)
        {
            response.Append(Encoding.ASCII.GetString(buffer, 0, read));
            string text = response.ToString();
            int headersEnd = text.IndexOf("\r\n\r\n", StringComparison.Ordinal);
            if (headersEnd >= 0 && System.Text.RegularExpressions.Regex.Match(text, @"(?i)content-length: (\d+)") is { Success: true } length
                && text.Length - headersEnd - 4 >= int.Parse(length.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture))
            {
                break;
            }
        }

        return response.ToString();
    }

    [Fact]
    public async Task Client_with_HTTP_PROXY_set_reaches_the_route_of_the_URI_authority()
    {
        using var handler = new SocketsHttpHandler { Proxy = new WebProxy($"http://{_client.OutboundEndpoint}"), UseProxy = true };
        using var http = new HttpClient(handler);

        using HttpResponseMessage response = await http.GetAsync("http://nawal.test/echo");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task Absolute_form_whose_Host_header_disagrees_is_refused_with_400()
    {
        string response = await RawAsync("GET http://nawal.test/echo HTTP/1.1\r\nHost: other.test\r\nConnection: close\r\n\r\n");
        Assert.StartsWith("HTTP/1.1 400", response, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Connect_gets_501_with_the_reason()
    {
        string response = await RawAsync("CONNECT nawal.test:443 HTTP/1.1\r\nHost: nawal.test:443\r\n\r\n");
        Assert.StartsWith("HTTP/1.1 501", response, StringComparison.Ordinal);
        Assert.Contains("belizemesh: CONNECT tunnels are not supported by the outbound listener", response, StringComparison.Ordinal);
    }
}
