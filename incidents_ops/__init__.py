"""Operations: the local Kafka runner, topic administration, processes, the local stack,
the sink process, replay and health."""
