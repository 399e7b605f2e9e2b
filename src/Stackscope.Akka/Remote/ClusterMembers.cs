using System.Collections;
using System.Reflection;
using Akka.Actor;

namespace Stackscope.Akka.Remote;

/// <summary>A member of this node's cluster as this node sees it.</summary>
/// <param name="Address">Its address.</param>
/// <param name="Status">Its membership status (<c>Up</c>, <c>Leaving</c>, ...), as Akka.Cluster names it.</param>
/// <param name="Unreachable">Whether this node's failure detector marks it unreachable.</param>
internal sealed record ClusterMember(Address Address, string Status, bool Unreachable);

/// <summary>
/// The members of the cluster a node belongs to, read from Akka.Cluster's public API (<c>Cluster.Get(system).State</c>)
/// by reflection: Stackscope.Akka does not depend on Akka.Cluster (and Akka.Remote), which most actor systems do not use.
/// The members are read once per dump.
/// </summary>
internal static class ClusterMembers
{
    private static readonly Type? s_cluster = Type.GetType("Akka.Cluster.Cluster, Akka.Cluster", throwOnError: false);
    private static readonly MethodInfo? s_get = s_cluster?.GetMethod("Get", BindingFlags.Public | BindingFlags.Static, [typeof(ActorSystem)]);
    private static readonly PropertyInfo? s_state = s_cluster?.GetProperty("State");
    private static readonly PropertyInfo? s_selfAddress = s_cluster?.GetProperty("SelfAddress");

    /// <summary>The members and this node's own address, or null when <paramref name="system"/> is not a cluster node (or its state cannot be read).</summary>
    public static (IReadOnlyList<ClusterMember> Members, Address Self)? Of(ActorSystem system)
    {
        try
        {
            if (s_cluster is null || s_get is null || s_state is null || !system.HasExtension(s_cluster))
            {
                return null;
            }
            object? cluster = s_get.Invoke(null, [system]);
            object? state = s_state.GetValue(cluster);
            if (state is null || s_selfAddress?.GetValue(cluster) is not Address self)
            {
                return null;
            }
            var unreachable = new HashSet<Address>(Addresses(Property(state, "Unreachable")).Select(static m => m.Address));
            var members = new List<ClusterMember>();
            foreach ((Address address, string status) in Addresses(Property(state, "Members")))
            {
                members.Add(new ClusterMember(address, status, unreachable.Contains(address)));
            }
            return (members, self);
        }
        catch (Exception)
        {
            return null; // a cluster whose state cannot be read is read as no cluster: the dump says it asked no other node
        }
    }

    private static object? Property(object target, string name) => target.GetType().GetProperty(name)?.GetValue(target);

    private static IEnumerable<(Address Address, string Status)> Addresses(object? members)
    {
        if (members is not IEnumerable list)
        {
            yield break;
        }
        foreach (object? member in list)
        {
            if (member is not null && Property(member, "Address") is Address address)
            {
                yield return (address, Property(member, "Status")?.ToString() ?? "?");
            }
        }
    }
}
