"""The ledger: one DynamoDB adapter and codec for the whole table."""
