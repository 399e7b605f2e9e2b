using Microsoft.Extensions.Options;

namespace Stackscope.Orleans.Inspection;

/// <summary>
/// Runs a silo's scans (<see cref="SiloScan.Read"/>) one at a time: requests for the silo's report that arrive while a scan
/// runs share it, and a request that arrives when none runs starts a fresh one (a finished scan is never reused). One silo
/// is asked for its report by several readers at once: a cluster client asks three gatherers, each asking every silo.
/// Scanned concurrently, the scans each copied the process's active-task registry (TaskTracking) at the same moment, and a
/// copy that found the registry's lock held came back empty: its report lost every stack found only there. Scans of
/// different silos hosted in one process (test clusters, co-hosted silos) also take turns, since they share that registry.
/// </summary>
internal sealed class SiloScanner(IServiceProvider services, IOptions<StackscopeOrleansOptions> options)
{
    /// <summary>One scan at a time in this process, whichever silo it reads.</summary>
    private static readonly SemaphoreSlim s_oneAtATime = new(1, 1);

    private readonly object _gate = new();
    private Task<SiloStacks>? _running;

    /// <summary>The silo's report: the scan running now if there is one, else a new scan.</summary>
    public Task<SiloStacks> ReadAsync()
    {
        TaskCompletionSource<SiloStacks> scan;
        lock (_gate)
        {
            if (_running is { } running)
            {
                return running;
            }
            scan = new TaskCompletionSource<SiloStacks>(TaskCreationOptions.RunContinuationsAsynchronously);
            _running = scan.Task;
        }
        _ = RunAsync(scan);
        return scan.Task;
    }

    /// <summary>The silo's report, as <see cref="ReadAsync"/>, waited for on this thread.</summary>
    public SiloStacks Read() => ReadAsync().GetAwaiter().GetResult();

    private async Task RunAsync(TaskCompletionSource<SiloStacks> scan)
    {
        SiloStacks? report = null;
        Exception? failure = null;
        try
        {
            await s_oneAtATime.WaitAsync().ConfigureAwait(false);
            try
            {
                report = SiloScan.Read(services, options.Value);
            }
            finally
            {
                s_oneAtATime.Release();
            }
        }
        catch (Exception e)
        {
            failure = e;
        }
        finally
        {
            // Before answering: a request from now on, even one made in reaction to this answer, starts a new scan.
            lock (_gate)
            {
                _running = null;
            }
        }
        if (failure is null)
        {
            scan.SetResult(report!);
        }
        else
        {
            scan.SetException(failure);
        }
    }
}
