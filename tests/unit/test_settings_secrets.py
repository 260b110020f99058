"""Settings are logged and shown in tracebacks; the secrets they hold must not be."""

from shared.settings import ServiceSettings


def test_passwords_stay_out_of_the_settings_repr() -> None:
    settings = ServiceSettings(
        database_url="postgresql://matching:db-hunter2@db.internal/matching",
        kafka_security_protocol="SASL_SSL",
        kafka_sasl_mechanism="SCRAM-SHA-512",
        kafka_sasl_username="matching",
        kafka_sasl_password="kafka-hunter2",
    )
    for shown in (repr(settings), str(settings)):
        assert "db-hunter2" not in shown and "kafka-hunter2" not in shown
    assert settings.database_url.endswith("@db.internal/matching"), "the value itself is intact"
