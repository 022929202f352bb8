import time
from engine.sending import send_due
from tests.faults.conftest import bulk_approved, states

def test_speed(app, smtp_sink):
    app.config.update(SEND_BATCH_SIZE=50)
    bulk_approved(500)
    t = time.monotonic()
    import cProfile, pstats
    pr = cProfile.Profile(); pr.enable()
    s = send_due()
    pr.disable()
    print(s, time.monotonic() - t)
    pstats.Stats(pr).sort_stats("cumulative").print_stats(25)
