#!/usr/bin/env bash
# Executed arm64 instructions per token of MODEL under qemu-user, at each
# arm64 kernel level: a speed proxy for a Mac's CPU path, which cannot be
# timed here. Usage (from the repository root):
#
#	scripts/arm64insn/count.sh MODEL.gguf          # per decoded token
#	scripts/arm64insn/count.sh MODEL.gguf -p N     # per token of an N-token prompt
#
# quant bench runs each test once as a warm-up, then -r times, on one
# thread. Decode: the difference between -n 8 and -n 24, divided by the
# 16 extra tokens (positions 8-23), leaves out loading and start-up.
# Prompt: the difference between -r 1 and -r 2 is one N-token prompt from
# an empty cache (in batches of bench's default size), divided by N.
# LEVELS (default "max:dotprod cortex-a57:neon max:generic") picks the
# qemu CPUs and QUANT_CPU levels. TOP=N adds, under each level's line, the
# N functions that executed the most instructions in its longer run (all
# of it: loading and warm-up too), as shares of that run.
# Needs qemu-user and a C compiler.
set -euo pipefail
model=${1:?usage: $0 MODEL.gguf [-p N]}
prompt=0
if [ $# -ge 3 ] && [ "$2" = -p ]; then
	prompt=$3
elif [ $# -ne 1 ]; then
	echo "usage: $0 MODEL.gguf [-p N]" >&2
	exit 2
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
dir=$(dirname "$0")
${CC:-cc} -shared -fPIC -O2 -o "$tmp/insncount.so" "$dir/insncount.c"
CGO_ENABLED=0 GOARCH=arm64 go build -o "$tmp/quant" ./cmd/quant

count() { # QEMU_CPU QUANT_CPU bench-flags...
	local cpu=$1 level=$2
	shift 2
	QUANT_CPU=$level qemu-aarch64 -cpu "$cpu" -plugin "$tmp/insncount.so${TOP:+,tbs=on}" -d plugin -D "$tmp/log" \
		"$tmp/quant" bench "$model" "$@" -t 1 -o csv >/dev/null 2>"$tmp/err" ||
		{ cat "$tmp/err" >&2; return 1; }
	sed -n 's/^insns: //p' "$tmp/log"
}

if [ "$prompt" -gt 0 ]; then
	unit="insns/prompt-token ($prompt)"
else
	unit=insns/token
fi
printf '%-8s %-10s %s\n' level qemu-cpu "$unit"
for c in ${LEVELS:-max:dotprod cortex-a57:neon max:generic}; do
	cpu=${c%%:*} level=${c#*:}
	if [ "$prompt" -gt 0 ]; then
		short=$(count "$cpu" "$level" -p "$prompt" -n 0 -r 1)
		long=$(count "$cpu" "$level" -p "$prompt" -n 0 -r 2)
		printf '%-8s %-10s %d\n' "$level" "$cpu" $(((long - short) / prompt))
	else
		short=$(count "$cpu" "$level" -p 0 -n 8 -r 1)
		long=$(count "$cpu" "$level" -p 0 -n 24 -r 1)
		printf '%-8s %-10s %d\n' "$level" "$cpu" $(((long - short) / 16))
	fi
	if [ -n "${TOP:-}" ]; then
		go run ./scripts/arm64insn/tbprof -n "$TOP" "$tmp/quant" "$tmp/log"
	fi
done
