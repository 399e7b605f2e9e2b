using System.Text;
using Stackscope.Akka.Glue;
using Stackscope.Glue;

namespace Stackscope.Akka.Formatting;

/// <summary>
/// Renders an <see cref="ActorSystemDump"/>: a header with counts, deadlocks, then the actor tree. A busy actor
/// gets its message, time busy, mailbox and handler stack; an idle one a single line; an all-idle subtree one line;
/// idle siblings (leaves and all-idle subtrees alike) beyond <see cref="ActorDumpOptions.IdleSiblingsShown"/> one line together.
/// </summary>
internal static class ActorDumpFormatter
{
    public static string Format(ActorSystemDump dump)
    {
        if (dump.Nodes.Count > 0)
        {
            return FormatCluster(dump);
        }
        ActorDumpOptions options = dump.Options;
        var text = new StringBuilder();
        ActorDump root = dump.Root;
        text.Append($"Actor system \"{dump.SystemName}\": {root.SubtreeBusyCount} busy of {root.SubtreeCount} actors");
        HeaderEnd(text, dump);
        if (options.OnlyBusy)
        {
            BusyList(text, dump.BusyActors, "", options, static a => a.Path);
            return text.ToString();
        }
        text.AppendLine($"{root.Path} [{root.ActorTypeName}]");
        Children(text, root, "", options);
        return text.ToString();
    }

    /// <summary>
    /// A cluster-wide dump: a header with counts, the Ask cycles of the whole cluster, then each node (this one first) with
    /// its busy actors named by their paths on it, or why it did not answer.
    /// </summary>
    private static string FormatCluster(ActorSystemDump dump)
    {
        ActorDumpOptions options = dump.Options;
        var text = new StringBuilder();
        ActorNodeDump self = dump.Nodes.FirstOrDefault(static n => n.IsThisNode) ?? dump.Nodes[0];
        int answered = dump.Nodes.Count(static n => n.Answered);
        text.Append($"Cluster of {dump.Nodes.Count} node{(dump.Nodes.Count == 1 ? "" : "s")} read from {self.Address}: ")
            .Append($"{dump.Nodes.Sum(static n => n.BusyActors.Count)} busy of {dump.Nodes.Sum(static n => n.ActorCount)} actors on the {answered} that answered");
        HeaderEnd(text, dump);
        foreach (ActorNodeDump node in dump.Nodes)
        {
            string which = node.IsThisNode ? "this node, " : "";
            if (!node.Answered)
            {
                text.AppendLine($"Node {node.Address} ({which}{node.Membership}): NO ANSWER: {node.Failure}");
                continue;
            }
            text.AppendLine($"Node {node.Address} ({which}{node.Membership}): {node.BusyActors.Count} busy of {node.ActorCount} actors");
            GlueText.AppendErrors(text, node.Errors.Select(static e => e.ToString()), "  ");
            BusyList(text, node.BusyActors, "  ", options,
                a => a.Path.StartsWith(node.Address, StringComparison.Ordinal) ? a.Path[node.Address.Length..] : a.Path);
        }
        return text.ToString();
    }

    /// <summary>The end of the header line (the deadlock count), each deadlock, and the errors.</summary>
    private static void HeaderEnd(StringBuilder text, ActorSystemDump dump)
    {
        if (dump.Deadlocks.Count > 0)
        {
            text.Append($", {dump.Deadlocks.Count} deadlock{(dump.Deadlocks.Count == 1 ? "" : "s")}");
        }
        text.AppendLine();
        foreach (Deadlock deadlock in dump.Deadlocks)
        {
            text.AppendLine(deadlock.ToString());
        }
        GlueText.AppendErrors(text, dump.Errors.Select(static e => e.ToString()));
    }

    /// <summary>
    /// Busy actors one after the other; those under /system (Akka's own: an endpoint writer sending this very dump's
    /// questions, say) in one line unless <see cref="ActorDumpOptions.IncludeSystemActors"/>, as in the tree.
    /// </summary>
    private static void BusyList(StringBuilder text, IEnumerable<ActorDump> busy, string indent, ActorDumpOptions options, Func<ActorDump, string> name)
    {
        int hidden = 0;
        foreach (ActorDump actor in busy)
        {
            if (!options.IncludeSystemActors && actor.IsUnderSystemGuardian)
            {
                hidden++;
                continue;
            }
            Busy(text, actor, indent, indent, options, name(actor));
        }
        if (hidden > 0)
        {
            text.AppendLine($"{indent}+ {hidden} busy system actor{(hidden == 1 ? "" : "s")} (IncludeSystemActors shows them)");
        }
    }

    private static void Children(StringBuilder text, ActorDump parent, string indent, ActorDumpOptions options)
    {
        // Subtrees with anything busy are shown one by one; idle siblings (idle leaves and all-idle subtrees alike)
        // beyond the limit fold into one line. The guardians are never folded.
        var lines = new List<Action<string, string>>();
        List<ActorDump> folded = parent.Children.Where(static c => AllIdle(c) && !IsGuardian(c)).Skip(options.IdleSiblingsShown).ToList();
        var hidden = new HashSet<ActorDump>(folded);
        foreach (ActorDump child in parent.Children.Where(c => !hidden.Contains(c)))
        {
            lines.Add((first, rest) => Actor(text, child, first, rest, options));
        }
        if (folded.Count > 0)
        {
            string range = folded.Count == 1 ? folded[0].Name : $"{folded[0].Name} … {folded[^1].Name}";
            int descendants = folded.Sum(static c => c.SubtreeCount - 1);
            string below = descendants == 0 ? "" : $" and their {Descendants(descendants)}, all idle";
            lines.Add((first, _) => text.AppendLine($"{first}+ {folded.Count} more idle actors ({range}){below}"));
        }
        for (int i = 0; i < lines.Count; i++)
        {
            bool last = i == lines.Count - 1;
            lines[i](indent + (last ? "└─ " : "├─ "), indent + (last ? "   " : "│  "));
        }
    }

    private static void Actor(StringBuilder text, ActorDump actor, string first, string rest, ActorDumpOptions options)
    {
        bool isSystem = actor.Path.EndsWith("/system", StringComparison.Ordinal) && !options.IncludeSystemActors;
        // The user guardian is always opened: folding it would fold the whole application.
        bool isUserGuardian = actor.Path.EndsWith("/user", StringComparison.Ordinal);
        if (isSystem || !isUserGuardian && actor.Children.Count > 0 && AllIdle(actor))
        {
            string what = actor.SubtreeBusyCount == 0 ? "all idle" : $"{actor.SubtreeBusyCount} busy";
            text.AppendLine($"{first}{actor.Name} [{actor.ActorTypeName}] ({Descendants(actor.SubtreeCount - 1)}, {what}{(isSystem ? "; IncludeSystemActors shows them" : "")})");
            return;
        }
        string below = rest + (actor.Children.Count > 0 ? "│  " : "   ");
        if (actor.IsBusy)
        {
            Busy(text, actor, first, below, options, actor.Name);
        }
        else
        {
            text.AppendLine($"{first}{actor.Name} [{actor.ActorTypeName}] {State(actor)}{PipesHeader(actor)}");
            Pipes(text, actor, below, options);
        }
        Children(text, actor, rest, options);
    }

    private static string Descendants(int count) => count == 1 ? "1 descendant" : $"{count} descendants";

    /// <summary>The user and system guardians (children of the root guardian).</summary>
    private static bool IsGuardian(ActorDump actor) =>
        actor.Path.EndsWith("/user", StringComparison.Ordinal) || actor.Path.EndsWith("/system", StringComparison.Ordinal);

    private static bool AllIdle(ActorDump actor) =>
        actor.MailboxCount == 0 && actor.Activity == ActorActivity.Idle && actor.PendingPipes.Count == 0 && actor.Children.All(AllIdle);

    /// <summary>What follows an idle actor's state when PipeTo operations to it are pending.</summary>
    private static string PipesHeader(ActorDump actor) => actor.PendingPipes.Count switch
    {
        0 => "",
        1 => $", with a pending PipeTo to {actor.PendingPipes[0].Recipient}:",
        int n => $", with {n} pending PipeTo operations:",
    };

    /// <summary>Each pending PipeTo's stack (after a "to ..." line when there are several).</summary>
    private static void Pipes(StringBuilder text, ActorDump actor, string rest, ActorDumpOptions options)
    {
        foreach (ActorPipe pipe in actor.PendingPipes)
        {
            if (actor.PendingPipes.Count > 1 || actor.IsBusy)
            {
                text.AppendLine($"{rest}  {(actor.IsBusy ? "with a pending PipeTo" : "PipeTo")} to {pipe.Recipient}:");
            }
            StackLines(text, pipe.Stack, rest, options);
        }
    }

    private static void StackLines(StringBuilder text, LogicalStack stack, string rest, ActorDumpOptions options)
    {
        foreach (string line in stack.ToString(options.StackFormat).Split('\n'))
        {
            if (line.Length > 0)
            {
                text.AppendLine($"{rest}  {line.TrimEnd('\r')}");
            }
        }
    }

    private static string State(ActorDump actor)
    {
        string state = actor.Activity.ToString().ToLowerInvariant();
        return actor.MailboxCount > 0 ? $"{state}, {actor.MailboxCount} queued: {Queued(actor)}" : state;
    }

    private static void Busy(StringBuilder text, ActorDump actor, string first, string rest, ActorDumpOptions options, string name)
    {
        string since = actor.BusyFor is { } busy ? $" for {GlueText.Duration(busy)}" : "";
        string verb = actor.Activity == ActorActivity.Awaiting ? "awaiting" : "running";
        ActorMessage? message = actor.Message;
        text.AppendLine($"{first}{name} [{actor.ActorTypeName}] BUSY {verb}{since}: {message?.TypeName} {message?.Text}".TrimEnd());
        if (message?.SenderPath is { } sender)
        {
            text.AppendLine(message.AskedBy is { } asker ? $"{rest}  from {asker} (its Ask {sender})" : $"{rest}  from {sender}");
        }
        if (actor.MailboxCount > 0)
        {
            text.AppendLine($"{rest}  mailbox: {actor.MailboxCount} queued: {Queued(actor)}");
        }
        if (actor.Note is { } note)
        {
            text.AppendLine($"{rest}  {note}");
        }
        if (actor.Stack is { } stack)
        {
            StackLines(text, stack, rest, options);
        }
        Pipes(text, actor, rest, options);
    }

    private static string Queued(ActorDump actor)
    {
        string shown = string.Join(", ", actor.Queued.Select(static m => m.TypeName));
        return actor.MailboxCount > actor.Queued.Count ? shown + ", …" : shown;
    }
}
