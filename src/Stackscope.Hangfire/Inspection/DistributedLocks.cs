using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using Stackscope.Glue;

namespace Stackscope.Hangfire.Inspection;

/// <summary>
/// Hangfire's distributed locks (<c>IStorageConnection.AcquireDistributedLock</c>), which jobs on different servers take
/// through the shared storage: who holds one, and who waits for it.
/// </summary>
/// <remarks>
/// <para>Hangfire's storage API returns a bare <see cref="IDisposable"/> and says nothing about the resource it locks, so
/// the holder's side reads the lock object itself: every storage's lock type keeps the resource in a field, <c>_resource</c>
/// (Hangfire.PostgreSql, as <c>hangfire:&lt;resource&gt;</c>; Hangfire.InMemory; Hangfire.SqlServer, not run here) or <c>_key</c>
/// (Hangfire.Redis.StackExchange, the prefixed key). The rule, not a list of types: a type from an assembly named
/// <c>Hangfire*</c> whose name contains "Lock", with such a field. It is read where the lock is a <c>using</c> resource of
/// a suspended async frame; a synchronous job's locks are not readable (a thread's frames do not name their locals).</para>
/// <para>The waiter's side: a synchronous job's worker thread blocked under an <c>AcquireDistributedLock</c> frame. The
/// strings the frames from there inward keep alive (<see cref="ThreadStack.FrameStrings"/>) include the resource as the
/// storage names it (measured on the three storages: the argument, and the prefixed name the storage derives). They leave
/// the process only as hashes: a frame may hold any string, and an answer is written to the shared storage.</para>
/// </remarks>
internal static class DistributedLocks
{
    /// <summary>The most resource candidates kept for one waiting job.</summary>
    private const int MaxCandidates = 32;

    /// <summary>Per lock type, the reader of its resource field, or null when the type is not a storage's lock (a documented cache).</summary>
    private static readonly ConcurrentDictionary<Type, Func<object, object?>?> s_resourceReaders = new();

    /// <summary>Describes a held storage lock by its resource; declines anything else.</summary>
    public static ResourceDescription? Describe(object resource) =>
        ResourceOf(resource) is { } name ? new ResourceDescription($"distributed lock on \"{name}\"") : null;

    /// <summary>The resource a storage's lock object locks, or null when <paramref name="candidate"/> is not one.</summary>
    public static string? ResourceOf(object? candidate)
    {
        if (candidate is null || s_resourceReaders.GetOrAdd(candidate.GetType(), static t => ReaderFor(t)) is not { } read)
        {
            return null;
        }
        try
        {
            return read(candidate)?.ToString() is { Length: > 0 } name ? name : null;
        }
        catch (Exception)
        {
            return null; // a lock object being torn down by another thread: not described, never thrown
        }
    }

    private static Func<object, object?>? ReaderFor(Type type) =>
        type.Assembly.GetName().Name?.StartsWith("Hangfire", StringComparison.Ordinal) == true && type.Name.Contains("Lock", StringComparison.Ordinal)
            ? FieldReaders.For(type, "_resource") ?? FieldReaders.For(type, "_key")
            : null;

    /// <summary>The distributed locks a job's stack holds: the resources of the lock objects its frames use.</summary>
    public static IReadOnlyList<string> HeldBy(LogicalStack stack)
    {
        List<string>? held = null;
        foreach (var (_, resource) in BlockedBy.Held(stack))
        {
            if (ResourceOf(InProcess.SubjectOf(resource)) is { } name && !(held ??= new()).Contains(name))
            {
                held.Add(name);
            }
        }
        return held ?? (IReadOnlyList<string>)Array.Empty<string>();
    }

    /// <summary>
    /// When <paramref name="thread"/> is blocked acquiring a distributed lock, the hashes of the strings its frames from
    /// the outermost <c>AcquireDistributedLock</c> inward keep alive (one of them names the resource); otherwise null.
    /// </summary>
    public static IReadOnlyList<string>? AwaitedCandidates(ThreadStack thread)
    {
        int outermost = -1;
        for (int i = 0; i < thread.FrameStrings.Count; i++) // innermost frame first
        {
            if (thread.FrameStrings[i].Method.EndsWith(".AcquireDistributedLock", StringComparison.Ordinal))
            {
                outermost = i;
            }
        }
        if (outermost < 0 || !thread.Stack.Frames.Any(static f => f.MethodName == "AcquireDistributedLock"))
        {
            return null;
        }
        return thread.FrameStrings.Take(outermost + 1).Select(static s => s.Text).Where(static t => t.Length > 0)
            .Distinct(StringComparer.Ordinal).Take(MaxCandidates).Select(Hash).ToList();
    }

    /// <summary>The form in which a waiter's candidates are compared and carried: SHA-256, hex.</summary>
    public static string Hash(string text) => Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(text)));
}
