using System.Runtime.CompilerServices;
using Stackscope.Glue;

[assembly: Stackscope.Glue.StackscopeGlue(typeof(Stackscope.Tests.Subjects.TestGlue))]

// Subjects for the customization API, and the glue the test assembly registers for them.
namespace Stackscope.Tests.Subjects;

public static class GlueLines
{
    public static int Line(string marker) => SourceLines.Find(SourceLines.ThisFile(), marker);
}

/// <summary>A named worker running one job at a time; Dispatch hands it work and awaits only a reply.</summary>
public sealed class Worker(string name)
{
    public string Name { get; } = name;
    public Task? Current { get; private set; }

    public void Start(Task gate) => Current = Job(gate);

    private static async Task Job(Task gate)
    {
        await gate; // @worker-job
    }
}

public static class GlueSubjects
{
    public static async Task<int> Outer(Worker worker, Task<int> reply)
    {
        return await Plumbing(worker, reply); // @glue-outer
    }

    [StackscopeHidden]
    private static async Task<int> Plumbing(Worker worker, Task<int> reply) => await HiddenByGlue(worker, reply);

    public static async Task<int> HiddenByGlue(Worker worker, Task<int> reply) => await Dispatch(worker, reply);

    public static async Task<int> Dispatch(Worker worker, Task<int> reply)
    {
        int answer = await reply; // @glue-dispatch
        return answer + worker.Name.Length; // using the parameter after the await keeps it hoisted in Release builds
    }

    public static async Task<int> Explodes(Task<int> reply)
    {
        return await reply; // @glue-explodes
    }

    public static async Task AwaitsTicket(Ticket ticket)
    {
        await ticket; // @glue-ticket
    }

    public static async Task AwaitsLoop(LoopAwaitable loop)
    {
        await loop;
    }
}

/// <summary>A job handle held by a using: glue shows the stack of its completion task under the resource.</summary>
public sealed class Job(string name, Task completion) : IDisposable
{
    public string Name { get; } = name;
    public Task Completion { get; } = completion;
    public void Dispose() { }
}

public static class JobSubjects
{
    public static async Task HoldsJob(Job job, Task gate)
    {
        using Job held = job; // @job-held
        await gate;
    }
}

/// <summary>A custom awaitable only glue can explain.</summary>
public sealed class Ticket(int number)
{
    public int Number { get; } = number;
    public Awaiter GetAwaiter() => new(this);

    public readonly struct Awaiter(Ticket ticket) : INotifyCompletion
    {
        public Ticket Ticket { get; } = ticket;
        public bool IsCompleted => false;
        public void OnCompleted(Action continuation) { }
        public void GetResult() { }
    }
}

/// <summary>An awaitable whose (buggy) unwrapper says it stands for itself: extraction must still end.</summary>
public sealed class LoopAwaitable
{
    public Awaiter GetAwaiter() => new(this);

    public sealed class Awaiter(LoopAwaitable owner) : INotifyCompletion
    {
        public LoopAwaitable Owner { get; } = owner;
        public bool IsCompleted => false;
        public void OnCompleted(Action continuation) { }
        public void GetResult() { }
    }
}

public sealed class TestGlue : IStackscopeGlue
{
    public void Register(StackscopeGlueBuilder glue)
    {
        glue.ElaborateFrame(typeof(GlueSubjects).GetMethod(nameof(GlueSubjects.HiddenByGlue))!, _ => FrameElaboration.Hidden);
        glue.ElaborateFrame(typeof(GlueSubjects).GetMethod(nameof(GlueSubjects.Dispatch))!, frame =>
            frame.GetField("worker") is Worker worker
                ? new FrameElaboration { Links = [new StackLink($"continues in worker {worker.Name}", worker.Current)] }
                : null);
        glue.ElaborateFrame(typeof(GlueSubjects).GetMethod(nameof(GlueSubjects.Explodes))!,
            _ => throw new InvalidOperationException("this hook is broken"));
        glue.Unwrap<Ticket.Awaiter>(a => Unwrapped.Leaf($"ticket #{a.Ticket.Number} waiting at the counter"));
        glue.Unwrap<LoopAwaitable.Awaiter>(a => Unwrapped.To("loops", a));
        // Declines every task but the ones a test marks: like the Akka glue's Ask unwrapper, registered for Task itself.
        glue.Unwrap<Task>(t => MarkedTasks.Describe(t) is { } description ? Unwrapped.Leaf(description) : null);
        glue.Unwrap<Parcel.Awaiter>((a, context) =>
        {
            Sorting sorting = context.GetOrAdd(Sorting.Key, () => new Sorting());
            string route = context.Items.TryGetValue(Sorting.RouteKey, out object? r) ? (string)r! : "the default route";
            return Unwrapped.Leaf($"parcel #{a.Parcel.Number} on {route} (sorting #{sorting.Number})");
        });
        glue.DescribeResource<Job>(j => new ResourceDescription($"job {j.Name}", j.Completion));
        glue.Unwrap<Courier.Awaiter>(a => a.Courier.Remote is { } remote ? Unwrapped.To($"courier to {a.Courier.Node}", remote) : null);
    }
}

/// <summary>
/// An awaitable standing for work in another process: the test gives it that process's stack, as glue would after
/// reading another node's answer, and the glue continues the stack with it.
/// </summary>
public sealed class Courier(string node)
{
    public string Node { get; } = node;
    public LogicalStack? Remote { get; set; }
    public Awaiter GetAwaiter() => new(this);

    public readonly struct Awaiter(Courier courier) : INotifyCompletion
    {
        public Courier Courier { get; } = courier;
        public bool IsCompleted => false;
        public void OnCompleted(Action continuation) { }
        public void GetResult() { }
    }

    public static async Task Send(Courier courier)
    {
        await courier; // @glue-courier
    }

    public static async Task Receive(Task gate)
    {
        await Handle(gate); // @glue-receive
    }

    private static async Task Handle(Task gate)
    {
        await gate; // @glue-handle
    }
}

/// <summary>Tasks a test asks the test glue to describe; all others it declines.</summary>
public static class MarkedTasks
{
    private static readonly ConditionalWeakTable<Task, string> s_marked = new();

    public static void Mark(Task task, string description) => s_marked.AddOrUpdate(task, description);

    public static string? Describe(Task task) => s_marked.TryGetValue(task, out string? d) ? d : null;
}

/// <summary>What the parcel glue reads once per extraction (counts how often it was created, process-wide).</summary>
public sealed class Sorting
{
    public static readonly object Key = new();
    public static readonly object RouteKey = new();
    private static int s_created;

    public Sorting() => Number = Interlocked.Increment(ref s_created);

    public int Number { get; }

    public static int Created => Volatile.Read(ref s_created);
}

/// <summary>A custom awaitable glue describes with what it read once per extraction.</summary>
public sealed class Parcel(int number)
{
    public int Number { get; } = number;
    public Awaiter GetAwaiter() => new(this);

    public readonly struct Awaiter(Parcel parcel) : INotifyCompletion
    {
        public Parcel Parcel { get; } = parcel;
        public bool IsCompleted => false;
        public void OnCompleted(Action continuation) { }
        public void GetResult() { }
    }

    public static async Task<int> Await(Parcel parcel)
    {
        await parcel; // @glue-parcel
        return parcel.Number;
    }
}
