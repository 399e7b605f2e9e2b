using System.Diagnostics;
using System.Text.Json;

namespace Stackscope.Tests;

/// <summary>The dotnet-stackscope tool, packed from source, installed from its nupkg, run by name.</summary>
public class ToolTests
{
    private static string RepoRoot => Path.GetFullPath(Path.Combine(Path.GetDirectoryName(SourceLines.ThisFile())!, "..", ".."));

    private static (int ExitCode, string Output, string Error) Run(string file, string arguments, string? workingDirectory = null)
    {
        var start = new ProcessStartInfo(file, arguments)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory ?? Environment.CurrentDirectory,
        };
        using Process process = Process.Start(start)!;
        Task<string> output = process.StandardOutput.ReadToEndAsync();
        Task<string> error = process.StandardError.ReadToEndAsync();
        Assert.True(process.WaitForExit(300_000), $"{file} {arguments} did not finish");
        return (process.ExitCode, output.Result, error.Result);
    }

    [Fact]
    public void The_tool_installs_from_its_package_and_prints_threads_and_grouped_async_stacks()
    {
        string root = Path.Combine(Path.GetTempPath(), "stackscope-tool-" + Guid.NewGuid().ToString("N"));
        string feed = Path.Combine(root, "feed"), tools = Path.Combine(root, "tools");
        try
        {
            var pack = Run("dotnet", $"pack \"{Path.Combine(RepoRoot, "src", "Stackscope.Tool")}\" -c Release -o \"{feed}\" --nologo");
            Assert.True(pack.ExitCode == 0, pack.Output + pack.Error);
            Assert.Single(Directory.GetFiles(feed, "dotnet-stackscope.*.nupkg"));

            var install = Run("dotnet", $"tool install dotnet-stackscope --tool-path \"{tools}\" --add-source \"{feed}\"", root);
            Assert.True(install.ExitCode == 0, install.Output + install.Error);

            using var fixture = new FixtureProcess();
            string tool = Path.Combine(tools, "dotnet-stackscope");

            var text = Run(tool, fixture.Id.ToString());
            Assert.True(text.ExitCode == 0, text.Output + text.Error);
            Assert.Contains("Thread #", text.Output);
            Assert.Contains("\"blocked-worker\"", text.Output);
            Assert.Contains($"async Task Orders.ChargeAsync(Task gate) in Program.cs:line {FixtureProcess.Line("charge")} · await #1", text.Output);
            Assert.Contains("══ 5 × ══", text.Output);

            var json = Run(tool, $"{fixture.Id} --format json --filter ConsumeAsync");
            Assert.True(json.ExitCode == 0, json.Output + json.Error);
            using JsonDocument document = JsonDocument.Parse(json.Output);
            Assert.Equal("attach", document.RootElement.GetProperty("source").GetString());
            JsonElement group = Assert.Single(document.RootElement.GetProperty("forest").GetProperty("groups").EnumerateArray());
            Assert.Equal("async Task<int> Readers.ConsumeAsync(ManualSource source)", group.GetProperty("stack").GetProperty("frames")[0].GetProperty("name").GetString());

            var minimum = Run(tool, $"{fixture.Id} --min-count 5 --no-heap");
            Assert.Equal(0, minimum.ExitCode);
            Assert.DoesNotContain("══", minimum.Output);

            var wrong = Run(tool, "999999");
            Assert.Equal(1, wrong.ExitCode);
            Assert.Contains("could not attach to process 999999", wrong.Error);

            fixture.Finish();
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }
}
