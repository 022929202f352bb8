// An outbox message's page: when the hold (or send) countdown ends, show what the
// server says now.
document.addEventListener("hold-ended", function () { setTimeout(function () { location.reload(); }, 1500); });
