using System.Reflection;
using Stackscope.Runtime;

namespace Stackscope.Extraction;

/// <summary>
/// Children the runtime keeps no downward reference to, recovered from upward links over a known set of
/// tasks (the tracked active tasks): the tasks of a non-generic <c>Task.WhenAll</c>, the async delegate's
/// task under a <c>Task.Run(async ...)</c> unwrap, the workers of a <c>Parallel.ForEachAsync</c>.
/// </summary>
internal sealed class ReverseLinks
{
    private readonly Dictionary<object, List<object>> _children = new(ReferenceEqualityComparer.Instance);
    private readonly HashSet<object> _forEachWorkers = new(ReferenceEqualityComparer.Instance);

    public static ReverseLinks Build(IReadOnlyList<object> candidates)
    {
        var links = new ReverseLinks();
        var continuations = new List<object>();
        var types = new RuntimeObjects.LastTypeCache();
        foreach (object candidate in candidates)
        {
            if (candidate is not Task { IsCompleted: false } task)
            {
                continue;
            }
            continuations.Clear();
            Continuations.Collect(task, continuations, static (_, _) => { });
            foreach (object c in continuations)
            {
                if (c is Task promise && c is not IAsyncResult { IsCompleted: true } &&
                    RuntimeObjects.For(c.GetType()).Kind is ObjectKind.WhenAll or ObjectKind.WhenAny or ObjectKind.Unwrap or ObjectKind.WaitAsync or ObjectKind.OtherTask)
                {
                    links.Add(promise, task);
                }
            }
            if (types.For(task.GetType()).Model is { IsParallelWorker: true } model)
            {
                foreach (FieldInfo f in model.HoistedFields)
                {
                    if (typeof(TaskCompletionSource).IsAssignableFrom(f.FieldType) || f.FieldType == typeof(object))
                    {
                        if (model.FieldReader(f.Name)?.Invoke(task) is TaskCompletionSource state)
                        {
                            links.Add(state.Task, task);
                            links._forEachWorkers.Add(state.Task);
                            break;
                        }
                    }
                }
            }
        }
        return links;
    }

    /// <summary>The recovered children of <paramref name="promise"/>, or null.</summary>
    public IReadOnlyList<object>? ChildrenOf(object promise) => _children.TryGetValue(promise, out List<object>? c) ? c : null;

    /// <summary>True when <paramref name="promise"/> is a Parallel.ForEachAsync's task (its children are workers).</summary>
    public bool IsForEachAsync(object promise) => _forEachWorkers.Contains(promise);

    /// <summary>Every task found to be a recovered child (so not a root of the forest).</summary>
    public IEnumerable<object> AllChildren => _children.Values.SelectMany(c => c);

    private void Add(object parent, object child)
    {
        if (!_children.TryGetValue(parent, out List<object>? list))
        {
            _children[parent] = list = new List<object>();
        }
        list.Add(child);
    }
}
