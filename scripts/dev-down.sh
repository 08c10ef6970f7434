#!/usr/bin/env bash
# Stops everything scripts/quickstart.sh started (controller, agent, private containerd).
exec "$(dirname "${BASH_SOURCE[0]}")/quickstart.sh" down
