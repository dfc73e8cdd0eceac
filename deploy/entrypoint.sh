#!/bin/sh
# Entrypoint of the tfi-data image. Before a command that opens the Dagster instance (webserver,
# daemon, `dagster job execute`, ...) it checks that the PostgreSQL settings the deployment
# instance config ($DAGSTER_HOME/dagster.yaml = deploy/dagster.yaml) reads are set, and stops
# with a short message naming the missing ones instead of Dagster's config traceback. For a
# one-off run without PostgreSQL, pass -e DAGSTER_HOME=/opt/dagster/local: a throwaway SQLite
# instance inside the container (the root dagster.yaml). Other commands (the code server,
# `tfi-data run`, health checks) run as given.
set -eu

needs_instance() {
    case "${1:-}" in
        dagster-webserver | dagster-daemon) return 0 ;;
        dagster)
            case "${2:-}" in
                "" | -h | --help | --version | api | code-server | definitions | project) return 1 ;;
                *) return 0 ;;
            esac
            ;;
    esac
    return 1
}

if needs_instance "$@" && grep -q 'DAGSTER_PG_' "${DAGSTER_HOME:-/opt/dagster/home}/dagster.yaml" 2>/dev/null; then
    missing=""
    for var in DAGSTER_PG_USERNAME DAGSTER_PG_HOST DAGSTER_PG_PORT DAGSTER_PG_DB; do
        eval "value=\${$var:-}"
        [ -n "$value" ] || missing="$missing $var"
    done
    # The password may be empty (trust authentication) but must be set.
    eval "[ -n \"\${DAGSTER_PG_PASSWORD+set}\" ]" || missing="$missing DAGSTER_PG_PASSWORD"
    if [ -n "$missing" ]; then
        echo "tfi-data image: '$*' needs the Dagster instance, stored in PostgreSQL by $DAGSTER_HOME/dagster.yaml, but these are not set:$missing" >&2
        echo "tfi-data image: set them (see .env.example), or add -e DAGSTER_HOME=/opt/dagster/local for a throwaway SQLite instance in the container" >&2
        exit 64
    fi
fi

exec "$@"
