using System.Runtime.CompilerServices;

namespace Stackscope.Tests;

/// <summary>Finds the line of a <c>// @name</c> marker in a source file, so tests assert real lines without hard-coding them.</summary>
internal static class SourceLines
{
    private static readonly Dictionary<string, string[]> s_files = new();

    public static int Find(string file, string marker)
    {
        string[] lines;
        lock (s_files)
        {
            if (!s_files.TryGetValue(file, out lines!))
            {
                s_files[file] = lines = File.ReadAllLines(file);
            }
        }
        int found = -1;
        for (int i = 0; i < lines.Length; i++)
        {
            if (lines[i].TrimEnd().EndsWith("// @" + marker, StringComparison.Ordinal))
            {
                Assert.True(found < 0, $"marker @{marker} appears twice in {file}");
                found = i + 1;
            }
        }
        Assert.True(found > 0, $"marker @{marker} not found in {file}");
        return found;
    }

    public static string ThisFile([CallerFilePath] string file = "") => file;
}
