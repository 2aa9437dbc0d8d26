#!/usr/bin/env bash
# Loss tests of the durable northbound path, against a real mosquitto
# broker (TLS, client certificates) and a persistent subscriber:
#
#  1. broker outage: the broker is stopped for ZG_OUTAGE_SECONDS (3 in
#     make check; ZG_OUTAGE_SECONDS=30 for the long run the issue names)
#     while the example plugin emits at 20 Hz, then started again;
#  2. crashes: the gateway (supervisor and network process) is killed
#     with SIGKILL several times while it publishes, and restarted on the
#     same spool (supervise.sh kills only the network process).
#
# Each time the gateway is finally stopped, started once more without a
# producer so it sends what is left, and the subscriber must have every
# sequence number from 1 to the last one the spool gave, first arrivals in
# rising order.  Duplicates are allowed (records sent but not yet
# acknowledged when the connection or the process died) and reported.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
. "$top_srcdir/tests/integration/northbound-lib.sh"

OUTAGE=${ZG_OUTAGE_SECONDS:-3}
KILLS=${ZG_KILLS:-4}
t_plan 18
D=$T_TMP
t_ok "test PKI made" nb_pki
nb_broker_conf "$(t_free_port)"
t_ok "broker up (TLS, client certificates required)" nb_broker_start
t_ok "persistent subscriber ready" nb_sub 'zonegate/gw-test/#' "$D/sub"

# 1. broker outage while emitting at 20 Hz
nb_gw_conf "$D/gw.conf" "$D/spool" 0.05
nb_gw_conf "$D/quiet.conf" "$D/spool" 0
t_ok "zonegated emits at 20 Hz into the spool and MQTT" zg_start "$D/gw.conf" "$D/gw.log"
t_ok "messages flow before the outage" t_wait 20 nb_has_at_least "$D/sub" 20
t_ok "broker stopped" nb_broker_stop
t_ok "the gateway notices the uplink is down" t_wait 20 grep -q 'uplink mqtt/main down' "$D/gw.log"
before=$(nb_count "$D/sub")
# The outage itself (the scenario, not a synchronisation): the producer
# keeps emitting into the spool meanwhile.
sleep "$OUTAGE"
t_ok "broker started again after ${OUTAGE}s" nb_broker_start
t_ok "the uplink reconnects" t_wait 30 bash -c "[ \$(grep -c 'connected to 127.0.0.1' '$D/gw.log') -ge 2 ]"
t_ok "the backlog arrives (>= $((before + OUTAGE * 15)) messages)" \
	t_wait 30 nb_has_at_least "$D/sub" $((before + OUTAGE * 15))
t_ok "SIGTERM stops the producer" zg_stop
last=$(nb_next_seq "$D/spool"); last=$((last - 1))
t_ok "restarted without a producer" zg_start "$D/quiet.conf" "$D/quiet.log"
t_ok "the last seq the spool gave ($last) arrives" t_wait 30 nb_has_seq "$D/sub" "$last"
r=$(nb_check "$D/sub" 1 "$last")
t_diag "outage of ${OUTAGE}s at 20 Hz: $r"
t_ok "outage: every seq 1..$last arrived, in order ($r)" grep -q 'missing=0 order=ok' <<<"$r"
zg_stop

# 2. SIGKILL while publishing, several times
first=$((last + 1))
kills=0
for i in $(seq 1 "$KILLS"); do
	zg_start "$D/gw.conf" "$D/kill$i.log" || break
	n=$(nb_count "$D/sub")
	t_wait 20 nb_has_at_least "$D/sub" $((n + 10 + i * 3)) || break
	zg_kill9 && kills=$((kills + 1))
done
t_is "$kills" "$KILLS" "gateway killed with SIGKILL $KILLS times while publishing"
zg_start "$D/gw.conf" "$D/after.log"
t_wait 20 nb_has_at_least "$D/sub" $(($(nb_count "$D/sub") + 10))
zg_stop
last=$(nb_next_seq "$D/spool"); last=$((last - 1))
zg_start "$D/quiet.conf" "$D/quiet2.log"
t_ok "restarted without a producer: seq $last arrives" t_wait 30 nb_has_seq "$D/sub" "$last"
r=$(nb_check "$D/sub" "$first" "$last")
t_ok "SIGKILL: every seq $first..$last arrived, in order ($r)" grep -q 'missing=0 order=ok' <<<"$r"
# Duplicates only for records not acknowledged when the process died: at
# most what each restart found waiting past the acknowledged position.
dups=${r##*dups=}
waiting=$(cat "$D"/kill*.log "$D/after.log" "$D/quiet2.log" |
	grep -o 'registered: acknowledged up to seq [0-9]*, [0-9]* messages waiting' |
	awk '{ s += $(NF-2) } END { print s + 0 }')
t_diag "after $KILLS kills: $dups duplicates; unacknowledged records found at the restarts: $waiting"
t_ok "duplicates ($dups) <= unacknowledged records at the restarts ($waiting)" test "$dups" -le "$waiting"
zg_stop
t_done
