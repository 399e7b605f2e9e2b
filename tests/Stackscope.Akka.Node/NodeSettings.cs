using Akka.Configuration;

namespace Stackscope.Akka.Node;

/// <summary>
/// How the test clusters are configured: Akka.Cluster over Akka.Remote on 127.0.0.1 only, Akka's log on stderr, joining
/// within a second or two of the seed being up, and a killed node downed (split-brain resolver, keep-majority) and removed
/// within about ten seconds rather than the production half-minute and more.
/// </summary>
public static class NodeSettings
{
    /// <summary>The actor system's name on every node (it is part of every address: all nodes of a cluster share it).</summary>
    public const string SystemName = "stackscope";

    /// <summary>
    /// The configuration of a node listening on <paramref name="port"/> of 127.0.0.1 (0: a free port the system picks).
    /// A node with Stackscope calls <c>UseStackscope()</c> once the system runs, as the README says,
    /// while the cluster's own actors start on other threads.
    /// </summary>
    public static Config For(int port) => ConfigurationFactory.ParseString($$"""
        akka {
          loglevel = WARNING
          stdout-loglevel = OFF
          loggers = ["Stackscope.Akka.Node.StderrLogger, Stackscope.Akka.Node"]
          actor.provider = cluster
          # Nodes start together: one that finds its seed not listening yet tries again a second later (not 5 s).
          remote.retry-gate-closed-for = 1 s
          remote.dot-netty.tcp {
            hostname = 127.0.0.1
            public-hostname = 127.0.0.1
            port = {{port}}
          }
          cluster {
            log-info = off
            # A joining node asks its seeds again every second until one answers (the seed may still be starting).
            seed-node-timeout = 1 s
            retry-unsuccessful-join-after = 1 s
            # A node that sends no heartbeat for 3 s (one a second) is unreachable ...
            failure-detector {
              heartbeat-interval = 1 s
              acceptable-heartbeat-pause = 3 s
              expected-response-after = 1 s
            }
            # ... and, once membership has been stable for 3 s, the majority downs it and the leader removes it.
            downing-provider-class = "Akka.Cluster.SBR.SplitBrainResolverProvider, Akka.Cluster"
            split-brain-resolver {
              active-strategy = keep-majority
              stable-after = 3 s
              # Not all nodes downed when a test makes membership change for long (killing and replacing nodes).
              down-all-when-unstable = off
            }
          }
        }
        """);
}
