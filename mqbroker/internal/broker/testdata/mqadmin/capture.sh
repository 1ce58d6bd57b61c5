#!/bin/sh
# Re-captures the golden files of this directory: runs Apache RocketMQ 4.9.4's
# mqadmin through the wiretap proxy (mqbroker/internal/wiretap) against a
# running Apache RocketMQ 4.9.4 name server + broker, one golden per command.
# Nothing of Apache RocketMQ lives in this repository: point MQADMIN at your
# own installation's bin/mqadmin (Java 17 needs --add-opens, see PROTOCOL.md).
#
# Before running: the Apache broker runs with brokerIP1=127.0.0.1 and
# listenPort=$UP_BR; topic $TOPIC does not exist yet. The script pauses where a
# live producer (group $PGROUP) and push consumer (group $CGROUP) must be
# started (stop the consumer before resetOffsetByTimeOffline), and reads the ids of a sent message from MSG_ID / OFFSET_MSG_ID.
#
#   MQADMIN=/path/to/mqadmin WIRETAP=/path/to/wiretap sh capture.sh [command...]
set -eu
: "${MQADMIN:?path to Apache RocketMQ 4.9.4 bin/mqadmin}"
: "${WIRETAP:?path to the wiretap binary (go build ./mqbroker/internal/wiretap/cmd/wiretap)}"
UP_NS=${UP_NS:-127.0.0.1:19876} UP_BR=${UP_BR:-127.0.0.1:19911}
NS=${NS:-127.0.0.1:29876} BR=${BR:-127.0.0.1:29911}
TOPIC=${TOPIC:-WiretapTopic} PGROUP=${PGROUP:-wiretap_pg} CGROUP=${CGROUP:-wiretap_cg}
DIR=$(cd "$(dirname "$0")" && pwd)

cap() { # cap NAME mqadmin-args...
	name=$1; shift
	"$WIRETAP" -out "$DIR/$name.golden.jsonl" -note "${NOTE:-}" \
		-label "mqadmin $*" \
		-route namesrv=$NS=$UP_NS -route broker=$BR=$UP_BR -- "$MQADMIN" "$@" || true
}

want() { [ $# -eq 0 ] || { for w in $ONLY; do [ "$w" = "$1" ] && return 0; done; return 1; }; }
ONLY=${*:-all}
run() { name=$1; shift; if [ "$ONLY" = all ] || want "$name"; then cap "$name" "$@"; fi; }

run updateTopic updateTopic -n $NS -c DefaultCluster -t $TOPIC -r 8 -w 8 -p 6
run topicRouteMissing topicRoute -n $NS -t NoSuchTopic_typo
run clusterList clusterList -n $NS
run brokerStatus brokerStatus -n $NS -b $BR
run topicList topicList -n $NS
run topicRoute topicRoute -n $NS -t $TOPIC
run topicStatus topicStatus -n $NS -t $TOPIC
run getBrokerConfig getBrokerConfig -n $NS -b $BR
run producerConnection producerConnection -n $NS -g $PGROUP -t $TOPIC
run consumerConnection consumerConnection -n $NS -g $CGROUP
run consumerProgress consumerProgress -n $NS -g $CGROUP
run queryMsgById queryMsgById -n $NS -i "${OFFSET_MSG_ID:-}"
run queryMsgByKey queryMsgByKey -n $NS -t $TOPIC -k key-3
run queryMsgByUniqueKey queryMsgByUniqueKey -n $NS -t $TOPIC -i "${MSG_ID:-}"
run resetOffsetByTime resetOffsetByTime -n $NS -g $CGROUP -t $TOPIC -s now
run resetOffsetByTimeOffline resetOffsetByTime -n $NS -g $CGROUP -t $TOPIC -s 0
run updateSubGroup updateSubGroup -n $NS -c DefaultCluster -g wiretap_sub
run deleteSubGroup deleteSubGroup -n $NS -c DefaultCluster -g wiretap_sub
run deleteTopic deleteTopic -n $NS -c DefaultCluster -t $TOPIC
