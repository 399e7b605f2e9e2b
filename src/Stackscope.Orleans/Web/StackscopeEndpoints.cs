using System.Net;
using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Stackscope.Glue;

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

    /// <summary>The stuck threshold, when not <see cref="StackscopeOrleansOptions.StuckThreshold"/> (or Orleans' warning time); a request may override it with <c>?threshold=seconds</c>.</summary>
    public TimeSpan? Threshold { get; set; }
}

/// <summary>
/// The admin endpoint, on a host that runs a silo or is only a cluster client: <c>GET {pattern}</c> serves the cluster's stuck requests as JSON
/// (<c>?format=text</c>: as text),
/// <c>GET {pattern}/html</c> as a page (a tree of expandable call chains with grain and silo names). Reports carry
/// names, lines and timings only: no field or argument values are ever captured.
/// </summary>
public static class StackscopeEndpoints
{
    private static readonly JsonSerializerOptions s_json = new(JsonSerializerDefaults.Web)
    {
        WriteIndented = true,
        Converters = { new JsonStringEnumConverter(), new LogicalStackJsonConverter() },
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
        {
            if (!Threshold(http, options, out TimeSpan? threshold, out string? error) || !Format(http, out bool text, out error))
            {
                return Results.Problem(error, statusCode: StatusCodes.Status400BadRequest);
            }
            ClusterStacks read = await stacks.GetClusterStacksAsync(threshold, http.RequestAborted);
            return text ? Results.Text(read.ToString(), "text/plain; charset=utf-8") : Results.Json(Json(read), s_json);
        });
        group.MapGet("/html", async (HttpContext http, IGrainStacks stacks) =>
            Threshold(http, options, out TimeSpan? threshold, out string? error)
                ? Results.Content(Web.StacksPage.Render(await stacks.GetClusterStacksAsync(threshold, http.RequestAborted)), "text/html; charset=utf-8")
                : Results.Problem(error, statusCode: StatusCodes.Status400BadRequest));
        return group;
    }

    /// <summary>The threshold: <c>?threshold=seconds</c> when given (read by the kit's one rule; bad input is refused with its reason), else the configured one.</summary>
    private static bool Threshold(HttpContext http, StackscopeEndpointOptions options, out TimeSpan? threshold, out string? error)
    {
        threshold = options.Threshold;
        error = null;
        if (!http.Request.Query.TryGetValue("threshold", out var values))
        {
            return true;
        }
        if (!StuckRule.TryParseSeconds(values.ToArray(), out TimeSpan parsed, out error))
        {
            return false;
        }
        threshold = parsed;
        return true;
    }

    /// <summary>The form: <c>?format=json</c> (the default) or <c>?format=text</c> (what <see cref="ClusterStacks.ToString"/> prints); anything else is refused with its reason.</summary>
    private static bool Format(HttpContext http, out bool text, out string? error)
    {
        text = false;
        error = null;
        if (!http.Request.Query.TryGetValue("format", out var values))
        {
            return true;
        }
        switch (values.Count == 1 ? values[0] : null)
        {
            case "json":
                return true;
            case "text":
                text = true;
                return true;
            default:
                error = "format must be given once, as json or text";
                return false;
        }
    }

    /// <summary>The JSON document: schema tag, threshold, deadlocks, stuck chains, silos.</summary>
    private static object Json(ClusterStacks stacks) => new
    {
        schema = "stackscope-orleans/3",
        thresholdSeconds = stacks.Threshold.TotalSeconds,
        deadlocks = stacks.Deadlocks.Select(static d => d.Cycle),
        stuck = stacks.Stuck,
        errors = stacks.Errors,
        silos = stacks.Silos.Select(static s => new { s.Silo, s.Address, s.Answered, s.ActivationCount, busyActivations = s.Activations.Count, s.RequestWarningTime, s.MaxRequestProcessingTime, s.Errors }),
    };
}
