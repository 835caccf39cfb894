#!/usr/bin/env bash
# Executed arm64 instructions per decoded token of MODEL under qemu-user, at
# each arm64 kernel level: a speed proxy for a Mac's CPU path, which
# cannot be timed here. Usage (from the repository root):
#
#	scripts/arm64insn/count.sh MODEL.gguf
#
# quant bench decodes one token as a warm-up, then -n tokens, on one
# thread; the difference between -n 8 and -n 24, divided by the 16 extra
# tokens (positions 8-23), leaves out loading and start-up. Needs qemu-user
# and a C compiler.
set -euo pipefail
model=${1:?usage: $0 MODEL.gguf}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
dir=$(dirname "$0")
${CC:-cc} -shared -fPIC -O2 -o "$tmp/insncount.so" "$dir/insncount.c"
CGO_ENABLED=0 GOARCH=arm64 go build -o "$tmp/quant" ./cmd/quant

count() { # QEMU_CPU QUANT_CPU tokens
	QUANT_CPU=$2 qemu-aarch64 -cpu "$1" -plugin "$tmp/insncount.so" -d plugin -D "$tmp/log" \
		"$tmp/quant" bench "$model" -p 0 -n "$3" -r 1 -t 1 -o csv >/dev/null 2>"$tmp/err" ||
		{ cat "$tmp/err" >&2; return 1; }
	sed -n 's/^insns: //p' "$tmp/log"
}

printf '%-8s %-10s %s\n' level qemu-cpu insns/token
for c in max:dotprod cortex-a57:neon max:generic; do
	cpu=${c%%:*} level=${c#*:}
	short=$(count "$cpu" "$level" 8)
	long=$(count "$cpu" "$level" 24)
	printf '%-8s %-10s %d\n' "$level" "$cpu" $(((long - short) / 16))
done
