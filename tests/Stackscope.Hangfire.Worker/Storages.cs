using Hangfire;
using Hangfire.PostgreSql;
using Hangfire.PostgreSql.Factories;
using Hangfire.Redis.StackExchange;

namespace Stackscope.Hangfire.Worker;

/// <summary>The real storages the cluster tests and sample run on, configured the same in every process.</summary>
public static class Storages
{
    public static JobStorage Create(string kind, string connection) => kind switch
    {
        "postgres" => Postgres(connection),
        "redis" => new RedisStorage(connection, new RedisStorageOptions { FetchTimeout = TimeSpan.FromMilliseconds(200) }),
        _ => throw new ArgumentException($"unknown storage '{kind}': postgres or redis"),
    };

    private static PostgreSqlStorage Postgres(string connection)
    {
        var options = new PostgreSqlStorageOptions { PrepareSchemaIfNecessary = true, QueuePollInterval = TimeSpan.FromMilliseconds(200) };
        return new PostgreSqlStorage(new NpgsqlConnectionFactory(connection, options), options);
    }
}
