"""Engine tests ring a RecordingDoorbell (tests/doorbell.py), never a real queue:
what the engine asks workers for is asserted through the `doorbell` fixture, and
a test that needs the work done calls the engine function the job would."""
import pytest


@pytest.fixture(autouse=True)
def _recording_doorbell(request):
    if "app" in request.fixturenames:  # a test without the app has no doorbell to ring
        request.getfixturevalue("doorbell")
