using System.Net;
using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace Stackscope.Orleans;

/// <summary>Who may read the admin endpoint, and what it lists.</summary>
public sealed class StackscopeEndpointOptions
{
    /// <summary>
    /// An authorization policy the endpoint requires. When null (the default), only requests from the loopback
    /// interface are served; others get 403.
    /// </summary>
    public string? Policy { get; set; }

    /// <summary>Serve requests from other hosts without a policy. Off by default; prefer <see cref="Policy"/>.</summary>
    public bool AllowRemoteWithoutPolicy { get; set; }

    /// <summary>The stuck threshold, when not the silo's <see cref="StackscopeOrleansOptions.StuckThreshold"/>; a request may override it with <c>?threshold=seconds</c>.</summary>
    public TimeSpan? Threshold { get; set; }
}

/// <summary>
/// The admin endpoint of a co-hosted silo: <c>GET {pattern}</c> serves the cluster's stuck requests as JSON,
/// <c>GET {pattern}/html</c> as a page (a tree of expandable call chains with grain and silo names). Reports carry
/// names, lines and timings only: no field or argument values are ever captured.
/// </summary>
public static class StackscopeEndpoints
{
    private static readonly JsonSerializerOptions s_json = new(JsonSerializerDefaults.Web)
    {
        WriteIndented = true,
        Converters = { new JsonStringEnumConverter() },
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    /// <summary>Maps the JSON and HTML views of <see cref="IGrainStacks.GetClusterStacksAsync"/> under <paramref name="pattern"/>.</summary>
    /// <returns>The route group, to add conventions (rate limiting, more authorization).</returns>
    public static RouteGroupBuilder MapStackscope(this IEndpointRouteBuilder endpoints, string pattern = "/admin/stackscope", Action<StackscopeEndpointOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        var options = new StackscopeEndpointOptions();
        configure?.Invoke(options);
        RouteGroupBuilder group = endpoints.MapGroup(pattern);
        if (options.Policy is { } policy)
        {
            group.RequireAuthorization(policy);
        }
        else if (!options.AllowRemoteWithoutPolicy)
        {
            group.AddEndpointFilter(static async (context, next) =>
                context.HttpContext.Connection.RemoteIpAddress is { } remote && IPAddress.IsLoopback(remote)
                    ? await next(context)
                    : Results.Problem("The Stackscope endpoint serves loopback requests only, unless it is given an authorization policy.", statusCode: StatusCodes.Status403Forbidden));
        }
        group.MapGet("/", async (HttpContext http, IGrainStacks stacks) =>
            Results.Json(Json(await Read(http, stacks, options)), s_json));
        group.MapGet("/html", async (HttpContext http, IGrainStacks stacks) =>
            Results.Content(Web.StacksPage.Render(await Read(http, stacks, options)), "text/html; charset=utf-8"));
        return group;
    }

    private static Task<ClusterStacks> Read(HttpContext http, IGrainStacks stacks, StackscopeEndpointOptions options)
    {
        TimeSpan? threshold = options.Threshold;
        if (http.Request.Query.TryGetValue("threshold", out var value) && double.TryParse(value, System.Globalization.CultureInfo.InvariantCulture, out double seconds) && seconds >= 0)
        {
            threshold = TimeSpan.FromSeconds(seconds);
        }
        return stacks.GetClusterStacksAsync(threshold, http.RequestAborted);
    }

    /// <summary>The JSON document: schema tag, threshold, deadlocks, stuck chains, silos.</summary>
    private static object Json(ClusterStacks stacks) => new
    {
        schema = "stackscope-orleans/1",
        thresholdSeconds = stacks.Threshold.TotalSeconds,
        deadlocks = stacks.Deadlocks.Select(static d => d.Cycle),
        stuck = stacks.Stuck,
        silos = stacks.Silos.Select(static s => new { s.Silo, s.Address, s.ActivationCount, busyActivations = s.Activations.Count, s.Errors }),
    };
}
