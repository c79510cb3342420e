"""The cost guard: per-app budgets and the auto-stops that enforce them."""
