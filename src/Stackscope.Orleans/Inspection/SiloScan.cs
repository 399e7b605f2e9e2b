using System.Collections;
using System.Runtime.CompilerServices;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Orleans.Configuration;
using Orleans.Runtime;
using Orleans.Serialization.Invocation;
using Stackscope.Glue;

namespace Stackscope.Orleans.Inspection;

/// <summary>
/// Reads one silo: its busy activations (ActivationData's running and waiting requests, read under the
/// activation's own lock, taken only if free), and for each running request its logical stack.
/// </summary>
/// <remarks>
/// <para>Nothing an activation holds leads down to the task of a request it runs: the message loop starts
/// <c>InsideRuntimeClient.Invoke(target, message)</c> and keeps only a continuation on it. So requests are found
/// upward: from every pending grain call of the silo (the runtime's callback table), climbing from the awaited
/// completion source through the awaiting async methods to the <c>Invoke</c> box, whose hoisted
/// <c>message</c> names the request; and, when <see cref="TaskTracking"/> is on, among all pending tasks.</para>
/// <para>Orleans types are internal: fields are read through <see cref="FieldReaders"/> (compiled once per type).
/// A field missing in another Orleans version makes that part "unknown", never an exception.</para>
/// </remarks>
internal static class SiloScan
{
    private static readonly Type? s_activationDirectory = Type.GetType("Orleans.Runtime.ActivationDirectory, Orleans.Runtime");
    private static readonly Type? s_insideRuntimeClient = Type.GetType("Orleans.Runtime.InsideRuntimeClient, Orleans.Runtime");

    public static SiloStacks Read(IServiceProvider services, StackscopeOrleansOptions options)
    {
        var errors = new List<string>();
        ILocalSiloDetails? silo = services.GetService<ILocalSiloDetails>();
        string siloName = silo?.Name ?? "?";
        var activations = new List<GrainActivation>();
        int count = 0;
        SiloMessagingOptions? limits = services.GetService<IOptions<SiloMessagingOptions>>()?.Value;
        try
        {
            Dictionary<object, Root> roots = FindRoots(services, errors, out Dictionary<object, GrainCall> calls);
            // The stacks' grain-call leaves are named through the Orleans glue, from the calls this read found.
            ExtractOptions extract = options.Extract with { GlueItems = new Dictionary<object, object> { [Glue.OrleansGlue.PendingCallsKey] = calls } };
            object? directory = s_activationDirectory is null ? null : services.GetService(s_activationDirectory);
            if (FieldReaders.Read(directory, "_activations") is not IDictionary all)
            {
                errors.Add("the silo's activation directory could not be read (another Orleans version?)");
            }
            else
            {
                foreach (DictionaryEntry entry in all) // ConcurrentDictionary's enumerator: lock-free, changes nothing
                {
                    if (entry.Value is not IGrainContext context)
                    {
                        continue;
                    }
                    foreach (IGrainContext activationData in ActivationsOf(context))
                    {
                        if (activationData.GrainInstance is Cluster.ClusterStacksGrain)
                        {
                            continue; // the client's reader, gathering this very read
                        }
                        count++;
                        if (Describe(activationData, siloName, roots, extract, limits, errors) is { } activation)
                        {
                            activations.Add(activation);
                        }
                    }
                }
            }
        }
        catch (Exception e)
        {
            errors.Add($"reading the silo failed part way: {e.GetType().Name}: {e.Message}");
        }
        activations.Sort(static (a, b) => string.CompareOrdinal(a.Grain, b.Grain));
        return new SiloStacks
        {
            Silo = siloName,
            Address = silo?.SiloAddress.ToString() ?? "?",
            Activations = activations,
            ActivationCount = count,
            Errors = errors,
            RequestWarningTime = limits?.RequestProcessingWarningTime,
            MaxRequestProcessingTime = limits?.MaxRequestProcessingTime,
        };
    }

    /// <summary>
    /// The activations behind a directory entry: the entry itself for an ordinary grain; every worker for a
    /// <c>[StatelessWorker]</c> grain, whose context keeps its workers (each an ordinary activation) in a list that only
    /// its own message loop changes. The list's array is read as it is, never enumerated, so a concurrent change cannot throw.
    /// </summary>
    private static IEnumerable<IGrainContext> ActivationsOf(IGrainContext context)
    {
        if (context.GetType().FullName != "Orleans.Runtime.StatelessWorkerGrainContext")
        {
            yield return context;
            yield break;
        }
        object? workers = FieldReaders.Read(context, "_workers");
        if (FieldReaders.Read(workers, "_items") is not object?[] items || FieldReaders.Read(workers, "_size") is not int size)
        {
            yield break;
        }
        for (int i = 0; i < Math.Min(size, items.Length); i++)
        {
            if (items[i] is IGrainContext worker)
            {
                yield return worker;
            }
        }
    }

    /// <summary>A request's task (the <c>InsideRuntimeClient.Invoke</c> box) and the grain calls it awaits (several under a <c>WhenAll</c>).</summary>
    private sealed record Root(Task Task, List<object> AwaitedCallMessages);

    /// <summary>Every request's task found, by request message; and every pending call, by the completion source its caller awaits.</summary>
    private static Dictionary<object, Root> FindRoots(IServiceProvider services, List<string> errors, out Dictionary<object, GrainCall> calls)
    {
        var roots = new Dictionary<object, Root>(ReferenceEqualityComparer.Instance);
        calls = new Dictionary<object, GrainCall>(ReferenceEqualityComparer.Instance);
        object? client = s_insideRuntimeClient is null ? null : services.GetService(s_insideRuntimeClient);
        if (FieldReaders.Read(client, "callbacks") is IDictionary callbacks)
        {
            foreach (DictionaryEntry entry in callbacks)
            {
                object? callback = entry.Value;
                object? awaited = FieldReaders.Read(callback, "context");
                object? message = FieldReaders.Read(callback, "<Message>k__BackingField");
                if (awaited is null || message is null)
                {
                    continue;
                }
                calls[awaited] = Call(message);
                if (Climb(awaited) is { } invoke && RequestMessage(invoke) is { } request)
                {
                    if (!roots.TryGetValue(request, out Root? root))
                    {
                        roots[request] = root = new Root(invoke, new List<object>());
                    }
                    root.AwaitedCallMessages.Add(message);
                }
            }
        }
        else
        {
            errors.Add("the silo's pending calls could not be read (another Orleans version?)");
        }
        foreach (Task tracked in TrackedTasks(errors))
        {
            if (!tracked.IsCompleted && IsInvoke(tracked) && RequestMessage(tracked) is { } request && !roots.ContainsKey(request))
            {
                roots[request] = new Root(tracked, new List<object>());
            }
        }
        return roots;
    }

    /// <summary>
    /// The runtime's active-task registry, with TaskTracking on; empty with it off. When its lock stays held (the runtime
    /// adding or removing tasks, other copies of a large registry) for the bound of a copy (<see cref="TaskGraph.TryTrackedTasks"/>),
    /// the report says so: the requests found only there have no stack in it.
    /// </summary>
    private static IReadOnlyList<Task> TrackedTasks(List<string> errors)
    {
        if (TaskGraph.TryTrackedTasks(out IReadOnlyList<Task> tasks, out string? busy))
        {
            return tasks;
        }
        errors.Add(busy + "; requests awaiting anything but a grain call are shown without their stacks");
        return [];
    }

    /// <summary>From an awaited object up through what awaits it, to the <c>InsideRuntimeClient.Invoke</c> box serving a request.</summary>
    internal static Task? Climb(object start) => TaskGraph.FindAbove(start, static node => node is Task task && IsInvoke(task)) as Task;

    /// <summary>Whether <paramref name="task"/> is the box of <c>InsideRuntimeClient.Invoke(IGrainContext, Message)</c>.</summary>
    private static bool IsInvoke(Task task) =>
        TaskGraph.AsyncMethodOf(task) is { Name: "Invoke" } method && method.DeclaringType == s_insideRuntimeClient;

    private static object? RequestMessage(Task invoke) => TaskGraph.ReadHoisted(invoke, "message");

    /// <summary>Where a request running for <paramref name="elapsed"/> stands against Orleans' two limits for requests.</summary>
    internal static string? LimitsText(TimeSpan elapsed, SiloMessagingOptions? limits)
    {
        if (limits is null)
        {
            return null;
        }
        TimeSpan warning = limits.RequestProcessingWarningTime, max = limits.MaxRequestProcessingTime;
        string warned = elapsed >= warning
            ? $"past Orleans' RequestProcessingWarningTime ({GlueText.Duration(warning)}): Orleans logs it as slow"
            : $"Orleans' RequestProcessingWarningTime ({GlueText.Duration(warning)}) in {GlueText.Duration(warning - elapsed)}";
        string deactivated = elapsed >= max
            ? $"past MaxRequestProcessingTime ({GlueText.Duration(max)}) by {GlueText.Duration(elapsed - max)}: Orleans deactivates the activation as unresponsive (ActivationUnresponsive) when another request arrives"
            : $"MaxRequestProcessingTime ({GlueText.Duration(max)}), past which Orleans deactivates the activation as unresponsive, in {GlueText.Duration(max - elapsed)}";
        return warned + "; " + deactivated;
    }

    private static GrainActivation? Describe(IGrainContext context, string silo, Dictionary<object, Root> roots, ExtractOptions extract, SiloMessagingOptions? limits, List<string> errors)
    {
        if (context.GetType().FullName != "Orleans.Runtime.ActivationData")
        {
            return null; // system targets
        }
        var running = new List<(object Message, object Stopwatch)>();
        var waiting = new List<(object Message, object Stopwatch)>();
        object? blocking;
        // ActivationData guards its request collections with lock(this), held for microseconds at a time by its message loop
        // (or by another read copying them). Try for at most 20 ms, spinning then yielding: a read never waits longer.
        bool taken = Monitor.TryEnter(context);
        if (!taken)
        {
            var spinner = new SpinWait();
            long deadline = Environment.TickCount64 + 20;
            while (!taken && Environment.TickCount64 < deadline)
            {
                spinner.SpinOnce();
                taken = Monitor.TryEnter(context);
            }
        }
        if (!taken)
        {
            errors.Add($"{context.GrainId}: its lock was held for 20 ms of the read; requests not shown");
            return null;
        }
        try
        {
            if (FieldReaders.Read(context, "_runningRequests") is IDictionary runningRequests)
            {
                foreach (DictionaryEntry entry in runningRequests)
                {
                    running.Add((entry.Key, entry.Value!));
                }
            }
            if (FieldReaders.Read(context, "_waitingRequests") is IList waitingRequests)
            {
                foreach (object? item in waitingRequests)
                {
                    if (item is ITuple { Length: 2 } pair && pair[0] is { } message && pair[1] is { } stopwatch)
                    {
                        waiting.Add((message, stopwatch));
                    }
                }
            }
            blocking = FieldReaders.Read(context, "_blockingRequest");
        }
        finally
        {
            Monitor.Exit(context);
        }
        if (running.Count == 0 && waiting.Count == 0)
        {
            return null;
        }
        string grain = context.GrainId.ToString();
        string grainType = TypeName(context);
        GrainRequest Request((object Message, object Stopwatch) r, GrainRequestState state, int position)
        {
            GrainRequest request = new()
            {
                Silo = silo,
                Grain = grain,
                GrainType = grainType,
                Method = MethodOf(r.Message),
                Caller = CallerOf(r.Message),
                MessageId = IdOf(r.Message),
                Elapsed = Elapsed(r.Stopwatch),
                State = state,
                QueuePosition = position,
                IsBlocking = ReferenceEquals(r.Message, blocking),
                OrleansLimits = state == GrainRequestState.Running ? LimitsText(Elapsed(r.Stopwatch), limits) : null,
            };
            return state == GrainRequestState.Running ? WithStack(request, roots.GetValueOrDefault(r.Message), extract) : request;
        }
        return new GrainActivation
        {
            Silo = silo,
            Grain = grain,
            GrainType = grainType,
            Running = running.Select(r => Request(r, GrainRequestState.Running, 0)).OrderByDescending(static r => r.Elapsed).ToList(),
            Waiting = waiting.Select((r, i) => Request(r, GrainRequestState.Waiting, i + 1)).ToList(),
        };
    }

    private static GrainRequest WithStack(GrainRequest request, Root? root, ExtractOptions extract)
    {
        if (root is null)
        {
            return request with { Note = "stack not found: " + Notes.RequestUnknown };
        }
        LogicalStack stack = StackExtractor.Extract(root.Task, extract with { IncludeAwaitedBy = false });
        int pipeline = 0;
        while (pipeline < stack.Frames.Count && IsOrleansRuntime(stack.Frames[pipeline]))
        {
            pipeline++;
        }
        return request with
        {
            Stack = stack.WithoutOuterFrames(pipeline),
            AwaitedCalls = root.AwaitedCallMessages.Select(Call).ToList(),
        };
    }

    /// <summary>Frames of Orleans' own request pipeline (Invoke, CompleteInvokeAsync, call filters' invoker): not the application's.</summary>
    private static bool IsOrleansRuntime(LogicalFrame frame) =>
        frame.Method?.DeclaringType is { } type && (type.Namespace ?? "").StartsWith("Orleans", StringComparison.Ordinal) &&
        type.Assembly.GetName().Name is { } assembly && assembly.StartsWith("Orleans.", StringComparison.Ordinal);

    internal static GrainCall Call(object message) => new(
        MethodOf(message),
        FieldReaders.Read(message, "_targetGrain")?.ToString() ?? "?",
        FieldReaders.Read(message, "_targetSilo")?.ToString(),
        CallerOf(message) ?? "?",
        IdOf(message));

    // A call is identified by (sending grain, correlation id) on both sides: the caller's pending call and the callee's
    // request. CallChains matches the two, so both are read here, the same way.
    private static string? CallerOf(object message) => FieldReaders.Read(message, "_sendingGrain")?.ToString();

    private static long IdOf(object message) => FieldReaders.For(message.GetType(), "_id", "id")?.Invoke(message) as long? ?? 0;

    /// <summary><c>IInterface.Method</c> of a request message (its body is the generated invokable, whose names are constants).</summary>
    private static string MethodOf(object message)
    {
        try
        {
            return FieldReaders.Read(message, "<BodyObject>k__BackingField") is IInvokable invokable
                ? $"{invokable.GetInterfaceName().Split('.')[^1]}.{invokable.GetMethodName()}"
                : "?";
        }
        catch (Exception)
        {
            return "?";
        }
    }

    /// <summary>A CoarseStopwatch (boxed) holds the start in Environment.TickCount64 while running.</summary>
    private static TimeSpan Elapsed(object stopwatch) =>
        FieldReaders.Read(stopwatch, "_value") is long start && start > 0 ? TimeSpan.FromMilliseconds(Environment.TickCount64 - start) : TimeSpan.Zero;

    private static string TypeName(IGrainContext context)
    {
        try
        {
            return context.GrainInstance?.GetType() is { } type ? TypeNames.Format(type) : context.GrainId.Type.ToString() ?? "?";
        }
        catch (Exception)
        {
            return "?";
        }
    }
}

/// <summary>Sentences shared by the reports.</summary>
internal static class Notes
{
    public const string RequestUnknown =
        "a request's task is found from the grain calls it awaits, or with TaskTracking on (AddStackscope(o => o.TrackRequests = true))";
}
