#!/bin/sh
# A throwaway cluster: initialized at start, password auth on 127.0.0.1, listening on 127.0.0.1:$PGPORT only.
set -e
data=/tmp/pgdata
mkdir -p "$data" && chown postgres "$data"
echo "$POSTGRES_PASSWORD" > /tmp/pwfile && chown postgres /tmp/pwfile
su postgres -s /bin/sh -c "/usr/lib/postgresql/15/bin/initdb -D $data -U postgres --pwfile=/tmp/pwfile -A scram-sha-256 >/dev/null"
exec su postgres -s /bin/sh -c "exec /usr/lib/postgresql/15/bin/postgres -D $data -c listen_addresses=127.0.0.1 -c port=$PGPORT -c unix_socket_directories=/tmp -c fsync=off"
