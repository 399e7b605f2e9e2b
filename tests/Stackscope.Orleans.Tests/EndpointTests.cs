using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Security.Claims;
using System.Text.Encodings.Web;
using System.Text.Json;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Runtime;
using Stackscope.Tests;
using Xunit.Abstractions;

namespace Stackscope.Orleans.Tests;

/// <summary>A real ASP.NET Core host with a co-hosted silo, the endpoint mapped twice (loopback-only; behind a policy), fetched over HTTP.</summary>
[Collection("orleans")]
public sealed class EndpointTests(ITestOutputHelper output) : IAsyncLifetime
{
    private const string Key = "stackscope-test-key";
    private WebApplication _app = null!;
    private string _loopback = null!;
    private string? _remote;

    public async Task InitializeAsync()
    {
        WebApplicationBuilder builder = WebApplication.CreateBuilder();
        builder.Logging.ClearProviders();
        string? external = Dns.GetHostAddresses(Dns.GetHostName()).FirstOrDefault(a => a.AddressFamily == AddressFamily.InterNetwork && !IPAddress.IsLoopback(a))?.ToString();
        builder.WebHost.UseUrls(external is null ? ["http://127.0.0.1:0"] : ["http://127.0.0.1:0", $"http://{external}:0"]);
        builder.UseOrleans(silo => silo
            .UseLocalhostClustering(siloPort: FreePort(), gatewayPort: FreePort())
            .AddStackscope(o => { o.TrackRequests = true; o.StuckThreshold = TimeSpan.Zero; }));
        builder.Services.AddAuthentication("key").AddScheme<AuthenticationSchemeOptions, KeyHandler>("key", null);
        builder.Services.AddAuthorization(o => o.AddPolicy("stackscope-admin", p => p.RequireAuthenticatedUser()));
        _app = builder.Build();
        _app.UseAuthentication();
        _app.UseAuthorization();
        _app.MapStackscope("/admin/stackscope");
        _app.MapStackscope("/secure/stackscope", o => o.Policy = "stackscope-admin");
        await _app.StartAsync();
        string[] addresses = _app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.ToArray();
        _loopback = addresses.First(a => a.Contains("127.0.0.1", StringComparison.Ordinal));
        _remote = addresses.FirstOrDefault(a => !a.Contains("127.0.0.1", StringComparison.Ordinal));
    }

    public async Task DisposeAsync()
    {
        Gate.ReleaseAll();
        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    [Fact]
    public async Task Endpoint_serves_json_and_html_on_loopback_and_refuses_the_unauthorized()
    {
        Task<string> call = _app.Services.GetRequiredService<IGrainFactory>().GetGrain<IStuckGrain>("web-json").Wait();
        await ClusterTests.Suspended("web-json");
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };

        // JSON, from loopback.
        HttpResponseMessage json = await http.GetAsync($"{_loopback}/admin/stackscope");
        Assert.Equal(HttpStatusCode.OK, json.StatusCode);
        Assert.Equal("application/json", json.Content.Headers.ContentType!.MediaType);
        using JsonDocument document = JsonDocument.Parse(await json.Content.ReadAsStringAsync());
        Assert.Equal("stackscope-orleans/3", document.RootElement.GetProperty("schema").GetString());
        JsonElement request = document.RootElement.GetProperty("stuck").EnumerateArray()
            .Select(static c => c.GetProperty("request")).Single(r => r.GetProperty("grain").GetString() == "stuck/web-json");
        Assert.Equal("IStuckGrain.Wait", request.GetProperty("method").GetString());
        Assert.Equal("Running", request.GetProperty("state").GetString());
        JsonElement frame = request.GetProperty("stack").GetProperty("frames").EnumerateArray().Single();
        Assert.Equal("async Task<string> StuckGrain.Wait()", frame.GetProperty("name").GetString());
        Assert.Equal(ClusterTests.Line("stuck-await"), frame.GetProperty("line").GetInt32());
        Assert.Equal("TaskCompletionSource<string>.Task", request.GetProperty("stack").GetProperty("leaf").GetProperty("description").GetString());

        // Text, from loopback: what ClusterStacks.ToString() prints; a format it does not know is refused with its reason.
        HttpResponseMessage text = await http.GetAsync($"{_loopback}/admin/stackscope?format=text");
        Assert.Equal(HttpStatusCode.OK, text.StatusCode);
        Assert.Equal("text/plain", text.Content.Headers.ContentType!.MediaType);
        string body = await text.Content.ReadAsStringAsync();
        Assert.StartsWith("Orleans cluster: ", body);
        Assert.Contains($"stuck/web-json [StuckGrain] on ", body);
        Assert.Contains($"Grains.cs:line {ClusterTests.Line("stuck-await")}", body);
        foreach (string bad in new[] { "format=xml", "format=text&format=json", "format=" })
        {
            HttpResponseMessage refused = await http.GetAsync($"{_loopback}/admin/stackscope?{bad}");
            Assert.Equal(HttpStatusCode.BadRequest, refused.StatusCode);
            Assert.Contains("format must be given once, as json or text", await refused.Content.ReadAsStringAsync());
        }

        // HTML, from loopback.
        HttpResponseMessage page = await http.GetAsync($"{_loopback}/admin/stackscope/html");
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        Assert.Equal("text/html", page.Content.Headers.ContentType!.MediaType);
        string html = await page.Content.ReadAsStringAsync();
        Assert.Contains("<span class=\"ss-title\">stuck/web-json</span>", html);
        Assert.Contains($"Grains.cs:line {ClusterTests.Line("stuck-await")}", html);
        Assert.Contains("async Task&lt;string&gt; StuckGrain.Wait()", html);

        // Not from another interface without a policy.
        if (_remote is { } remote)
        {
            HttpResponseMessage refused = await http.GetAsync($"{remote}/admin/stackscope");
            Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
        }
        else
        {
            output.WriteLine("no non-loopback IPv4 address on this machine: the remote refusal was not exercised");
        }

        // Behind a policy: anonymous refused, authenticated served.
        Assert.Equal(HttpStatusCode.Unauthorized, (await http.GetAsync($"{_loopback}/secure/stackscope")).StatusCode);
        using var authorized = new HttpRequestMessage(HttpMethod.Get, $"{_loopback}/secure/stackscope/html") { Headers = { { "X-Stackscope-Key", Key } } };
        HttpResponseMessage allowed = await http.SendAsync(authorized);
        Assert.Equal(HttpStatusCode.OK, allowed.StatusCode);
        Assert.Contains("stuck/web-json", await allowed.Content.ReadAsStringAsync());

        Gate.For("web-json").Release.SetResult("web");
        Assert.Equal("web from web-json", await call);
    }

    [Theory]
    [InlineData("threshold=1e12", "threshold: at most 86400 seconds")]
    [InlineData("threshold=Infinity", "threshold: not a number of seconds")]
    [InlineData("threshold=1e308", "threshold: at most 86400 seconds")]
    [InlineData("threshold=1&threshold=2", "threshold: give one value, not 2")]
    [InlineData("threshold=abc", "threshold: not a number of seconds")]
    [InlineData("threshold=-5", "threshold: must not be negative")]
    [InlineData("threshold=NaN", "threshold: not a number of seconds")]
    [InlineData("threshold=", "threshold: no value given")]
    public async Task A_bad_threshold_is_answered_400_with_its_reason_never_5xx(string query, string reason)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
        foreach (string path in new[] { "/admin/stackscope", "/admin/stackscope/html" })
        {
            HttpResponseMessage response = await http.GetAsync($"{_loopback}{path}?{query}");
            string body = await response.Content.ReadAsStringAsync();
            output.WriteLine($"{path}?{query}: {(int)response.StatusCode} {body}");
            Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
            Assert.Contains(reason, body);
        }
        HttpResponseMessage good = await http.GetAsync($"{_loopback}/admin/stackscope?threshold=2.5");
        Assert.Equal(HttpStatusCode.OK, good.StatusCode);
        using JsonDocument document = JsonDocument.Parse(await good.Content.ReadAsStringAsync());
        Assert.Equal(2.5, document.RootElement.GetProperty("thresholdSeconds").GetDouble());
    }

    [Fact]
    public async Task Html_page_renders_in_headless_Chromium()
    {
        // A chain on this silo: web-a → web-b → stuck web-html, so the page shows nested calls.
        SiloAddress silo = _app.Services.GetRequiredService<ILocalSiloDetails>().SiloAddress;
        Task<string> call = _app.Services.GetRequiredService<IGrainFactory>().GetGrain<IRelayGrain>("web-a").Call(["web-b", "stuck-web-html"], [silo, silo]);
        await ClusterTests.Suspended("web-a");
        await ClusterTests.Suspended("web-b");
        await ClusterTests.Suspended("stuck-web-html");
        string url = $"{_loopback}/admin/stackscope/html";
        string artifacts = Path.GetFullPath(Path.Combine(Path.GetDirectoryName(SourceLines.ThisFile())!, "../../artifacts"));
        Directory.CreateDirectory(artifacts);
        string screenshot = Path.Combine(artifacts, "orleans-admin-page.png");
        File.Delete(screenshot);

        string dom = await Chromium($"--dump-dom {url}");
        await Chromium($"--window-size=1280,720 --screenshot={screenshot} {url}");

        foreach (string grain in new[] { "relay/web-a", "relay/web-b", "stuck/stuck-web-html" })
        {
            Assert.Contains($"<span class=\"ss-title\">{grain}</span>", dom);
        }
        Assert.Contains($"Grains.cs:line {ClusterTests.Line("relay-forward")}", dom);
        Assert.Contains("<details open=\"\" class=\"ss-item\">", dom);
        byte[] png = await File.ReadAllBytesAsync(screenshot);
        Assert.True(png.Length > 10_000, $"{png.Length} bytes");
        Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }, png[..4]);
        output.WriteLine($"screenshot: {screenshot} ({png.Length} bytes)");

        Gate.For("stuck-web-html").Release.SetResult("web");
        Assert.Equal("web from stuck-web-html via web-b via web-a", await call);
    }

    /// <summary>Debian's Chromium, headless, with the flags this machine's closed network needs (scripts/ensure-chromium.sh installs it).</summary>
    private static async Task<string> Chromium(string arguments)
    {
        string profile = Directory.CreateTempSubdirectory("stackscope-chromium-").FullName;
        var start = new ProcessStartInfo("chromium",
            $"--headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking --disable-component-update --disable-sync --hide-scrollbars --user-data-dir={profile} {arguments}")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using Process process = Process.Start(start)!;
        Task<string> stdout = process.StandardOutput.ReadToEndAsync();
        Task<string> stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true); // ended by its id, never by name
            throw new TimeoutException($"chromium did not finish within 60 s: {arguments}");
        }
        Assert.True(process.ExitCode == 0, $"chromium exited {process.ExitCode}: {await stderr}");
        Directory.Delete(profile, recursive: true);
        return await stdout;
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>Authenticates requests carrying the test's key: enough to exercise the endpoint's policy.</summary>
    private sealed class KeyHandler(IOptionsMonitor<AuthenticationSchemeOptions> options, ILoggerFactory logger, UrlEncoder encoder)
        : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
    {
        protected override Task<AuthenticateResult> HandleAuthenticateAsync() =>
            Task.FromResult(Request.Headers["X-Stackscope-Key"] == Key
                ? AuthenticateResult.Success(new AuthenticationTicket(new ClaimsPrincipal(new ClaimsIdentity([new Claim(ClaimTypes.Name, "admin")], "key")), "key"))
                : AuthenticateResult.NoResult());
    }
}
