"""The program under Pulumi mocks, and a typed model of the resource graph it writes."""
