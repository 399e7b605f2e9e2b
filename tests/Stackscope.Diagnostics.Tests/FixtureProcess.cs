using System.Diagnostics;

namespace Stackscope.Tests;

/// <summary>
/// Starts tests/Stackscope.Fixture as a grandchild process (through sh) and waits until it says it is ready.
/// </summary>
/// <remarks>
/// Not a direct child by default: attaching with ptrace makes this process the fixture's tracer, and .NET's own
/// SIGCHLD handling calls waitpid on the pids of the children it started; for a child that is also being traced,
/// that can collect a ptrace stop meant for ClrMD's waitpid, which then waits forever (the Diagnostics suite hung
/// in ClrMD's LoadThreadsAndAttach about one run in four). ProcessInspector.Attach stops threads itself and copes
/// (a test checks it on a direct child), but tests that attach with ClrMD alone (the heap walk's comparisons) do not.
/// A grandchild is never one of those pids. sh waits for the fixture and exits with its exit code; the pipes are
/// inherited, so stdin and stdout are the fixture's.
/// </remarks>
internal sealed class FixtureProcess : IDisposable
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(60);
    private readonly Process _shell;

    /// <param name="arguments">The fixture's command line.</param>
    /// <param name="fixture">The fixture's assembly, next to the tests (tests/Stackscope.Fixture by default).</param>
    /// <param name="directChild">Start it as a child of this process, not through sh: for what must work on a child too.</param>
    public FixtureProcess(string arguments = "", string fixture = "Stackscope.Fixture.dll", bool directChild = false)
    {
        string dll = Path.Combine(AppContext.BaseDirectory, fixture);
        var start = new ProcessStartInfo(directChild ? "dotnet" : "/bin/sh")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            UseShellExecute = false,
        };
        if (directChild)
        {
            start.ArgumentList.Add(dll);
            foreach (string argument in arguments.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            {
                start.ArgumentList.Add(argument);
            }
        }
        else
        {
            start.ArgumentList.Add("-c");
            // An asynchronous list gets /dev/null as stdin unless it is redirected from another descriptor (dash ignores <&0).
            start.ArgumentList.Add($"exec 3<&0; dotnet \"{dll}\" {arguments} <&3 3<&- & wait $!");
        }
        _shell = Process.Start(start) ?? throw new InvalidOperationException("could not start the fixture " + fixture);
        // Bounded: a fixture that never suspends everything must fail the test, not hang it.
        Task<string?> ready = _shell.StandardOutput.ReadLineAsync();
        string? line = ready.Wait(Bound) ? ready.Result : null;
        if (line?.StartsWith("READY ", StringComparison.Ordinal) != true)
        {
            // Not started, or it gave up (its stderr says why): the shell and the fixture under it are ended, by the shell's pid.
            _shell.Kill(entireProcessTree: true);
            _shell.WaitForExit(10_000);
            string why = !ready.IsCompleted ? $"did not say READY within {Bound.TotalSeconds:F0} s" : $"said '{line}' and exited with {_shell.ExitCode}";
            _shell.Dispose();
            Assert.Fail($"the fixture {fixture} {why}");
        }
        Id = int.Parse(line!["READY ".Length..]);
        Assert.Equal(directChild, _shell.Id == Id);
    }

    /// <summary>The fixture's own process id (not the shell's).</summary>
    public int Id { get; }

    /// <summary>The line of a "// @name" marker in the fixture's source.</summary>
    public static int Line(string marker) =>
        SourceLines.Find(Path.GetFullPath(Path.Combine(Path.GetDirectoryName(SourceLines.ThisFile())!, "..", "Stackscope.Fixture", "Program.cs")), marker);

    /// <summary>Lets the fixture finish its work and exit; it must exit cleanly (nothing was disturbed).</summary>
    public void Finish()
    {
        _shell.StandardInput.WriteLine();
        Assert.True(_shell.WaitForExit(Bound), "the fixture did not exit");
        Assert.Equal(0, _shell.ExitCode); // sh exits with the fixture's exit code
    }

    public void Dispose()
    {
        try
        {
            using Process fixture = Process.GetProcessById(Id);
            fixture.Kill();
        }
        catch (ArgumentException)
        {
            // already exited
        }
        catch (InvalidOperationException)
        {
            // exited meanwhile
        }
        if (!_shell.HasExited)
        {
            _shell.Kill();
        }
        _shell.Dispose();
    }
}
