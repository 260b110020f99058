from itertools import islice, pairwise

from shared.backoff import backoff_delays


def test_delays_double_with_jitter_up_to_the_cap() -> None:
    delays = list(islice(backoff_delays(0.1, cap_s=5.0), 12))
    assert delays[0] == 0.1
    for earlier, later in pairwise(delays):
        assert min(5.0, earlier * 2) * 0.8 <= later <= min(5.0, earlier * 2) * 1.2
    assert max(delays) <= 5.0 * 1.2
