#!/usr/bin/env bash
# The floor: a swarm stood up by hand with the docker CLI, the way a plain
# shell script does it. One node per line on stdin, managers first:
#   <manager|worker> <node name> <docker host> <address> [key=value,key=value]
# The first manager initializes, every other node joins it one after the
# other, then the first manager sets each node's labels.
set -euo pipefail

first_host=""
first_addr=""
manager_token=""
worker_token=""
declare -a label_args=()

while read -r role name host addr labels; do
  [ -n "$role" ] || continue
  if [ -z "$first_host" ]; then
    docker -H "$host" swarm init --advertise-addr "$addr" >/dev/null
    first_host=$host
    first_addr=$addr
    manager_token=$(docker -H "$host" swarm join-token -q manager)
    worker_token=$(docker -H "$host" swarm join-token -q worker)
  else
    token=$worker_token
    [ "$role" = manager ] && token=$manager_token
    docker -H "$host" swarm join --token "$token" --advertise-addr "$addr" "$first_addr:2377" >/dev/null
  fi
  if [ -n "${labels:-}" ]; then
    label_args+=("$name" "$labels")
  fi
done

for ((i = 0; i < ${#label_args[@]}; i += 2)); do
  args=()
  IFS=, read -r -a pairs <<<"${label_args[i + 1]}"
  for pair in "${pairs[@]}"; do
    args+=(--label-add "$pair")
  done
  docker -H "$first_host" node update "${args[@]}" "${label_args[i]}" >/dev/null
done
