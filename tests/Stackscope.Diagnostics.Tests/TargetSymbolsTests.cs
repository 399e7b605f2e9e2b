using Stackscope.Diagnostics.Clr;

namespace Stackscope.Tests;

/// <summary>
/// The one-entry cache of a target's metadata: a read of the same assembly files reuses the last read's instance, a
/// read of other files gets a new one, and two reads at once never share one.
/// </summary>
[Collection(nameof(ProcessCollection))] // the cache is process-wide: not beside reads in other tests
public class TargetSymbolsTests
{
    private static readonly string[] Files = [typeof(object).Assembly.Location, typeof(TargetSymbolsTests).Assembly.Location];

    [Fact]
    public void A_read_of_the_same_files_reuses_the_last_reads_metadata()
    {
        TargetSymbols first = TargetSymbols.Open(Files);
        first.Release();
        TargetSymbols second = TargetSymbols.Open(Files);
        Assert.Same(first, second);

        // Taken out while in use: a read at the same time gets its own.
        TargetSymbols concurrent = TargetSymbols.Open(Files);
        Assert.NotSame(second, concurrent);
        concurrent.Release();
        second.Release(); // displaces (and disposes) the other

        Assert.Same(second, TargetSymbols.Open(Files));
        second.Release();
    }

    [Fact]
    public void A_read_of_other_files_does_not()
    {
        TargetSymbols first = TargetSymbols.Open(Files);
        first.Release();
        TargetSymbols other = TargetSymbols.Open(Files[..1]);
        Assert.NotSame(first, other);
        // It still works: names are read from its own files.
        Assert.Equal("string", other.FormatType("System.String", Files[0]));
        other.Release();
    }
}
