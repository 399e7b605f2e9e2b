using System.Text;

namespace Stackscope;

/// <summary>Renders <see cref="ProcessSnapshot"/>s: every thread, then the async forest.</summary>
internal static class SnapshotFormatter
{
    public static string Format(ProcessSnapshot snapshot, StackFormat format)
    {
        if (format == StackFormat.Json)
        {
            return JsonStackWriter.WriteSnapshot(snapshot);
        }
        var sb = new StringBuilder();
        sb.Append("Process ");
        if (snapshot.ProcessId > 0)
        {
            sb.Append(snapshot.ProcessId).Append(' '); // 0: not known (a dump that does not record it), left out
        }
        sb.Append('(').Append(snapshot.Source).Append("): ")
          .Append(snapshot.Threads.Count).Append(" managed thread(s)").AppendLine();
        foreach (StackError error in snapshot.Errors)
        {
            sb.Append("!! ").Append(error).AppendLine();
        }
        foreach (ThreadStack thread in snapshot.Threads)
        {
            sb.AppendLine();
            sb.Append("Thread #").Append(thread.ManagedThreadId);
            if (thread.Name is not null)
            {
                sb.Append(" \"").Append(thread.Name).Append('"');
            }
            sb.Append(" (OS ").Append(thread.OSThreadId).Append(", ").Append(thread.State).Append(')').AppendLine();
            sb.Append(thread.Stack.ToString(format));
        }
        sb.AppendLine();
        sb.Append("Async operations: ").Append(snapshot.Forest.ToString(format));
        return format == StackFormat.Ascii ? StackFormatter.AsciiOnly(sb.ToString()) : sb.ToString();
    }
}
