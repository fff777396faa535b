#!/usr/bin/env bash
# Installs the QstOrleans silo as systemd units on this host (run as root from the repository root):
#   deploy/systemd/install.sh [INSTANCE...]      (default instance: silo0)
# Publishes the silo to /opt/qst/silo, creates the qst user and /var/lib/qst, installs qst-silo@.service and
# qst-redis.service, and writes /etc/qst/silo-INSTANCE.env from silo.env.example when missing (edit it, then
# `systemctl enable --now qst-silo@INSTANCE`). With QST_REDIS=1 also enables qst-redis.service on this host.
set -euo pipefail
cd "$(dirname "$0")/../.."
[ "$(id -u)" -eq 0 ] || { echo "run as root" >&2; exit 1; }
instances=("${@:-silo0}")

id qst >/dev/null 2>&1 || useradd --system --home /var/lib/qst --shell /usr/sbin/nologin qst
install -d -o qst -g qst /var/lib/qst /var/lib/qst/checkpoints /var/lib/qst/redis
install -d /etc/qst /opt/qst
dotnet publish silos/QstOrleans.Silo -c Release -o /opt/qst/silo -v quiet -nologo
install -m 0644 deploy/systemd/qst-silo@.service deploy/systemd/qst-redis.service /etc/systemd/system/
for instance in "${instances[@]}"; do
  env_file=/etc/qst/silo-$instance.env
  [ -f "$env_file" ] || { install -m 0640 -g qst deploy/systemd/silo.env.example "$env_file"; echo "wrote $env_file: edit it"; }
done
if [ "${QST_REDIS:-0}" = 1 ]; then
  [ -f /etc/qst/redis.conf ] || printf 'bind 0.0.0.0\nport 6379\nappendonly yes\ndir /var/lib/qst/redis\nprotected-mode no\n' >/etc/qst/redis.conf
  systemctl daemon-reload
  systemctl enable --now qst-redis.service
fi
systemctl daemon-reload
echo "installed; start with: systemctl enable --now ${instances[*]/#/qst-silo@}"
