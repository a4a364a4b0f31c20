

def test_a_zero_cache_duration_does_not_hammer_the_idp(make_warden, idp, tmp_path):
    """--jwks-cache-duration 0 used to refetch in a tight loop (~1500 requests/s); refreshes are at least 1 s apart."""
    make_warden(policies(tmp_path / "p", idp), extra_args=["--jwks-cache-duration", "0"])
    idp.reset_counts()
    time.sleep(1.5)
    assert idp.count() <= 2
