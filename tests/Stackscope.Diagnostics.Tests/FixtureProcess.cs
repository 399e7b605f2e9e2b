using System.Diagnostics;

namespace Stackscope.Tests;

/// <summary>Starts tests/Stackscope.Fixture as a child process and waits until it says it is ready.</summary>
internal sealed class FixtureProcess : IDisposable
{
    private readonly Process _process;

    public FixtureProcess(string arguments = "")
    {
        string dll = Path.Combine(AppContext.BaseDirectory, "Stackscope.Fixture.dll");
        var start = new ProcessStartInfo("dotnet", $"\"{dll}\" {arguments}")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            UseShellExecute = false,
        };
        _process = Process.Start(start) ?? throw new InvalidOperationException("could not start the fixture");
        string? line = _process.StandardOutput.ReadLine(); // blocks until the fixture has suspended everything
        Assert.StartsWith("READY ", line);
        Assert.Equal(_process.Id, int.Parse(line!["READY ".Length..]));
    }

    public int Id => _process.Id;

    /// <summary>The line of a "// @name" marker in the fixture's source.</summary>
    public static int Line(string marker) =>
        SourceLines.Find(Path.GetFullPath(Path.Combine(Path.GetDirectoryName(SourceLines.ThisFile())!, "..", "Stackscope.Fixture", "Program.cs")), marker);

    /// <summary>Lets the fixture finish its work and exit; it must exit cleanly (nothing was disturbed).</summary>
    public void Finish()
    {
        _process.StandardInput.WriteLine();
        Assert.True(_process.WaitForExit(30_000), "the fixture did not exit");
        Assert.Equal(0, _process.ExitCode);
    }

    public void Dispose()
    {
        if (!_process.HasExited)
        {
            _process.Kill();
        }
        _process.Dispose();
    }
}
