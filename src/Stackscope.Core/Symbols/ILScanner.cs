using System.Reflection;
using System.Reflection.Emit;

namespace Stackscope.Symbols;

/// <summary>A store of a constant to a state machine's <c>&lt;&gt;1__state</c> field, found in its <c>MoveNext</c> IL.</summary>
/// <param name="State">The constant stored.</param>
/// <param name="ILOffset">The offset of the <c>stfld</c>.</param>
/// <param name="AwaiterField">
/// For a suspension, the name of the awaiter field the same await stores its awaiter into before yielding,
/// which is how an await's state number is tied to the exact field holding what it awaits.
/// </param>
internal readonly record struct StateStore(int State, int ILOffset, string? AwaiterField);

/// <summary>
/// Reads a state machine's <c>MoveNext</c> IL to find, for each state number, where it is set and which
/// awaiter field it goes with. This is what lets Stackscope name the exact await a frame is suspended at,
/// rather than guessing from whichever awaiter field happens to be non-empty.
/// </summary>
internal static class ILScanner
{
    private static readonly OpCode[] s_oneByte = new OpCode[0x100];
    private static readonly OpCode[] s_twoByte = new OpCode[0x100];

    static ILScanner()
    {
        foreach (FieldInfo f in typeof(OpCodes).GetFields(BindingFlags.Public | BindingFlags.Static))
        {
            if (f.GetValue(null) is OpCode op)
            {
                ushort value = unchecked((ushort)op.Value);
                if (op.Size == 1)
                {
                    s_oneByte[value] = op;
                }
                else
                {
                    s_twoByte[value & 0xFF] = op;
                }
            }
        }
    }

    /// <summary>Lists every constant stored to the state field, in IL order. Empty if the IL cannot be read.</summary>
    public static List<StateStore> FindStateStores(MethodInfo moveNext)
    {
        var result = new List<StateStore>();
        byte[]? il = moveNext.GetMethodBody()?.GetILAsByteArray();
        if (il is null)
        {
            return result;
        }

        Module module = moveNext.Module;
        Type? declaring = moveNext.DeclaringType;
        Type[]? typeArgs = declaring is { IsGenericType: true } ? declaring.GetGenericArguments() : null;
        var fieldNames = new Dictionary<int, string?>();

        int? pendingConstant = null;
        int pos = 0;
        while (pos < il.Length)
        {
            int start = pos;
            OpCode op;
            byte b = il[pos++];
            if (b == 0xFE)
            {
                if (pos >= il.Length)
                {
                    break;
                }
                op = s_twoByte[il[pos++]];
            }
            else
            {
                op = s_oneByte[b];
            }

            int operandStart = pos;
            pos += OperandSize(op.OperandType, il, pos);

            if (op == OpCodes.Ldc_I4_M1) { pendingConstant = -1; continue; }
            if (op.Value >= OpCodes.Ldc_I4_0.Value && op.Value <= OpCodes.Ldc_I4_8.Value && op.Size == 1)
            {
                pendingConstant = op.Value - OpCodes.Ldc_I4_0.Value;
                continue;
            }
            if (op == OpCodes.Ldc_I4_S) { pendingConstant = unchecked((sbyte)il[operandStart]); continue; }
            if (op == OpCodes.Ldc_I4) { pendingConstant = BitConverter.ToInt32(il, operandStart); continue; }

            // "ldc k; dup; stloc.0; stfld <>1__state" is how Roslyn sets the state: let the constant through.
            if (op == OpCodes.Dup || op == OpCodes.Stloc_0 || op == OpCodes.Stloc_1 || op == OpCodes.Stloc_2 ||
                op == OpCodes.Stloc_3 || op == OpCodes.Stloc_S || op == OpCodes.Stloc)
            {
                continue;
            }

            if (op == OpCodes.Stfld)
            {
                int token = BitConverter.ToInt32(il, operandStart);
                if (!fieldNames.TryGetValue(token, out string? name))
                {
                    try
                    {
                        name = module.ResolveField(token, typeArgs, null)?.Name;
                    }
                    catch (Exception)
                    {
                        name = null;
                    }
                    fieldNames[token] = name;
                }

                if (name == "<>1__state" && pendingConstant is int state)
                {
                    result.Add(new StateStore(state, start, null));
                }
                else if (name is not null && name.StartsWith("<>u__", StringComparison.Ordinal) && result.Count > 0 &&
                         result[^1].AwaiterField is null && result[^1].State >= 0)
                {
                    result[^1] = result[^1] with { AwaiterField = name };
                }
            }
            pendingConstant = null;
        }
        return result;
    }

    private static int OperandSize(OperandType type, byte[] il, int pos) => type switch
    {
        OperandType.InlineNone => 0,
        OperandType.ShortInlineBrTarget or OperandType.ShortInlineI or OperandType.ShortInlineVar => 1,
        OperandType.InlineVar => 2,
        OperandType.InlineI8 or OperandType.InlineR => 8,
        OperandType.InlineSwitch => pos + 4 <= il.Length ? 4 + 4 * BitConverter.ToInt32(il, pos) : il.Length - pos,
        _ => 4,
    };
}
