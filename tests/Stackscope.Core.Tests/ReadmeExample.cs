// <readme-example>
using System.Threading.Channels;
using Stackscope;
using Stackscope.Glue;

[assembly: StackscopeGlue(typeof(Acme.Messaging.MessagingGlue))]

namespace Acme.Messaging;

/// <summary>A service handling one request at a time from its inbox.</summary>
public sealed class Service
{
    private readonly Channel<(string Request, TaskCompletionSource<string> Reply)> _inbox =
        Channel.CreateUnbounded<(string, TaskCompletionSource<string>)>();

    public Service(string name, Func<string, Task<string>> handler)
    {
        Name = name;
        _ = RunAsync(handler);
    }

    public string Name { get; }

    /// <summary>The request being handled right now, if any.</summary>
    public Task<string>? Current { get; private set; }

    /// <summary>Queues a request and awaits the reply: nothing links the caller to the handler but the message.</summary>
    public async Task<string> RequestAsync(string request)
    {
        var reply = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        _inbox.Writer.TryWrite((request, reply));
        return await reply.Task;
    }

    private async Task RunAsync(Func<string, Task<string>> handler)
    {
        await foreach (var (request, reply) in _inbox.Reader.ReadAllAsync())
        {
            Current = handler(request);
            reply.SetResult(await Current);
            Current = null;
        }
    }
}

/// <summary>Teaches Stackscope that a request continues in the handler of the service it was sent to.</summary>
public sealed class MessagingGlue : IStackscopeGlue
{
    public void Register(StackscopeGlueBuilder glue) =>
        glue.ElaborateFrame(typeof(Service).GetMethod(nameof(Service.RequestAsync))!, frame =>
            frame.This is Service { Current: { } handling } target
                ? new FrameElaboration { Links = [new StackLink($"continues in service {target.Name}", handling)] }
                : null);
}
// </readme-example>
