"""The fault-injection suite (issue 14): inputs and conditions that used to lose or corrupt
data silently, one module per scenario."""
