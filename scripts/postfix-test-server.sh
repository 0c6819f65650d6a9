#!/usr/bin/env bash
# Runs Debian's Postfix as a loopback-only SMTP server for the tests: it listens on 127.0.0.1:${LATCHKEY_TEST_POSTFIX_PORT:-2525}
# and delivers mail for any address @localhost to the mailbox /var/mail/latchkeymail (mbox). Mail for @nobody.localhost goes
# to a local delivery agent without that catch-all, so it bounces (no such user); its delivery status notification goes back
# to the envelope sender, and mail for @bounces.localhost (Latchkey's return paths) is relayed to Latchkey's bounce listener
# on 127.0.0.1:${LATCHKEY_TEST_BOUNCE_PORT:-2526}. Needs root; idempotent.
set -euo pipefail
# Postfix and useradd live in sbin, which a non-login shell may not have on its PATH.
export PATH="$PATH:/usr/sbin:/sbin"
port="${LATCHKEY_TEST_POSTFIX_PORT:-2525}"
bounce_port="${LATCHKEY_TEST_BOUNCE_PORT:-2526}"
if ! command -v postfix >/dev/null 2>&1; then
  echo "postfix-test-server: Postfix is not installed (apt-get install postfix, as .ci/run does)" >&2
  exit 1
fi
id latchkeymail >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin latchkeymail
postconf -e \
  "myhostname = localhost" \
  "mydestination = localhost" \
  "inet_interfaces = loopback-only" \
  "inet_protocols = ipv4" \
  "mynetworks = 127.0.0.0/8" \
  "relayhost =" \
  "alias_maps =" \
  "alias_database =" \
  "local_recipient_maps =" \
  "luser_relay = latchkeymail" \
  "mail_spool_directory = /var/mail" \
  "smtputf8_enable = no" \
  "maillog_file = /var/log/postfix-latchkey.log" \
  "transport_maps = texthash:/etc/postfix/latchkey_transport"
printf 'nobody.localhost latchkeystrict:\nbounces.localhost smtp:[127.0.0.1]:%s\n' "$bounce_port" >/etc/postfix/latchkey_transport
# The local delivery agent without luser_relay: an unknown user is a hard bounce (5.1.1), as on a real mail host.
postconf -M "latchkeystrict/unix=latchkeystrict unix - n n - - local"
postconf -P "latchkeystrict/unix/luser_relay="
# The test listener, without chroot so it runs the same in a container as on a host.
postconf -M "127.0.0.1:${port}/inet=127.0.0.1:${port} inet n - n - - smtpd"
postconf -P "127.0.0.1:${port}/inet/smtpd_tls_security_level=none"
newaliases 2>/dev/null || true
postfix check
if postfix status >/dev/null 2>&1; then postfix reload >/dev/null 2>&1; else postfix start >/dev/null 2>&1; fi
for _ in $(seq 1 50); do
  if (exec 3<>"/dev/tcp/127.0.0.1/${port}") 2>/dev/null; then exit 0; fi
  sleep 0.2
done
echo "postfix-test-server: Postfix did not start listening on 127.0.0.1:${port}" >&2
exit 1
