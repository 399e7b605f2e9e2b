using System.Diagnostics;
using System.Reflection;
using Stackscope.Extraction;
using Stackscope.Runtime;
using Stackscope.Symbols;

namespace Stackscope.Threads;

/// <summary>
/// The calling thread's stack as logical frames: thread frames demystified, and, where the thread is
/// resuming an async method, the logical callers awaiting it in place of the machinery that resumed it.
/// </summary>
internal static class CurrentThread
{
    private static readonly Assembly s_self = typeof(CurrentThread).Assembly;

    public static LogicalStack Extract(ExtractOptions? options, MethodBase? since, MethodBase? until)
    {
        var walker = new Walker(options);
        try
        {
            var trace = new StackTrace(1, fNeedFileInfo: false);
            var threadFrames = new List<LogicalFrame>(); // innermost first
            Type? resumedStateMachine = null;
            StackFrame[] frames = trace.GetFrames();
            bool atTop = true;

            for (int i = 0; i < frames.Length; i++)
            {
                MethodBase? method = frames[i].GetMethod();
                if (method is null)
                {
                    continue;
                }
                if (atTop && method.DeclaringType?.Assembly == s_self)
                {
                    continue;
                }
                atTop = false;
                if (IsBuilderStart(method) || IsKickoffStub(method, frames, i))
                {
                    continue;
                }

                Type? owner = method.DeclaringType;
                if (method.Name == "MoveNext" && owner is not null && StateMachineModel.For(owner) is { } model)
                {
                    SourceLocation? location = Locate(frames[i], method);
                    bool resumed = FrameFilters.IsResumedByMachinery(model.Kind, Outer(frames, i));
                    threadFrames.Add(new LogicalFrame(model.Kind, model.DisplayName, model.Method, FrameState.Running, null, location,
                        resumed ? FrameFlags.AsyncJunction : FrameFlags.None));
                    if (resumed)
                    {
                        resumedStateMachine = owner;
                        break;
                    }
                    continue;
                }

                threadFrames.Add(new LogicalFrame(FrameKind.Sync, MethodNames.ForSyncMethod(method), method, FrameState.Running, null,
                    Locate(frames[i], method)));
            }

            threadFrames.Reverse();
            var all = new List<LogicalFrame>();
            IReadOnlyList<LogicalStack>? awaitedBy = null;
            if (resumedStateMachine is not null)
            {
                Task? box = TaskTracking.CurrentBox(resumedStateMachine);
                if (box is not null)
                {
                    var up = new List<LogicalFrame>();
                    awaitedBy = walker.ExtractCallers(box, up);
                    up.Reverse();
                    all.AddRange(up);
                }
                else
                {
                    walker.AddError(TaskTracking.Mode switch
                    {
                        TaskTrackingMode.Full => "the logical callers of the resumed async method are not known: it started before tracking was enabled",
                        TaskTrackingMode.Registry => "the logical callers of the resumed async method are not known: enable TaskTracking in Full mode to follow them",
                        _ => "the logical callers of the resumed async method are not known: enable TaskTracking to follow them",
                    });
                }
            }
            all.AddRange(threadFrames);
            return Slice(walker, all, awaitedBy, since, until);
        }
        catch (Exception e)
        {
            walker.AddError("reading the current thread failed: " + e.Message);
            return walker.Finish(Array.Empty<LogicalFrame>(), null, null);
        }
    }

    private static LogicalStack Slice(Walker walker, List<LogicalFrame> all, IReadOnlyList<LogicalStack>? awaitedBy, MethodBase? since, MethodBase? until)
    {
        MethodBase? target = since ?? until;
        if (target is null)
        {
            return walker.Finish(all, null, awaitedBy);
        }
        int index = all.FindLastIndex(f => Matches(f.Method, target));
        if (index < 0)
        {
            walker.AddError($"{MethodNames.ForSyncMethod(target)} is not on the current stack");
            return walker.Finish(all, null, awaitedBy);
        }
        return since is not null
            ? walker.Finish(all.GetRange(index, all.Count - index), null, index == 0 ? awaitedBy : null)
            : walker.Finish(all.GetRange(0, index + 1), null, awaitedBy);
    }

    private static bool Matches(MethodBase? frameMethod, MethodBase target)
    {
        if (frameMethod is null)
        {
            return false;
        }
        if (frameMethod.HasSameMetadataDefinitionAs(target))
        {
            return true;
        }
        // MethodBase.GetCurrentMethod() inside an async method returns its state machine's MoveNext.
        return target.Name == "MoveNext" && target.DeclaringType is { } sm &&
               StateMachineModel.For(sm) is { Method: { } kickoff } && kickoff.HasSameMetadataDefinitionAs(frameMethod);
    }

    private static SourceLocation? Locate(StackFrame frame, MethodBase method)
    {
        int offset = frame.GetILOffset();
        if (offset < 0)
        {
            return null;
        }
        MethodBase definition = method;
        try
        {
            if (method.DeclaringType is { IsGenericType: true, IsGenericTypeDefinition: false } t)
            {
                definition = MethodBase.GetMethodFromHandle(method.MethodHandle, t.GetGenericTypeDefinition().TypeHandle) ?? method;
            }
            return PdbSymbols.For(method.Module.Assembly)?.GetMethod(definition.MetadataToken)?.FindLocation(offset);
        }
        catch (Exception)
        {
            return null;
        }
    }

    private static bool IsBuilderStart(MethodBase method) =>
        method.DeclaringType is { } t && FrameFilters.IsBuilderStart(Reading.LiveObjects.DefinitionName(t), method.Name);

    /// <summary>The frames outside frame <paramref name="index"/>, innermost first, by declaring type and name.</summary>
    private static IEnumerable<(string?, string?)> Outer(StackFrame[] frames, int index)
    {
        for (int j = index + 1; j < frames.Length; j++)
        {
            MethodBase? outer = frames[j].GetMethod();
            yield return outer?.DeclaringType is { } t ? (Reading.LiveObjects.DefinitionName(t), outer.Name) : (null, null);
        }
    }

    /// <summary>The kickoff method right above its own MoveNext: the same logical method, shown once.</summary>
    private static bool IsKickoffStub(MethodBase method, StackFrame[] frames, int index)
    {
        if (method.GetCustomAttribute<System.Runtime.CompilerServices.StateMachineAttribute>(inherit: false) is not { } attribute)
        {
            return false;
        }
        for (int j = index - 1; j >= 0; j--)
        {
            MethodBase? inner = frames[j].GetMethod();
            if (inner is null || IsBuilderStart(inner))
            {
                continue;
            }
            Type? sm = inner.DeclaringType;
            return sm is not null && (sm.IsGenericType ? sm.GetGenericTypeDefinition() : sm) == attribute.StateMachineType;
        }
        return false;
    }
}
