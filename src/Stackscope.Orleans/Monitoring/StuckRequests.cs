using Microsoft.Extensions.Options;
using Stackscope.Glue;
using Stackscope.Monitoring;
using Stackscope.Orleans.Inspection;

namespace Stackscope.Orleans.Monitoring;

/// <summary>
/// This silo's requests running past the monitor's threshold, for <see cref="StuckWorkMonitor"/> (kind
/// <c>orleans.request</c>): each poll is one read of the silo through its <see cref="SiloScanner"/> (shared with any other
/// reader at the moment), never a scan of its own. Registered by <c>AddStackscope(o => o.MonitorStuckRequests = true)</c>.
/// </summary>
/// <remarks>
/// A read that could not take an activation's lock (its report says which) leaves that activation's requests out: those
/// seen stuck at the previous poll are reported again as they were (their time advanced), so the monitor does not log them
/// as finished. A read that fails as a whole throws, and the monitor logs it.
/// </remarks>
internal sealed class StuckRequests(SiloScanner scanner, IOptions<StackscopeOrleansOptions> options) : IStuckWorkSource
{
    public const string Kind = "orleans.request";

    private List<(GrainRequest Request, long SeenAt)> _last = [];

    public IEnumerable<StuckWork> Read(TimeSpan threshold)
    {
        TimeSpan bound = options.Value.ReadBound;
        Task<SiloStacks> scan = scanner.ReadAsync();
        // The monitor's own thread waits for the scan (milliseconds; its locks are each bounded), at most the read bound.
        if (!scan.Wait(bound))
        {
            throw new TimeoutException($"the silo's read did not finish within {GlueText.Duration(bound)}");
        }
        SiloStacks silo = scan.Result;
        long now = Environment.TickCount64;
        var stuck = new List<(GrainRequest Request, long SeenAt)>();
        foreach (GrainActivation activation in silo.Activations)
        {
            foreach (GrainRequest request in activation.Running)
            {
                if (StuckRule.IsStuck(request.Elapsed, threshold))
                {
                    stuck.Add((request, now));
                }
            }
        }
        if (silo.Errors.Count > 0)
        {
            // An activation whose lock stayed held is named at the start of its error: keep what it had.
            foreach ((GrainRequest request, long seenAt) in _last)
            {
                if (silo.Errors.Any(e => e.StartsWith(request.Grain + ":", StringComparison.Ordinal))
                    && !stuck.Any(s => s.Request.Grain == request.Grain))
                {
                    stuck.Add((request with { Elapsed = request.Elapsed + TimeSpan.FromMilliseconds(now - seenAt) }, now));
                }
            }
        }
        _last = stuck;
        return stuck.Select(s => Work(s.Request)).ToList();
    }

    private static StuckWork Work(GrainRequest request) =>
        new(Kind, $"{request.Grain} {request.Key}", $"grain {request.Grain} {request.Method}", request.Elapsed)
        {
            Stack = request.Stack,
            Note = string.Join("; ", new[] { request.Note, request.OrleansLimits }.OfType<string>()) is { Length: > 0 } note ? note : null,
        };
}
