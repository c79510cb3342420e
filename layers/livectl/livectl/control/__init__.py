"""Message-triggered control: the command's life after validation (batch, outcomes, redelivery)."""
