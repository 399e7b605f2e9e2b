using System.CommandLine;
using Stackscope;
using Stackscope.Diagnostics;

// dotnet-stackscope: what a .NET process is doing, from outside it.
var pid = new Argument<int?>("pid") { Description = "The process to attach to.", Arity = ArgumentArity.ZeroOrOne };
var dump = new Option<FileInfo?>("--dump") { Description = "Read a core dump instead of a live process." };
var format = new Option<string>("--format") { Description = "text or json.", DefaultValueFactory = _ => "text" };
format.AcceptOnlyFromAmong("text", "json");
var filter = new Option<string?>("--filter") { Description = "Only threads and stacks with a frame whose method or type contains this text." };
var minCount = new Option<int>("--min-count") { Description = "Only groups of at least this many identical async stacks.", DefaultValueFactory = _ => 1 };
var noHeap = new Option<bool>("--no-heap") { Description = "Threads only: skip the heap walk for pending async operations." };

var root = new RootCommand("Prints every managed thread and the pending async operations of a .NET process or core dump, as logical stacks.")
{
    pid, dump, format, filter, minCount, noHeap,
};
root.SetAction((parse, cancellation) =>
{
    int? processId = parse.GetValue(pid);
    FileInfo? dumpFile = parse.GetValue(dump);
    if (processId is null == dumpFile is null)
    {
        Console.Error.WriteLine("dotnet-stackscope: give a process id or --dump <file>, not both.");
        return Task.FromResult(2);
    }

    using var cancel = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
    Console.CancelKeyPress += (_, e) =>
    {
        e.Cancel = true; // detach cleanly: the read stops at its next check and the target is resumed
        cancel.Cancel();
    };
    var options = new InspectOptions
    {
        IncludeHeap = !parse.GetValue(noHeap),
        Progress = Console.IsErrorRedirected ? null : new Progress<long>(n => Console.Error.Write($"\rscanned {n:N0} heap objects...")),
    };

    try
    {
        ProcessSnapshot snapshot = dumpFile is not null
            ? ProcessInspector.OpenDump(dumpFile.FullName, options, cancel.Token)
            : ProcessInspector.Attach(processId!.Value, options, cancel.Token);
        if (options.Progress is not null)
        {
            Console.Error.Write("\r" + new string(' ', 40) + "\r");
        }
        snapshot = Filters.Apply(snapshot, parse.GetValue(filter), parse.GetValue(minCount));
        Console.WriteLine(snapshot.ToString(parse.GetValue(format) == "json" ? StackFormat.Json : StackFormat.Tree));
        return Task.FromResult(0);
    }
    catch (OperationCanceledException)
    {
        Console.Error.WriteLine("\ndotnet-stackscope: canceled; the target was resumed and detached.");
        return Task.FromResult(130);
    }
    catch (InspectionException e)
    {
        Console.Error.WriteLine("dotnet-stackscope: " + e.Message);
        return Task.FromResult(1);
    }
});
return await root.Parse(args).InvokeAsync();

/// <summary>The tool's filters over a snapshot.</summary>
internal static class Filters
{
    public static ProcessSnapshot Apply(ProcessSnapshot snapshot, string? text, int minCount)
    {
        bool Matches(LogicalStack stack) => text is null ||
            stack.Frames.Any(f => f.DisplayName.Contains(text, StringComparison.OrdinalIgnoreCase)) ||
            stack.Children.Any(Matches);

        var threads = snapshot.Threads.Where(t => Matches(t.Stack)).ToArray();
        var groups = snapshot.Forest.Groups.Where(g => g.Count >= minCount && Matches(g.Stack)).ToArray();
        var forest = new StackForest(groups, snapshot.Forest.OperationCount, snapshot.Forest.FromTracking, snapshot.Forest.Errors) { Origin = snapshot.Forest.Origin };
        return new ProcessSnapshot(snapshot.Source, snapshot.ProcessId, threads, forest, snapshot.Errors);
    }
}
