#!/usr/bin/env bash
# STYLE.md rule 8, enforced: no product source file over 800 lines, no function over 120 lines.
# The aim (400-line files, 60-line functions) is printed as a count, for information only.
#
#   bash ci/check-size.sh        exit 0: within the limits; 1: a violation (each one printed)
#
# Scope: *.cc and *.h under the product's modules (common, transport, snapshot, verify, engine,
# recursively, whichever of them exist); tests/ and bench/ are not product sources. Functions
# are found by Universal Ctags (package universal-ctags): each definition's line: and end:
# fields give its first and last line.
#
# Exemption, per function only: a comment `// size: table` on the function's first line or on
# the line before it (a decoder's switch that reads as a table). Exemptions are listed.
set -euo pipefail
cd "$(dirname "$0")/.."

file_limit=800
func_limit=120
file_aim=400
func_aim=60

if ! ctags --version 2>/dev/null | grep -q 'Universal Ctags'; then
  echo "check-size: needs Universal Ctags (apt-get install universal-ctags)" >&2
  exit 2
fi

dirs=()
for d in common transport snapshot verify engine; do
  [ -d "$d" ] && dirs+=("$d")
done
if [ ${#dirs[@]} -eq 0 ]; then
  echo "check-size: none of common/ transport/ snapshot/ verify/ engine/ found" >&2
  exit 2
fi
mapfile -t files < <(find "${dirs[@]}" -type f \( -name '*.cc' -o -name '*.h' \) | sort)

violations=0
files_over_aim=0
for f in "${files[@]}"; do
  n=$(wc -l <"$f")
  if [ "$n" -gt "$file_limit" ]; then
    echo "$f: $n lines (limit $file_limit)"
    violations=$((violations + 1))
  fi
  [ "$n" -le "$file_aim" ] || files_over_aim=$((files_over_aim + 1))
done

# One line per function definition: path, first line, last line, name. --excmd=number keeps
# source text (which may hold tabs) out of the output; --language-force: .h files are C++ here.
tags=$(printf '%s\n' "${files[@]}" |
  ctags --fields=+ne --c++-kinds=f --excmd=number --language-force=C++ -L - -o - |
  awk -F'\t' '{
    line = ""; end = ""
    for (i = 4; i <= NF; i++) {
      if ($i ~ /^line:/) line = substr($i, 6)
      if ($i ~ /^end:/) end = substr($i, 5)
    }
    print $2 "\t" line "\t" end "\t" $1
  }' | sort -t$'\t' -k1,1 -k2,2n)

funcs_over_aim=0
exempt=0
unmeasured=0
while IFS=$'\t' read -r path first last name; do
  [ -n "$path" ] || continue
  if [ -z "$first" ] || [ -z "$last" ]; then
    unmeasured=$((unmeasured + 1))
    continue
  fi
  len=$((last - first + 1))
  [ "$len" -le "$func_aim" ] || funcs_over_aim=$((funcs_over_aim + 1))
  [ "$len" -gt "$func_limit" ] || continue
  before=$((first > 1 ? first - 1 : first))
  if sed -n "${before}p;${first}p" "$path" | grep -q '// size: table'; then
    echo "$path:$first: function $name is $len lines (exempt: // size: table)"
    exempt=$((exempt + 1))
  else
    echo "$path:$first: function $name is $len lines (limit $func_limit)"
    violations=$((violations + 1))
  fi
done <<<"$tags"

nfuncs=$(printf '%s' "$tags" | grep -c . || true)
echo "check-size: ${#files[@]} files, $nfuncs functions in ${dirs[*]}"
echo "check-size: aim (information): $files_over_aim files over $file_aim lines," \
  "$funcs_over_aim functions over $func_aim lines"
[ "$exempt" -eq 0 ] || echo "check-size: $exempt functions exempt by // size: table"
[ "$unmeasured" -eq 0 ] || echo "check-size: $unmeasured functions without an end line (not measured)"
if [ "$violations" -gt 0 ]; then
  echo "check-size: $violations over the limits ($file_limit-line files, $func_limit-line functions)"
  exit 1
fi
echo "check-size: within the limits"
