"""The two providers: catalogue, signing, clients, credentials, rate limit, retry, operations."""
