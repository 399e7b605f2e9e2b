using System.Diagnostics;
using System.Text.Json;

namespace Stackscope.Tests;

/// <summary>The dotnet-stackscope tool, packed from source, installed from its nupkg, run by name.</summary>
[Collection(nameof(ProcessCollection))]
public class ToolTests
{
    private static string RepoRoot => Path.GetFullPath(Path.Combine(Path.GetDirectoryName(SourceLines.ThisFile())!, "..", ".."));

    /// <summary>
    /// Runs a command with its output going to files, waiting only for the command itself: a build server
    /// it starts (dotnet pack) may outlive it, and would hold a redirected pipe open forever.
    /// </summary>
    private static (int ExitCode, string Output, string Error) Run(string file, string arguments, string? workingDirectory = null)
    {
        string stdout = Path.GetTempFileName(), stderr = Path.GetTempFileName();
        try
        {
            var start = new ProcessStartInfo("/bin/sh", ["-c", $"exec \"{file}\" {arguments} > \"{stdout}\" 2> \"{stderr}\" < /dev/null"])
            {
                UseShellExecute = false,
                WorkingDirectory = workingDirectory ?? Environment.CurrentDirectory,
            };
            // The pack below is a build inside a test run: keep it off reusable MSBuild nodes and build servers.
            start.Environment["MSBUILDDISABLENODEREUSE"] = "1";
            start.Environment["DOTNET_CLI_USE_MSBUILD_SERVER"] = "0";
            using Process process = Process.Start(start)!;
            if (!process.WaitForExit(180_000))
            {
                process.Kill(entireProcessTree: true);
                Assert.Fail($"{file} {arguments} did not finish in 3 minutes");
            }
            return (process.ExitCode, File.ReadAllText(stdout), File.ReadAllText(stderr));
        }
        finally
        {
            File.Delete(stdout);
            File.Delete(stderr);
        }
    }

    [Fact]
    public void The_tool_installs_from_its_package_and_prints_threads_and_grouped_async_stacks()
    {
        string root = Path.Combine(Path.GetTempPath(), "stackscope-tool-" + Guid.NewGuid().ToString("N"));
        string packages = Path.Combine(root, "packages"), tools = Path.Combine(root, "tools");
        try
        {
            var pack = Run("dotnet", $"pack \"{Path.Combine(RepoRoot, "src", "Stackscope.Tool")}\" -c Release -o \"{packages}\" --nologo --disable-build-servers -nodeReuse:false");
            Assert.True(pack.ExitCode == 0, pack.Output + pack.Error);
            Assert.Single(Directory.GetFiles(packages, "dotnet-stackscope.*.nupkg"));

            var install = Run("dotnet", $"tool install dotnet-stackscope --tool-path \"{tools}\" --add-source \"{packages}\"", root);
            Assert.True(install.ExitCode == 0, install.Output + install.Error);

            using var fixture = new FixtureProcess();
            string tool = Path.Combine(tools, "dotnet-stackscope");

            var help = Run(tool, "--help");
            Assert.True(help.ExitCode == 0, help.Output + help.Error);
            Assert.Contains("  dotnet-stackscope [<pid>] [options]", help.Output); // its usage line names the command users type
            Assert.DoesNotContain("Stackscope.Tool", help.Output);

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
