#!/usr/bin/env bash
# Adds a user to a silo tokens file (Qst:Auth:TokensFile) and prints the user's new token on stdout, once.
#
#   deploy/add-user.sh TOKENS_FILE NAME [user|admin]
#
# The file gets one line "NAME ROLE SHA256(token)": the token itself is never written anywhere. Give it to the user
# (QST_TOKEN=... qst jobs ...). Silos re-read the file when it changes: to revoke a user, delete their line.
# The file is created with mode 0600. A name already in the file is refused (delete its line first to issue a new token).
set -euo pipefail

if [ $# -lt 2 ] || [ $# -gt 3 ]; then
  echo "usage: $0 TOKENS_FILE NAME [user|admin]" >&2
  exit 2
fi
file=$1 name=$2 role=${3:-user}
if ! [[ $name =~ ^[A-Za-z0-9._@-]{1,64}$ ]]; then
  echo "error: NAME must be 1-64 of A-Z a-z 0-9 . _ @ -" >&2
  exit 2
fi
if [ "$role" != user ] && [ "$role" != admin ]; then
  echo "error: the role must be user or admin, got '$role'" >&2
  exit 2
fi
if [ -f "$file" ] && awk -v n="$name" '$1 == n { found = 1 } END { exit !found }' "$file"; then
  echo "error: user '$name' is already in $file (delete its line to issue a new token)" >&2
  exit 2
fi
token=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
hash=$(printf '%s' "$token" | sha256sum | cut -d' ' -f1)
umask 077
[ -f "$file" ] || printf '# name role sha256(token) -- written by deploy/add-user.sh\n' > "$file"
printf '%s %s %s\n' "$name" "$role" "$hash" >> "$file"
echo "$token"
