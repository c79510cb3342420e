"""One-time auto-stop schedules on EventBridge Scheduler and the schedule manager's requests."""
