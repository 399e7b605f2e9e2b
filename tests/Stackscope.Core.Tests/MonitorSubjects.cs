namespace Stackscope.Tests;

/// <summary>Async methods the monitor tests watch; lines marked <c>// @name</c> are asserted.</summary>
public static class MonitorSubjects
{
    public static int Line(string marker) => SourceLines.Find(SourceLines.ThisFile(), marker);

    public static async Task PlaceOrder(Task gate)
    {
        await Reserve(gate); // @place-order
    }

    public static async Task Reserve(Task gate)
    {
        await gate; // @reserve
    }
}
