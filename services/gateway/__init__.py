"""gateway: the HTTP way in for relocation firms without Kafka. Each request becomes the same event a
firm would publish on its topic, written through the outbox, so both paths behave the same."""
