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
/// A <c>using</c>-like region of <c>MoveNext</c>: the hoisted field disposed when the region ends, and the IL
/// range it protects. Found from the method's exception-handling clauses: a <c>finally</c> calling
/// <c>Dispose</c> on the field (<c>using</c>), or a <c>catch (object)</c> followed by <c>DisposeAsync</c> on it
/// (<c>await using</c> and <c>await foreach</c>, which the compiler lowers that way because a finally cannot await).
/// </summary>
internal readonly record struct DisposalRegion(string Field, bool IsAsync, int TryStart, int TryEnd, int InitOffset);

/// <summary>
/// Reads a state machine's <c>MoveNext</c> IL: where each state number is set and which awaiter field it goes
/// with (so Stackscope names the exact await rather than guessing from whichever awaiter field is set), and
/// which hoisted resources are disposed at the end of which protected regions.
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

    /// <summary>One decoded instruction; for branches <paramref name="Operand"/> is the absolute target offset.</summary>
    private readonly record struct Instruction(int Offset, OpCode OpCode, long Operand, int[]? SwitchTargets = null);

    private static List<Instruction> Decode(byte[] il)
    {
        var result = new List<Instruction>(il.Length / 3);
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

            long operand = op.OperandType switch
            {
                OperandType.ShortInlineI => unchecked((sbyte)il[pos]),
                OperandType.ShortInlineBrTarget => pos + 1 + unchecked((sbyte)il[pos]),
                OperandType.InlineBrTarget => pos + 4 <= il.Length ? pos + 4 + BitConverter.ToInt32(il, pos) : 0,
                OperandType.ShortInlineVar => il[pos],
                OperandType.InlineVar => BitConverter.ToInt16(il, pos),
                OperandType.InlineI8 or OperandType.InlineR => BitConverter.ToInt64(il, pos),
                OperandType.InlineNone => 0,
                _ => pos + 4 <= il.Length ? BitConverter.ToInt32(il, pos) : 0,
            };
            int[]? switchTargets = null;
            if (op.OperandType == OperandType.InlineSwitch && pos + 4 <= il.Length)
            {
                int count = BitConverter.ToInt32(il, pos);
                int end = pos + 4 + 4 * count;
                if (count >= 0 && end <= il.Length)
                {
                    switchTargets = new int[count];
                    for (int i = 0; i < count; i++)
                    {
                        switchTargets[i] = end + BitConverter.ToInt32(il, pos + 4 + 4 * i);
                    }
                }
            }
            pos += op.OperandType switch
            {
                OperandType.InlineNone => 0,
                OperandType.ShortInlineBrTarget or OperandType.ShortInlineI or OperandType.ShortInlineVar => 1,
                OperandType.InlineVar => 2,
                OperandType.InlineI8 or OperandType.InlineR => 8,
                OperandType.InlineSwitch => pos + 4 <= il.Length ? 4 + 4 * BitConverter.ToInt32(il, pos) : il.Length - pos,
                _ => 4,
            };
            result.Add(new Instruction(start, op, operand, switchTargets));
        }
        return result;
    }

    /// <summary>The decoded body of a <c>MoveNext</c> with cached token resolution.</summary>
    internal sealed class Body
    {
        private readonly Module _module;
        private readonly MetadataNames? _metadata;
        private readonly Type[]? _typeArgs;
        private readonly Dictionary<int, string?> _names = new();
        private readonly List<Instruction> _instructions;
        private readonly IList<ExceptionHandlingClause> _clauses;

        private Body(MethodInfo moveNext, MethodBody body, byte[] il)
        {
            _module = moveNext.Module;
            _metadata = MetadataNames.For(_module);
            Type? declaring = moveNext.DeclaringType;
            _typeArgs = declaring is { IsGenericType: true } ? declaring.GetGenericArguments() : null;
            _instructions = Decode(il);
            _clauses = body.ExceptionHandlingClauses;
        }

        public static Body? Read(MethodInfo moveNext)
        {
            MethodBody? body = moveNext.GetMethodBody();
            byte[]? il = body?.GetILAsByteArray();
            return body is null || il is null ? null : new Body(moveNext, body, il);
        }

        private string? FieldName(long token) => Name((int)token, field: true);

        private string? MethodName(long token) => Name((int)token, field: false);

        private string? Name(int token, bool field)
        {
            if (!_names.TryGetValue(token, out string? name))
            {
                try
                {
                    // Through the module's metadata, which works for MetadataLoadContext modules too; reflection's
                    // resolution only for a module without a file.
                    name = _metadata is not null
                        ? field ? _metadata.FieldName(token) : _metadata.Method(token)?.Name
                        : field ? _module.ResolveField(token, _typeArgs, null)?.Name : _module.ResolveMethod(token, _typeArgs, null)?.Name;
                }
                catch (Exception)
                {
                    name = null;
                }
                _names[token] = name;
            }
            return name;
        }

        private const int MaxPathLength = 4096;
        private Dictionary<int, int>? _indexByOffset;
        private Dictionary<int, List<int>>? _jumpSources;

        /// <summary>
        /// The offsets of the instructions that ran up to <paramref name="offset"/> on one control-flow path, from
        /// that instruction backwards: the previous instruction when it falls through, else a branch that jumps
        /// here. Unlike the IL order, this never wanders into another branch of an <c>if</c> or a switch arm
        /// laid out just before. Ends at the method's (or a handler's) entry.
        /// </summary>
        public IEnumerable<int> PathTo(int offset)
        {
            EnsureFlow();
            if (!_indexByOffset!.TryGetValue(offset, out int i))
            {
                yield break;
            }
            var seen = new HashSet<int>();
            while (seen.Add(i) && seen.Count <= MaxPathLength)
            {
                int current = _instructions[i].Offset;
                yield return current;
                if (i > 0 && FallsThrough(_instructions[i - 1].OpCode))
                {
                    i--;
                }
                else if (_jumpSources!.TryGetValue(current, out List<int>? sources) && _indexByOffset.TryGetValue(sources[0], out int source))
                {
                    i = source;
                }
                else
                {
                    yield break;
                }
            }
        }

        /// <summary>
        /// The offsets of the instructions that run from <paramref name="offset"/> on without a decision: through
        /// unconditional branches, up to and including the first conditional branch, <c>leave</c>, return or throw.
        /// </summary>
        public IEnumerable<int> StraightFrom(int offset)
        {
            EnsureFlow();
            if (!_indexByOffset!.TryGetValue(offset, out int i))
            {
                yield break;
            }
            var seen = new HashSet<int>();
            while (i < _instructions.Count && seen.Add(i) && seen.Count <= MaxPathLength)
            {
                Instruction ins = _instructions[i];
                yield return ins.Offset;
                if (ins.OpCode == OpCodes.Br || ins.OpCode == OpCodes.Br_S)
                {
                    if (!_indexByOffset.TryGetValue((int)ins.Operand, out i))
                    {
                        yield break;
                    }
                }
                else if (FallsThrough(ins.OpCode) && ins.OpCode.FlowControl != FlowControl.Cond_Branch)
                {
                    i++;
                }
                else
                {
                    yield break;
                }
            }
        }

        private static bool FallsThrough(OpCode op) =>
            op.FlowControl is not (FlowControl.Branch or FlowControl.Return or FlowControl.Throw);

        private void EnsureFlow()
        {
            if (_indexByOffset is not null)
            {
                return;
            }
            var index = new Dictionary<int, int>(_instructions.Count);
            var sources = new Dictionary<int, List<int>>();
            for (int i = 0; i < _instructions.Count; i++)
            {
                Instruction ins = _instructions[i];
                index[ins.Offset] = i;
                if (ins.OpCode.OperandType is OperandType.ShortInlineBrTarget or OperandType.InlineBrTarget)
                {
                    AddSource(sources, (int)ins.Operand, ins.Offset);
                }
                foreach (int target in ins.SwitchTargets ?? [])
                {
                    AddSource(sources, target, ins.Offset);
                }
            }
            _jumpSources = sources;
            _indexByOffset = index;
        }

        private static void AddSource(Dictionary<int, List<int>> sources, int target, int source)
        {
            if (!sources.TryGetValue(target, out List<int>? list))
            {
                sources[target] = list = new List<int>(1);
            }
            list.Add(source);
        }

        /// <summary>Lists every constant stored to the state field, in IL order.</summary>
        public List<StateStore> StateStores()
        {
            var result = new List<StateStore>();
            int? pendingConstant = null;
            foreach (Instruction ins in _instructions)
            {
                OpCode op = ins.OpCode;
                if (op == OpCodes.Ldc_I4_M1) { pendingConstant = -1; continue; }
                if (op.Size == 1 && op.Value >= OpCodes.Ldc_I4_0.Value && op.Value <= OpCodes.Ldc_I4_8.Value)
                {
                    pendingConstant = op.Value - OpCodes.Ldc_I4_0.Value;
                    continue;
                }
                if (op == OpCodes.Ldc_I4_S || op == OpCodes.Ldc_I4) { pendingConstant = (int)ins.Operand; continue; }

                // "ldc k; dup; stloc.0; stfld <>1__state" is how Roslyn sets the state: let the constant through.
                if (op == OpCodes.Dup || op == OpCodes.Stloc_0 || op == OpCodes.Stloc_1 || op == OpCodes.Stloc_2 ||
                    op == OpCodes.Stloc_3 || op == OpCodes.Stloc_S || op == OpCodes.Stloc)
                {
                    continue;
                }

                if (op == OpCodes.Stfld)
                {
                    string? name = FieldName(ins.Operand);
                    if (name == "<>1__state" && pendingConstant is int state)
                    {
                        result.Add(new StateStore(state, ins.Offset, null));
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

        /// <summary>Finds the regions at whose end a hoisted field is disposed (using, await using, await foreach).</summary>
        public List<DisposalRegion> DisposalRegions()
        {
            var result = new List<DisposalRegion>();
            foreach (ExceptionHandlingClause clause in _clauses)
            {
                string? field = null;
                bool isAsync = false;
                if (clause.Flags == ExceptionHandlingClauseOptions.Finally)
                {
                    field = FieldDisposedIn(clause.HandlerOffset, clause.HandlerOffset + clause.HandlerLength, "Dispose");
                }
                else if (clause.Flags == ExceptionHandlingClauseOptions.Clause && clause.CatchType?.FullName == "System.Object")
                {
                    // The lowered finally of an await using runs right after the catch that stashes the exception.
                    int after = clause.HandlerOffset + clause.HandlerLength;
                    field = FieldDisposedIn(after, after + 96, "DisposeAsync");
                    isAsync = true;
                }
                if (field is not null)
                {
                    result.Add(new DisposalRegion(field, isAsync, clause.TryOffset, clause.TryOffset + clause.TryLength, LastStoreBefore(field, clause.TryOffset)));
                }
            }
            return result;
        }

        private string? FieldDisposedIn(int start, int end, string disposeMethod)
        {
            string? lastField = null;
            foreach (Instruction ins in _instructions)
            {
                if (ins.Offset < start)
                {
                    continue;
                }
                if (ins.Offset >= end)
                {
                    break;
                }
                if (ins.OpCode == OpCodes.Ldfld || ins.OpCode == OpCodes.Ldflda)
                {
                    lastField = FieldName(ins.Operand);
                }
                else if (ins.OpCode == OpCodes.Callvirt || ins.OpCode == OpCodes.Call)
                {
                    string? m = MethodName(ins.Operand);
                    if (m is not null && (m == disposeMethod || m.EndsWith("." + disposeMethod, StringComparison.Ordinal)))
                    {
                        return lastField;
                    }
                    // The compiler's lowering of a using calls nothing before Dispose but a nullable resource's
                    // HasValue/GetValueOrDefault. A finally that calls something else first is code someone wrote
                    // (Parallel.ForEachAsync's workers dispose their shared state when the last one finishes): not a using.
                    if (m is not ("get_HasValue" or "GetValueOrDefault"))
                    {
                        return null;
                    }
                }
            }
            return null;
        }

        /// <summary>
        /// The method whose result an await awaits, when the awaited expression is a call (<c>await Parallel.ForEachAsync(...)</c>,
        /// <c>await x.FooAsync().ConfigureAwait(false)</c>): found backwards along the control-flow path from the await's
        /// state store, past its <c>GetAwaiter</c> (and <c>ConfigureAwait</c>). Null when it awaits a variable or the
        /// IL does not have that shape.
        /// </summary>
        public MethodName? AwaitedCall(int stateStoreOffset)
        {
            const int maxSteps = 64;
            bool sawGetAwaiter = false;
            int steps = 0;
            foreach (int offset in PathTo(stateStoreOffset))
            {
                if (++steps > maxSteps)
                {
                    return null;
                }
                Instruction ins = _instructions[_indexByOffset![offset]];
                OpCode op = ins.OpCode;
                bool isCall = op == OpCodes.Call || op == OpCodes.Callvirt || op == OpCodes.Newobj;
                if (!sawGetAwaiter)
                {
                    sawGetAwaiter = isCall && MethodName(ins.Operand) == "GetAwaiter";
                    continue;
                }
                if (isCall)
                {
                    if (MethodName(ins.Operand) == "ConfigureAwait")
                    {
                        continue;
                    }
                    return ResolveMethod(ins.Operand);
                }
                // Between the call and GetAwaiter: a ValueTask stored and its address taken, ConfigureAwait's argument.
                bool plumbing = op == OpCodes.Nop || op == OpCodes.Ldloca || op == OpCodes.Ldloca_S ||
                    op == OpCodes.Stloc || op == OpCodes.Stloc_S || op == OpCodes.Stloc_0 || op == OpCodes.Stloc_1 ||
                    op == OpCodes.Stloc_2 || op == OpCodes.Stloc_3 || op == OpCodes.Ldc_I4_0 || op == OpCodes.Ldc_I4_1 ||
                    op == OpCodes.Ldc_I4_S || op == OpCodes.Ldc_I4;
                if (!plumbing)
                {
                    return null;
                }
            }
            return null;
        }

        private MethodName? ResolveMethod(long token)
        {
            if (_metadata is not null)
            {
                return _metadata.Method((int)token);
            }
            try
            {
                return _module.ResolveMethod((int)token, _typeArgs, null) is { } m ? new MethodName(m.DeclaringType?.FullName, m.Name) : null;
            }
            catch (Exception)
            {
                return null;
            }
        }

        private int LastStoreBefore(string field, int offset)
        {
            int found = -1;
            foreach (Instruction ins in _instructions)
            {
                if (ins.Offset >= offset)
                {
                    break;
                }
                if (ins.OpCode == OpCodes.Stfld && FieldName(ins.Operand) == field)
                {
                    found = ins.Offset;
                }
            }
            return found;
        }
    }
}
