#!/bin/sh
# One-shot topic creation for docker-compose.yml: every Trailblazer topic with its partition count
# and config. Creates only what is missing and grows partition counts that are below spec, so it
# is safe on every `docker compose up`. Config of a topic that already exists is not changed.
# The table mirrors shared/topics.py and the local firms' and provider's own topics, as
# deploy/local creates them; tests/unit/test_deploy_manifests.py fails when they differ.
set -eu

BOOTSTRAP="${KAFKA_BOOTSTRAP:-kafka:19092}"
REPLICATION="${TOPIC_REPLICATION_FACTOR:-1}"
KAFKA_TOPICS="${KAFKA_TOPICS:-/opt/kafka/bin/kafka-topics.sh}"

# topic  partitions  config (comma-separated key=value, "-" for none)
TOPICS="
trailblazer.assignment.created.v1 6 -
trailblazer.match.proposed.v1 6 -
trailblazer.match.updated.v1 6 -
trailblazer.dead-letter.v1 3 -
trailblazer.care.check-in-due.v1 6 -
trailblazer.firm.nordic-relocation.assignment.requested.v1 3 retention.ms=604800000
trailblazer.firm.nordic-relocation.assignment.cancelled.v1 3 -
trailblazer.firm.nordic-relocation.partner.consent-withdrawn.v1 3 -
trailblazer.firm.nordic-relocation.match.accepted.v1 3 -
trailblazer.firm.nordic-relocation.assignment.rejected.v1 3 -
trailblazer.firm.nordic-relocation.match.acceptance-refused.v1 3 -
trailblazer.firm.nordic-relocation.stakeholder.notified.v1 3 -
trailblazer.firm.nordic-relocation.duty-of-information.v1 3 -
trailblazer.firm.nordic-relocation.care.pulse-given.v1 3 -
trailblazer.firm.nordic-relocation.care.session-held.v1 3 -
trailblazer.firm.nordic-relocation.care.outcome-reported.v1 3 -
trailblazer.firm.nordic-relocation.care.escalation-closed.v1 3 -
trailblazer.firm.nordic-relocation.care.permit-clarified.v1 3 -
trailblazer.firm.nordic-relocation.care.escalation.v1 3 -
trailblazer.firm.nordic-relocation.duty-of-care.v1 3 -
trailblazer.firm.nordic-relocation.care.scorecard.v1 3 cleanup.policy=compact,min.compaction.lag.ms=60000
trailblazer.firm.nordic-relocation.care.refused.v1 3 -
trailblazer.firm.harbour-relocation.assignment.requested.v1 3 retention.ms=604800000
trailblazer.firm.harbour-relocation.assignment.cancelled.v1 3 -
trailblazer.firm.harbour-relocation.partner.consent-withdrawn.v1 3 -
trailblazer.firm.harbour-relocation.match.accepted.v1 3 -
trailblazer.firm.harbour-relocation.assignment.rejected.v1 3 -
trailblazer.firm.harbour-relocation.match.acceptance-refused.v1 3 -
trailblazer.firm.harbour-relocation.stakeholder.notified.v1 3 -
trailblazer.firm.harbour-relocation.duty-of-information.v1 3 -
trailblazer.firm.harbour-relocation.care.pulse-given.v1 3 -
trailblazer.firm.harbour-relocation.care.session-held.v1 3 -
trailblazer.firm.harbour-relocation.care.outcome-reported.v1 3 -
trailblazer.firm.harbour-relocation.care.escalation-closed.v1 3 -
trailblazer.firm.harbour-relocation.care.permit-clarified.v1 3 -
trailblazer.firm.harbour-relocation.care.escalation.v1 3 -
trailblazer.firm.harbour-relocation.duty-of-care.v1 3 -
trailblazer.firm.harbour-relocation.care.scorecard.v1 3 cleanup.policy=compact,min.compaction.lag.ms=60000
trailblazer.firm.harbour-relocation.care.refused.v1 3 -
trailblazer.provider.sample-coaching.catalog.coaches.v1 3 cleanup.policy=compact,min.compaction.lag.ms=60000
trailblazer.provider.sample-coaching.catalog.job-leads.v1 3 cleanup.policy=compact,min.compaction.lag.ms=60000
trailblazer.provider.sample-coaching.catalog.rejected.v1 3 -
"

# Each tool call starts a JVM: list once, then touch only what differs.
existing=$("$KAFKA_TOPICS" --bootstrap-server "$BOOTSTRAP" --list)

echo "$TOPICS" | while read -r name partitions config; do
    [ -n "$name" ] || continue
    if ! echo "$existing" | grep -qx "$name"; then
        set -- --bootstrap-server "$BOOTSTRAP" --create --if-not-exists --topic "$name" \
            --partitions "$partitions" --replication-factor "$REPLICATION"
        if [ "$config" != "-" ]; then
            for pair in $(echo "$config" | tr ',' ' '); do
                set -- "$@" --config "$pair"
            done
        fi
        "$KAFKA_TOPICS" "$@"
        continue
    fi
    current=$("$KAFKA_TOPICS" --bootstrap-server "$BOOTSTRAP" --describe --topic "$name" \
        | sed -n 's/.*PartitionCount: *\([0-9][0-9]*\).*/\1/p' | head -n 1)
    if [ "$current" -lt "$partitions" ]; then
        echo "growing $name from $current to $partitions partitions"
        "$KAFKA_TOPICS" --bootstrap-server "$BOOTSTRAP" --alter --topic "$name" --partitions "$partitions"
    else
        echo "$name exists with $current partitions"
    fi
done
echo "topics ready"
