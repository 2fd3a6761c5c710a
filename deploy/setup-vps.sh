#!/usr/bin/env bash
# Set up kimpbot as a systemd service on a fresh Debian 12 / Ubuntu 24.04 VPS (1 GB RAM is enough).
#
#   git clone <this repository> kimpbot && cd kimpbot
#   sudo bash deploy/setup-vps.sh
#
# Idempotent: run it again after `git pull` to upgrade (the service is restarted if it runs).
# It never overwrites the owner's /etc/kimpbot/kimpbot.env or /opt/kimpbot/strategy.toml,
# never prints a secret, and does not start the bot: run the doctor first (printed at the end).
set -euo pipefail

APP_USER=kimpbot
PREFIX=/opt/kimpbot
VENV="$PREFIX/.venv"
DATA_DIR=/var/lib/kimpbot
CONF_DIR=/etc/kimpbot
ENV_FILE="$CONF_DIR/kimpbot.env"
UNIT_FILE=/etc/systemd/system/kimpbot.service
REPO_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY=/usr/bin/python3   # the distribution's Python, never a user's pyenv/conda one

say() { printf '==> %s\n' "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

[[ ${EUID:-$(id -u)} -eq 0 ]] || die "run as root: sudo bash $0"
[[ -f "$REPO_DIR/pyproject.toml" && -f "$REPO_DIR/deploy/kimpbot.service" ]] \
    || die "run it from a checkout of the kimpbot repository ($REPO_DIR has no pyproject.toml)"
command -v apt-get >/dev/null 2>&1 || die "this script is for Debian/Ubuntu (apt-get not found)"

say "installing system packages (python3, venv, CA certificates, time sync)"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq python3 python3-venv ca-certificates >/dev/null
"$PY" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' \
    || die "kimpbot needs Python 3.11 or newer; this system has $("$PY" -V 2>&1) (use Debian 12 or Ubuntu 24.04)"

# Binance refuses signed requests from a clock more than 1 s ahead: keep it synchronised.
if ! systemctl is-active --quiet chrony 2>/dev/null && ! systemctl is-active --quiet systemd-timesyncd 2>/dev/null; then
    apt-get install -y -qq systemd-timesyncd >/dev/null 2>&1 || say "could not install systemd-timesyncd; keep the clock in sync yourself"
fi
timedatectl set-ntp true >/dev/null 2>&1 || true

say "service user $APP_USER"
if ! id -u "$APP_USER" >/dev/null 2>&1; then
    useradd --system --user-group --home-dir "$DATA_DIR" --no-create-home --shell /usr/sbin/nologin "$APP_USER"
fi

say "directories: $PREFIX (code), $DATA_DIR (data), $CONF_DIR (secrets)"
install -d -o root -g root -m 0755 "$PREFIX"
install -d -o "$APP_USER" -g "$APP_USER" -m 0750 "$DATA_DIR"
install -d -o root -g "$APP_USER" -m 0750 "$CONF_DIR"

say "installing kimpbot into $VENV"
# (re)create the venv when missing or built on another Python (e.g. after a distribution upgrade)
want="$("$PY" -c 'import sys; print(sys.version_info[:2])')"
have="$("$VENV/bin/python" -c 'import sys; print(sys.version_info[:2], sys.base_prefix)' 2>/dev/null || true)"
if [[ "$have" != "$want /usr" ]]; then
    rm -rf "$VENV"
    "$PY" -m venv "$VENV"
fi
"$VENV/bin/pip" install --quiet --disable-pip-version-check --upgrade pip
# build from a clean copy: nothing of the checkout's own state (.env, data/, .venv) goes in
BUILD_DIR="$(mktemp -d)"
trap 'rm -rf "$BUILD_DIR"' EXIT
cp -r "$REPO_DIR/pyproject.toml" "$REPO_DIR/README.md" "$REPO_DIR/kimpbot" "$BUILD_DIR/"
# the exact, hashed dependency set first (deploy/requirements.lock), then kimpbot itself without deps
"$VENV/bin/pip" install --quiet --disable-pip-version-check --require-hashes -r "$REPO_DIR/deploy/requirements.lock"
"$VENV/bin/pip" install --quiet --disable-pip-version-check --no-deps --upgrade "$BUILD_DIR"
ln -sf "$VENV/bin/kimpbot" /usr/local/bin/kimpbot

if [[ ! -f "$PREFIX/strategy.toml" ]]; then
    say "strategy file $PREFIX/strategy.toml (from the repository's defaults; edit it, it is yours)"
    install -o root -g "$APP_USER" -m 0640 "$REPO_DIR/strategy.toml" "$PREFIX/strategy.toml"
else
    say "keeping your $PREFIX/strategy.toml"
fi

if [[ ! -f "$ENV_FILE" ]]; then
    say "settings file $ENV_FILE (from .env.example, no secrets yet)"
    tmp="$(mktemp "$CONF_DIR/.kimpbot.env.XXXXXX")"
    sed -e "s|^KIMPBOT_DATA_DIR=[^#]*|KIMPBOT_DATA_DIR=$DATA_DIR   |" \
        -e "s|^KIMPBOT_STRATEGY_FILE=.*|KIMPBOT_STRATEGY_FILE=$PREFIX/strategy.toml|" \
        "$REPO_DIR/.env.example" > "$tmp"
    chown root:"$APP_USER" "$tmp"
    chmod 0640 "$tmp"
    mv "$tmp" "$ENV_FILE"
else
    say "keeping your $ENV_FILE"
    chown root:"$APP_USER" "$ENV_FILE"
    chmod 0640 "$ENV_FILE"
fi

say "systemd unit $UNIT_FILE"
install -o root -g root -m 0644 "$REPO_DIR/deploy/kimpbot.service" "$UNIT_FILE"
systemctl daemon-reload
systemctl enable kimpbot.service >/dev/null 2>&1
if systemctl is-active --quiet kimpbot.service; then
    say "restarting the running service on the new version"
    systemctl restart kimpbot.service
fi

cat <<EOF

kimpbot is installed (not started). Next:
  1. sudoedit $ENV_FILE                 # keys, tokens, KIMPBOT_MODE (paper until you are sure)
  2. sudo -u $APP_USER kimpbot --env-file $ENV_FILE doctor
  3. sudo systemctl start kimpbot       # it starts on boot from now on
  4. journalctl -u kimpbot -f           # logs;  curl -s 127.0.0.1:8787/health  # health
EOF
