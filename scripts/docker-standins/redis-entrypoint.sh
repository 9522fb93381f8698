#!/bin/sh
# Entry point of the redis stand-in (services.Dockerfile).
if [ "$1" = redis-server ]; then
    exec "$@" --protected-mode no
fi
exec "$@"
