#!/usr/bin/env bash
# Rehearsal stand-in for asmcli's gen-eastwest-gateway.sh; a rehearsal never runs it (the step that
# pipes it into istioctl applies sandbox/eastwest-gateway-N.yaml instead).
echo "gen-eastwest-gateway.sh: stand-in only; use the one asmcli downloads into --output_dir" >&2
exit 1
