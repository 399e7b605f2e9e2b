using Microsoft.Diagnostics.Runtime;
using Stackscope.Threads;

namespace Stackscope.Diagnostics.Clr;

/// <summary>Every managed thread's frames, joined to the heap's async nodes where a thread resumes an async method or blocks on a task.</summary>
internal sealed partial class SnapshotReader
{
    private ThreadStack ReadThread(ClrThread thread)
    {
        // Stack roots are the costliest per-thread read; only a thread resuming an async method or
        // blocked on a task needs them (to find the box it runs or the task it waits on).
        // With IncludeFrameStrings they are read for every thread, in the same walk.
        List<int>? rootNodes = null;
        List<FrameString>? strings = null;
        List<int> Roots()
        {
            if (rootNodes is null)
            {
                rootNodes = new List<int>();
                try
                {
                    foreach (ClrStackRoot root in thread.EnumerateStackRoots())
                    {
                        if (FindNode(root.Object.Address) is not None and var node)
                        {
                            rootNodes.Add(node);
                        }
                        else if (_options.IncludeFrameStrings && root.Object.Type?.IsString == true && root.StackFrame?.Method is { } held)
                        {
                            (strings ??= new()).Add(new FrameString($"{held.Type?.Name}.{held.Name}", StringText(root.Object)));
                        }
                    }
                }
                catch (Exception e)
                {
                    _errors.Add(new StackError($"reading the stack roots of thread {thread.ManagedThreadId} failed: {e.Message}", e.GetType().FullName));
                }
            }
            return rootNodes;
        }

        int FirstRoot(Predicate<int> match) => Roots().FindIndex(match) is >= 0 and var at ? rootNodes![at] : None;

        var innerFirst = new List<LogicalFrame>();
        int junction = None, blockedOn = None;
        ClrStackFrame[] frames = thread.EnumerateStackTrace(includeContext: false).Take(_options.MaxDepth).ToArray();
        for (int i = 0; i < frames.Length; i++)
        {
            if (frames[i].Kind != ClrStackFrameKind.ManagedMethod || frames[i].Method is not { } method)
            {
                continue;
            }
            string typeName = method.Type is { } declaring ? _objects.DefinitionName(declaring) : string.Empty;
            string? module = method.Type?.Module?.Name;
            int il = method.GetILOffset(frames[i].InstructionPointer);
            SourceLocation? location = module is null ? null : TargetSymbols.Locate(module, method.MetadataToken, il);

            if (FrameFilters.IsBuilderStart(typeName, method.Name))
            {
                continue;
            }
            if (FrameFilters.IsWaitInternals(typeName, method.Name))
            {
                // Runtime frames of a blocking wait: find the task it waits on among the roots of these frames.
                if (blockedOn == None)
                {
                    blockedOn = FirstRoot(n => N(n).BlockedOn);
                }
                if (typeName != "System.Threading.Tasks.Task" || method.Name != "Wait")
                {
                    continue;
                }
            }

            if (method.Name == "MoveNext" && method.Type is { } smType && module is not null &&
                _symbols.StateMachine(module, smType.MetadataToken, smType.Name) is { } sm)
            {
                bool resumed = FrameFilters.IsResumedByMachinery(sm.Kind, Outer(frames, i));
                innerFirst.Add(sm.Frame(FrameState.Running, null, resumed ? FrameFlags.AsyncJunction : FrameFlags.None, location: location));
                if (resumed)
                {
                    junction = FirstRoot(n => LayoutAt(n)?.StateMachineType is { } t && t.MetadataToken == smType.MetadataToken && t.Module?.Name == module);
                    break;
                }
                i = SkipKickoffStub(frames, i);
                continue;
            }

            TargetMethod? named = module is null || method.Type is null ? null : _symbols.Method(module, method.Type.MetadataToken, method.MetadataToken);
            string name = named?.DisplayName ?? $"{typeName}.{method.Name}";
            if (innerFirst.Count > 0 && innerFirst[^1].DisplayName == name && innerFirst[^1].Location is null)
            {
                continue; // an overload forwarding to another of the same name (Task.Wait() -> Task.Wait(int, CancellationToken))
            }
            innerFirst.Add(new LogicalFrame(FrameKind.Sync, name, null, FrameState.Running, null, location,
                declaringTypeName: named?.DeclaringTypeName ?? typeName, methodName: named?.MethodName ?? method.Name));
        }

        innerFirst.Reverse();
        var all = new List<LogicalFrame>();
        IReadOnlyList<LogicalStack>? junctionCallers = null;
        var errors = new List<StackError>();
        if (junction != None)
        {
            var up = new List<LogicalFrame>();
            var seen = new HashSet<ulong> { N(junction).Address };
            // As in process (the callers of the resumed box): one awaiter continues the stack; several are its awaited-by branches.
            junctionCallers = CallersUp(junction, up, seen, errors);
            up.Reverse();
            all.AddRange(up);
        }
        all.AddRange(innerFirst);
        StackLeaf? leaf = null;
        IReadOnlyList<LogicalStack>? children = null;
        IReadOnlyList<LogicalStack>? awaitedBy = junctionCallers;
        if (blockedOn != None)
        {
            LogicalStack task = StackFrom(blockedOn, new HashSet<ulong>(), blockedThread: true);
            all.AddRange(task.Frames);
            leaf = task.Leaf;
            children = task.Children;
            errors.AddRange(task.Errors);
            // The task this thread waits for has other awaiters too: all of them, as in process (Extract of the task).
            if (N(blockedOn).ParentCount > 0 && awaitedBy is null)
            {
                awaitedBy = CallersOf(blockedOn, new HashSet<ulong> { N(blockedOn).Address }, errors);
            }
        }
        string? threadName = _threadNames.GetValueOrDefault(thread.ManagedThreadId);
        if (_options.IncludeFrameStrings)
        {
            Roots();
        }
        return new ThreadStack(thread.ManagedThreadId, thread.OSThreadId, threadName, DescribeState(thread.State),
            new LogicalStack(all, leaf, awaitedBy, errors.Count == 0 ? null : errors, errors.Count > 0, children)) { FrameStrings = strings ?? (IReadOnlyList<FrameString>)Array.Empty<FrameString>() };
    }

    /// <summary>A string root's text, cut at <see cref="FrameString.MaxLength"/> characters (a stack can hold a huge one).</summary>
    private static string StringText(ClrObject text)
    {
        string? value = text.AsString(FrameString.MaxLength + 1);
        return value is null ? string.Empty : value.Length > FrameString.MaxLength ? value[..FrameString.MaxLength] + "…" : value;
    }

    private static string DescribeState(ClrThreadState state)
    {
        var names = new List<string>();
        foreach (ClrThreadState flag in Enum.GetValues<ClrThreadState>())
        {
            if (flag != 0 && (state & flag) == flag)
            {
                names.Add(flag.ToString().Replace("TS_", string.Empty, StringComparison.Ordinal));
            }
        }
        return names.Count == 0 ? "Running" : string.Join(", ", names);
    }

    private int SkipKickoffStub(ClrStackFrame[] frames, int i)
    {
        // MoveNext <- AsyncMethodBuilderCore.Start <- builder.Start <- the kickoff method: show the method once.
        int j = i + 1;
        while (j < frames.Length && frames[j].Method is { } m && FrameFilters.IsBuilderStart(m.Type is { } t ? _objects.DefinitionName(t) : null, m.Name))
        {
            j++;
        }
        return j > i + 1 && j < frames.Length ? j : i;
    }

    /// <summary>The managed frames outside frame <paramref name="i"/>, innermost first, by declaring type and name.</summary>
    private IEnumerable<(string?, string?)> Outer(ClrStackFrame[] frames, int i)
    {
        for (int j = i + 1; j < frames.Length; j++)
        {
            if (frames[j].Kind == ClrStackFrameKind.ManagedMethod && frames[j].Method is { Type: { } type } outer)
            {
                yield return (_objects.DefinitionName(type), outer.Name);
            }
        }
    }
}
