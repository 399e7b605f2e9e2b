using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Serialization.Invocation;
using Stackscope.Glue;
using Stackscope.Orleans.Cluster;

namespace Stackscope.Orleans.Monitoring;

/// <summary>
/// An outgoing grain call filter that makes Orleans' response timeouts explain themselves: when a call fails with
/// <see cref="TimeoutException"/>, it reads what the callee's activation is doing (the cluster read of
/// <see cref="IGrainStacks"/>, each silo bounded by <see cref="StackscopeOrleansOptions.ReadBound"/>) and throws a
/// <see cref="TimeoutException"/> whose message is Orleans' followed by the callee's request and its logical stack.
/// On a cluster client its inner exception is that stack as a <see cref="Stackscope.Monitoring.LogicalStackException"/>
/// (for error trackers: the callee's frames as a stack trace) wrapping Orleans' original exception; on a silo it is
/// Orleans' original exception itself, because an exception thrown in a grain may travel to a caller on another silo or
/// client, and Orleans' serializer has no codec for <c>LogicalStackException</c> (it would replace the whole exception by a
/// <c>CodecNotFoundException</c>). Registered by <c>AddStackscope(o => o.ExplainTimeouts = true)</c> on a silo or a client.
/// </summary>
/// <remarks>
/// Timeouts that happen together share one cluster read (a storm of timeouts costs one read at a time, not one each).
/// Only Orleans' timeout of the call itself is explained: a <see cref="TimeoutException"/> that the callee threw (a grain
/// whose own call timed out, already explained on its silo) passes through unchanged. Calls to Stackscope's own readers
/// are not explained (their timeouts are their own).
/// </remarks>
internal sealed partial class TimeoutExplainer(IServiceProvider services, bool onClient) : IOutgoingGrainCallFilter
{
    /// <summary>How many of the callee activation's running requests are shown when the call's own request is not running.</summary>
    private const int MaxShown = 3;

    private readonly object _gate = new();
    private Task<SiloReports>? _reading;

    public Task Invoke(IOutgoingGrainCallContext context)
    {
        Task call = context.Invoke();
        return call.IsCompletedSuccessfully ? call : Explaining(call, context);
    }

    private async Task Explaining(Task call, IOutgoingGrainCallContext context)
    {
        try
        {
            await call.ConfigureAwait(false);
        }
        catch (TimeoutException timeout) when (!IsOwnReader(context.Request) && IsThisCallsTimeout(timeout.Message, context))
        {
            throw await ExplainAsync(timeout, context).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Whether the exception is Orleans' response timeout of this very call, which names its sender and target
    /// (<c>Request [silo source]->[silo target] ...</c>); not a <see cref="TimeoutException"/> the callee threw (its own
    /// call to another grain that timed out, explained where it happened, or any other), which is left as it is.
    /// </summary>
    private static bool IsThisCallsTimeout(string message, IOutgoingGrainCallContext context)
    {
        int request = message.IndexOf("Request [", StringComparison.Ordinal);
        int arrow = request < 0 ? -1 : message.IndexOf("]->[", request, StringComparison.Ordinal);
        int end = arrow < 0 ? -1 : message.IndexOf(']', arrow + 4);
        if (end < 0)
        {
            return false;
        }
        ReadOnlySpan<char> sender = message.AsSpan(request + 9, arrow - request - 9), target = message.AsSpan(arrow + 4, end - arrow - 4);
        return target.EndsWith(context.TargetId.ToString(), StringComparison.Ordinal)
            && (context.SourceId is not { } source || sender.EndsWith(source.ToString(), StringComparison.Ordinal));
    }

    private static bool IsOwnReader(IInvokable request) => request.GetInterfaceType() is { } type && (type == typeof(IClusterStacksGrain) || type == typeof(ISiloStacksService));

    /// <summary>The timeout with what the callee was doing; the original if the read found nothing or failed.</summary>
    private async Task<Exception> ExplainAsync(TimeoutException timeout, IOutgoingGrainCallContext context)
    {
        SiloReports reports;
        try
        {
            if (services.GetService<IGrainStacks>() is not GrainStacksBase stacks)
            {
                return timeout;
            }
            reports = await SharedRead(stacks).ConfigureAwait(false);
            if (MissesAStack(reports, context.TargetId.ToString()))
            {
                // A read that found the callee's requests without their stacks (the runtime's task registry busy for the
                // whole of its copy, say): one more read of its own, as bounded.
                reports = await stacks.ReadReportsAsync(CancellationToken.None).ConfigureAwait(false);
            }
        }
        catch (Exception e)
        {
            return new TimeoutException(timeout.Message + Environment.NewLine + $"Stackscope could not read the callee: {e.GetType().Name}: {e.Message}", timeout);
        }
        string target = context.TargetId.ToString();
        string method = MethodOf(context.Request);
        string? caller = context.SourceId?.ToString();
        GrainActivation? activation = reports.Silos.SelectMany(static s => s.Activations).FirstOrDefault(a => a.Grain == target);
        var text = new StringBuilder(timeout.Message).AppendLine();
        if (activation is null)
        {
            text.Append($"Stackscope: when the call timed out, grain {target} had no request running or waiting on any silo that answered " +
                "(it answered meanwhile, or its silo did not report");
            AppendErrors(text, reports);
            text.Append(')');
            return new TimeoutException(text.ToString(), timeout);
        }
        // The call is the callee's request with its correlation id, which Orleans' message names ("... #5D6DD28C6ECEE3A2.");
        // if another Orleans version words it otherwise, the request of the same method from the same caller.
        long? id = CallId(timeout.Message);
        bool Ours(GrainRequest r) => (id is { } known ? r.MessageId == known : r.Method == method) && (caller is null || r.Caller == caller);
        GrainRequest? ours = activation.Running.Where(Ours).OrderByDescending(static r => r.Elapsed).FirstOrDefault();
        LogicalStack? first = null;
        if (ours is not null)
        {
            text.Append($"Stackscope: when the call timed out, grain {target} (silo {activation.Silo}) was running this call ({method}) for {GlueText.Duration(ours.Elapsed)}");
            first = AppendRequest(text, ours);
        }
        else
        {
            GrainRequest? queued = activation.Waiting.FirstOrDefault(Ours);
            text.Append($"Stackscope: when the call timed out, grain {target} (silo {activation.Silo}) ")
                .Append(queued is null ? $"was not running this call ({method})" : $"held this call ({method}) in its queue at position {queued.QueuePosition}")
                .Append($"; it was running {activation.Running.Count} request(s)");
            foreach (GrainRequest running in activation.Running.Take(MaxShown))
            {
                text.AppendLine().Append($"{running.Method} from {running.Caller ?? "?"}, running for {GlueText.Duration(running.Elapsed)}");
                LogicalStack? stack = AppendRequest(text, running); // every request shown with its stack; the first stack is the inner exception's
                first ??= stack;
            }
            if (activation.Running.Count > MaxShown)
            {
                text.AppendLine().Append($"... and {activation.Running.Count - MaxShown} more");
            }
        }
        string message = text.ToString().TrimEnd();
        return new TimeoutException(message, onClient && first is not null ? first.ToException($"what grain {target} was doing when {method} timed out", timeout) : timeout);
    }

    /// <summary>Whether the callee's activation has a running request without a stack in <paramref name="reports"/>.</summary>
    private static bool MissesAStack(SiloReports reports, string target) =>
        reports.Silos.SelectMany(static s => s.Activations).FirstOrDefault(a => a.Grain == target) is { } activation
        && activation.Running.Any(static r => r.Stack is null);

    /// <summary>Appends the request's stack (or why there is none); returns the stack.</summary>
    private static LogicalStack? AppendRequest(StringBuilder text, GrainRequest request)
    {
        if (request.Stack is not { } stack)
        {
            text.Append($"; no stack ({request.Note ?? "not found"})");
            return null;
        }
        text.Append("; its logical stack:").AppendLine();
        GlueText.AppendStack(text, stack, "  ");
        return stack;
    }

    private static void AppendErrors(StringBuilder text, SiloReports reports)
    {
        foreach (string error in reports.Errors.Concat(reports.Silos.SelectMany(static s => s.Errors.Select(e => $"{s.Silo}: {e}"))).Take(MaxShown))
        {
            text.Append("; ").Append(error);
        }
    }

    /// <summary>The read in flight if there is one, else a new one: timeouts together share a read.</summary>
    private Task<SiloReports> SharedRead(GrainStacksBase stacks)
    {
        lock (_gate)
        {
            if (_reading is { IsCompleted: false } reading)
            {
                return reading;
            }
            return _reading = stacks.ReadReportsAsync(CancellationToken.None);
        }
    }

    /// <summary>The call's correlation id, as Orleans' timeout message writes it (hexadecimal after '#'), or null.</summary>
    internal static long? CallId(string message)
    {
        Match last = Match.Empty;
        for (Match m = CorrelationId().Match(message); m.Success; m = m.NextMatch())
        {
            last = m;
        }
        return last.Success && ulong.TryParse(last.Groups[1].ValueSpan, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out ulong id)
            ? unchecked((long)id)
            : null;
    }

    [GeneratedRegex(@"#([0-9A-F]{1,16})\b", RegexOptions.CultureInvariant)]
    private static partial Regex CorrelationId();

    /// <summary><c>IInterface.Method</c>, as the silo read names a request.</summary>
    private static string MethodOf(IInvokable request)
    {
        try
        {
            return $"{request.GetInterfaceName().Split('.')[^1]}.{request.GetMethodName()}";
        }
        catch (Exception)
        {
            return "?";
        }
    }
}
