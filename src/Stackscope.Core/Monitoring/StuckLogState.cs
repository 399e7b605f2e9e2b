using System.Collections;

namespace Stackscope.Monitoring;

/// <summary>
/// A stuck-work warning as structured logging state: its message template and values, and the stack's JSON as one more
/// property (<c>StuckStackJson</c>) that the text leaves out.
/// </summary>
internal sealed class StuckLogState(StuckWork work, int number, string elapsed, string stack, string? json) : IReadOnlyList<KeyValuePair<string, object?>>
{
    private const string FirstTemplate = "Stuck {StuckKind} {StuckWhat}: running for {StuckElapsed}; its logical stack:\n{StuckStack}";
    private const string RepeatTemplate = "Still stuck {StuckKind} {StuckWhat}: running for {StuckElapsed} (warning {StuckWarning}); its logical stack:\n{StuckStack}";

    private KeyValuePair<string, object?>[] Values => _values ??=
    [
        new("StuckKind", work.Kind),
        new("StuckWhat", work.What),
        new("StuckElapsed", elapsed),
        new("StuckWarning", number),
        new("StuckStack", stack),
        new("StuckElapsedSeconds", work.Elapsed.TotalSeconds),
        new("StuckKey", work.Key),
        new("StuckStackJson", json),
        new("{OriginalFormat}", number == 1 ? FirstTemplate : RepeatTemplate),
    ];

    private KeyValuePair<string, object?>[]? _values;

    public int Count => Values.Length;

    public KeyValuePair<string, object?> this[int index] => Values[index];

    public IEnumerator<KeyValuePair<string, object?>> GetEnumerator() => ((IEnumerable<KeyValuePair<string, object?>>)Values).GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    public override string ToString() => number == 1
        ? $"Stuck {work.Kind} {work.What}: running for {elapsed}; its logical stack:\n{stack}"
        : $"Still stuck {work.Kind} {work.What}: running for {elapsed} (warning {number}); its logical stack:\n{stack}";
}
