#!/usr/bin/env bash
# Ask a question and print the answer, then each citation as path:lines.
# Usage: ask.sh ~/notes "how do I rotate the signing key?"
set -euo pipefail
folder=$1
shift
docsight ask "$folder" "$*" --json |
  jq -r '.answer, (.citations[] | "[\(.n)] \(.path):\(.start_line)-\(.end_line) (\(.by))")'
